#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (tests/fuzz/CMakeLists.txt) and runs each one for a
# while on its seed corpus; docs/fuzzing.md. The test suite runs it briefly (fuzz.* tests); for
# longer runs: tests/fuzz/run.sh --time 600 config_yaml
#
#   run.sh [--build-dir DIR] [--time SECONDS] [--corpus-dir DIR] [--build-only | --no-build]
#          [TARGET...] [-- LIBFUZZER-FLAGS...]
#
# New inputs go to a temporary folder (or --corpus-dir DIR/<target>), never into the committed
# corpus; a crashing input is written to <build dir>/artifacts/. Exits 77 (a skipped test) when
# clang or libFuzzer is missing: scripts/install-deps.sh test installs them.
set -euo pipefail

source_dir=$(cd "$(dirname "$0")/../.." && pwd)
build_dir=$source_dir/build-fuzz
seconds=60
corpus_dir=
build=yes
run=yes
targets=()
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build_dir=$2; shift 2 ;;
    --time) seconds=$2; shift 2 ;;
    --corpus-dir) corpus_dir=$2; shift 2 ;;
    --build-only) run=no; shift ;;
    --no-build) build=no; shift ;;
    --) shift; extra=("$@"); break ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if [ ${#targets[@]} -eq 0 ]; then
  read -r -a targets < <(sed -n 's/^set(PLUGHOST_FUZZ_TARGETS \(.*\))$/\1/p' \
    "$source_dir/tests/fuzz/targets.cmake")
fi

# Debian's clang-14 only recommends libFuzzer's runtime (libclang-rt-14-dev).
if ! command -v clang++ > /dev/null 2>&1 ||
  [ ! -f "$(clang++ -print-file-name=libclang_rt.fuzzer-x86_64.a)" ]; then
  echo "run.sh: clang++ with libFuzzer is not installed (scripts/install-deps.sh test); skipped"
  exit 77
fi

if [ $build = yes ]; then
  if [ ! -f "$build_dir/CMakeCache.txt" ]; then
    cmake -S "$source_dir" -B "$build_dir" -DPLUGHOST_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPLUGHOST_WERROR=ON > /dev/null
  fi
  cmake --build "$build_dir" -j 2
fi
[ $run = yes ] || exit 0

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$build_dir/artifacts"
failed=0
for target in "${targets[@]}"; do
  fuzzer=$build_dir/tests/fuzz/${target}_fuzzer
  seeds=$source_dir/tests/fuzz/corpus/$target
  if [ ! -x "$fuzzer" ] || [ ! -d "$seeds" ]; then
    echo "run.sh: no fuzz target '$target' (built: $fuzzer, seeds: $seeds)" >&2
    exit 2
  fi
  corpus=${corpus_dir:+$corpus_dir/$target}
  corpus=${corpus:-$work/$target}
  mkdir -p "$corpus"
  flags=(-max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
    -artifact_prefix="$build_dir/artifacts/$target-")
  dict=$source_dir/tests/fuzz/dict/$target.dict
  [ -f "$dict" ] && flags+=(-dict="$dict")
  log=$work/$target.log
  # The first folder receives new inputs; the committed seeds are only read.
  if "$fuzzer" "${flags[@]}" "${extra[@]}" "$corpus" "$seeds" > "$log" 2>&1; then
    # "#123 DONE cov: 1 ft: 2 corp: 3/4b lim: 5 exec/s: 6 rss: 7Mb", then stat:: lines
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)
    echo "$target: ${done_line:-finished} (${seconds} s)"
  else
    failed=1
    echo "$target: FAILED; the end of its log:"
    tail -n 60 "$log"
    grep -h 'Test unit written to' "$log" |
      sed "s|.*Test unit written to \(.*\)|reproduce: $fuzzer \1|" || true
  fi
done
exit $failed
