#!/usr/bin/env bash
# Runs the launcher on plugins-examples/ as the SCHEDULER of a one-worker deployment for a few
# seconds (DEMO_SECONDS, default 6), then stops it as Ctrl-C would. Ctrl-C stops it earlier.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${DEMO_SECONDS:-6}"

echo "== plughost list: what would run here, and why"
./build/plughost list --config plugins-examples/lmcache.yaml --role SCHEDULER
echo
echo "== plughost run for ${seconds} s, then SIGINT (Ctrl-C stops it earlier)"
status=0
# --foreground: the terminal's Ctrl-C reaches plughost directly, and only plughost is signalled
# when the time is up; plughost itself stops every plugin's process group.
timeout --foreground -s INT "${seconds}" ./build/plughost run \
  --config plugins-examples/lmcache.yaml --role SCHEDULER || status=$?
echo
if [ "$status" -eq 124 ]; then status=0; fi  # timeout's own code: the demo ended on schedule
echo "== plughost exited with code ${status}"
exit "$status"
