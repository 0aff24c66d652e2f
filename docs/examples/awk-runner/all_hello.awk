# An awk plugin: prints who it runs as, then ends (a one-shot plugin).
BEGIN {
  printf "hello from awk: role=%s worker %s of %s\n", ENVIRON["LMCACHE_RUNTIME_PLUGIN_ROLE"],
         ENVIRON["LMCACHE_RUNTIME_PLUGIN_WORKER_ID"], ENVIRON["LMCACHE_RUNTIME_PLUGIN_WORKER_COUNT"]
}
