#!/bin/bash
# Example runtime plugin that runs only on worker 0 of the WORKER role: the name has three parts
# and the second is a number. (worker_0.sh, with two parts, would run on every worker.)
echo "worker_0_test: I am worker ${LMCACHE_RUNTIME_PLUGIN_WORKER_ID} of ${LMCACHE_RUNTIME_PLUGIN_WORKER_COUNT}"
exec sleep infinity
