#!/bin/bash
# A plugin for every role and worker: says hello, then beats once a second until stopped.
# The trap comes first: the host may stop it as soon as it has read the hello.
trap 'echo "stopping"; exit 0' TERM
echo "hello from $LMCACHE_RUNTIME_PLUGIN_NAME (role ${LMCACHE_RUNTIME_PLUGIN_ROLE:-none})"
while :; do
  sleep 1 &
  wait $!
  echo beat
done
