# Entry points. `make demo` and `make test` do all set-up on a fresh Debian 12 machine.
.PHONY: all deps build test demo bench mutate install package wheel format format-check clean

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

# Mutation testing of core/src/supervision/ (scripts/mutate.py; CONTRIBUTING.md): its own build
# in build-mutate/, not part of `make test`. Exits non-zero when a mutant survives.
mutate: deps
	python3 scripts/mutate.py

# Only what is installed is built, with only the build dependencies (no test tools), and
# installed stripped (the build tree in build-release/ keeps the debug information).
install:
	./scripts/install-deps.sh build
	cmake --preset release
	cmake --build --preset release
	cmake --install build-release --prefix $(PREFIX) --strip

# The Debian packages in dist/: plughost, plughost-dev and their -dbgsym (docs/deployment.md).
package:
	./scripts/install-deps.sh build
	cmake --preset release
	cmake --build --preset release
	cd build-release && cpack -G DEB -B $(CURDIR)/dist
	./scripts/fix-dbgsym.sh dist
	rm -rf dist/_CPack_Packages

# The Python wheel (plughost + its modules and libraries + the plughost_lmcache drop-in) in dist/.
wheel: build
	./scripts/build-wheel.sh $(BUILD_DIR) dist

format:
	./scripts/format.sh

format-check:
	./scripts/format.sh --check

clean:
	rm -rf $(BUILD_DIR) build-release build-mutate dist
