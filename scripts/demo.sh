#!/usr/bin/env bash
# Runs the launcher on plugins-examples/ for a few seconds as the SCHEDULER of a one-worker
# deployment, then stops it as Ctrl-C would. Press Ctrl-C yourself to stop earlier.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${DEMO_SECONDS:-6}"

echo "== plughost list: what would run, and why"
./build/plughost list --config plugins-examples/lmcache.yaml --role SCHEDULER
echo
echo "== plughost run for ${seconds} s (then SIGINT)"
./build/plughost run --config plugins-examples/lmcache.yaml --role SCHEDULER &
pid=$!
trap 'kill -INT "$pid" 2>/dev/null || true' INT TERM
# Wake every 100 ms so that an early Ctrl-C ends the wait at once.
for _ in $(seq 1 $((seconds * 10))); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
kill -INT "$pid" 2>/dev/null || true
status=0
wait "$pid" || status=$?
echo
echo "== plughost exited with code ${status}"
exit "$status"
