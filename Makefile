# Entry points. `make demo` and `make test` do all set-up on a fresh Debian 12 machine.
.PHONY: all deps build test demo bench install wheel format format-check clean

BUILD_DIR := build
PREFIX ?= /usr/local

all: build

deps:
	./scripts/install-deps.sh

build: deps
	cmake --preset default
	cmake --build --preset default

test: build
	./scripts/install-deps.sh test
	ctest --preset default

demo: build
	./scripts/demo.sh

bench: build
	./scripts/install-deps.sh bench
	cmake --preset default
	cmake --build --preset default
	python3 bench/run_bench.py --build $(BUILD_DIR)

install: build
	cmake --install $(BUILD_DIR) --prefix $(PREFIX)

# The Python wheel (plughost + its modules and libraries + the plughost_lmcache drop-in) in dist/.
wheel: build
	./scripts/build-wheel.sh $(BUILD_DIR) dist

format:
	./scripts/format.sh

format-check:
	./scripts/format.sh --check

clean:
	rm -rf $(BUILD_DIR)
