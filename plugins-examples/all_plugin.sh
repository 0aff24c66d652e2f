#!/bin/bash
# Example runtime plugin for every role and worker ("all_" prefix).
# Reports a metric line every second until plughost stops it. Bash runs the trap after the
# current `sleep` ends, so the sleep is started in the background and waited for: SIGTERM then
# interrupts `wait` at once.
set -u
stopping=0
trap 'stopping=1' TERM

echo "all_plugin: role='${LMCACHE_RUNTIME_PLUGIN_ROLE}' worker ${LMCACHE_RUNTIME_PLUGIN_WORKER_ID}/${LMCACHE_RUNTIME_PLUGIN_WORKER_COUNT}"
n=0
while [ "$stopping" -eq 0 ]; do
  n=$((n + 1))
  echo "metric plugin_loop_count=${n}"
  sleep 1 &
  wait $! || true
done
echo "all_plugin: stopped after ${n} loops" >&2
