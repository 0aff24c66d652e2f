#!/usr/bin/env bash
# Installs the Debian 12 packages plughost builds and tests with; apt-gets only what is missing.
set -euo pipefail

packages=(
  build-essential cmake make pkg-config
  libboost1.81-dev libboost-filesystem1.81-dev
  libyaml-cpp-dev libtomlplusplus-dev nlohmann-json3-dev
  libspdlog-dev libfmt-dev libcli11-dev libssl-dev
  libgtest-dev libgmock-dev
  python3 bash procps clang-format
  perl rsyslog  # the perl runner's tests; the syslog sink's tests run a real rsyslogd
  prometheus  # promtool checks the /metrics text
  rsyslog-gnutls openssl  # the syslog sink's TLS test: rsyslogd's TLS driver, a certificate made by the test
  patchelf python3-build python3-setuptools python3-wheel python3-venv  # the wheel (make wheel) and its test
)
# The node runner's tests need Node.js: Debian's, unless the machine has a node already.
if ! command -v node > /dev/null 2>&1; then packages+=(nodejs); fi
# Extra groups callers may ask for: "test" adds what `make test` needs beyond the build (the
# fuzz targets' clang and libFuzzer, which clang-14 only recommends), "bench" what `make bench`
# needs.
for group in "$@"; do
  case "$group" in
    test) packages+=(clang libclang-rt-14-dev) ;;
    bench) packages+=(libbenchmark-dev gnuplot-nox) ;;
    *) echo "install-deps.sh: unknown group '$group' (expected: test, bench)" >&2; exit 2 ;;
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
