#!/usr/bin/env bash
# Installs the Debian 12 packages plughost builds and tests with; apt-gets only what is missing.
set -euo pipefail

# What building and installing need (make install, make package): compiler, CMake, the
# libraries, help2man for the man page, dpkg-dev for the package's dependencies.
build_packages=(
  build-essential cmake make pkg-config
  libboost1.81-dev
  libyaml-cpp-dev libtomlplusplus-dev nlohmann-json3-dev
  libspdlog-dev libfmt-dev libcli11-dev libssl-dev
  help2man dpkg-dev file
)
# What the tests need besides (make test, make demo, and this script without arguments).
test_packages=(
  libgtest-dev libgmock-dev
  python3 bash procps clang-format
  tzdata  # schedules in time zones: the zone files, and glibc reading them in the tests
  perl rsyslog  # the perl runner's tests; the syslog sink's tests run a real rsyslogd
  prometheus  # promtool checks the /metrics text
  rsyslog-gnutls openssl  # the syslog sink's TLS test: rsyslogd's TLS driver, a certificate made by the test
  patchelf python3-build python3-setuptools python3-wheel python3-venv  # the wheel (make wheel) and its test
  debootstrap  # the wheel's and the tarball's test on Debian 11 (scripts/older-root.sh)
  zsh  # the zsh completion's syntax check
  lintian  # the Debian package's check
  python3-pytest  # LMCache's own launcher test files, run under the Python drop-in
  python3-yaml logrotate  # the deployment files' checks (Kubernetes manifests, logrotate snippet);
  # python3-yaml also: YAML configurations read as LMCache's PyYAML reads them (lmcache_yaml tests)
)
# Groups: "build" alone installs only build_packages; no group, "test" or "bench" install the
# test tools too; "test" adds the fuzz targets' clang and libFuzzer (which clang-14 only
# recommends), "bench" what `make bench` needs.
packages=("${build_packages[@]}")
if [ "${1:-}" != build ]; then
  packages+=("${test_packages[@]}")
  # The node runner's tests need Node.js: Debian's, unless the machine has a node already.
  if ! command -v node > /dev/null 2>&1; then packages+=(nodejs); fi
fi
for group in "$@"; do
  case "$group" in
    build) ;;
    test) packages+=(clang libclang-rt-14-dev) ;;
    bench) packages+=(libbenchmark-dev gnuplot-nox) ;;
    *) echo "install-deps.sh: unknown group '$group' (expected: build, test, bench)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps.sh: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
