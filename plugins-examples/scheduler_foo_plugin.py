#!/usr/bin/env python3
"""Example runtime plugin for the SCHEDULER role (the name's first part selects the role).

It shows what every plugin receives from plughost (and from LMCache's own launcher):
  LMCACHE_RUNTIME_PLUGIN_ROLE          this process's role ("" when there is none)
  LMCACHE_RUNTIME_PLUGIN_WORKER_ID     this worker's id
  LMCACHE_RUNTIME_PLUGIN_WORKER_COUNT  the number of workers
  LMCACHE_RUNTIME_PLUGIN_CONFIG        the whole configuration as JSON (extra_config included)
  LMCACHE_RUNTIME_PLUGIN_NAME          this plugin's name (plughost only)
and how to stop cleanly: plughost sends SIGTERM, then SIGKILL after the stop timeout.
"""
import json
import os
import signal
import sys
import time

running = True


def on_sigterm(signum, frame):
    global running
    running = False


signal.signal(signal.SIGTERM, on_sigterm)

role = os.environ.get("LMCACHE_RUNTIME_PLUGIN_ROLE", "")
worker_id = int(os.environ.get("LMCACHE_RUNTIME_PLUGIN_WORKER_ID", "0"))
worker_count = int(os.environ.get("LMCACHE_RUNTIME_PLUGIN_WORKER_COUNT", "1"))
config = json.loads(os.environ.get("LMCACHE_RUNTIME_PLUGIN_CONFIG", "{}"))
extra = config.get("extra_config") or {}
interval = float(extra.get("report_interval_seconds", 1.0))

print(f"scheduler plugin up: role={role!r} worker {worker_id} of {worker_count}")
print(f"extra_config: {json.dumps(extra, sort_keys=True)}")

beat = 0
while running:
    beat += 1
    print(f"heartbeat {beat}")
    time.sleep(interval)

print("SIGTERM received: flushing and exiting", file=sys.stderr)
sys.exit(0)
