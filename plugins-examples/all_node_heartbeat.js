#!/usr/bin/env node
// Example Node.js plugin for every role (run by the node runner module, plughost-runner-node.so).
// Sends a heartbeat line every second and stops cleanly on SIGTERM.
const role = process.env.LMCACHE_RUNTIME_PLUGIN_ROLE || "(none)";
const config = JSON.parse(process.env.LMCACHE_RUNTIME_PLUGIN_CONFIG || "{}");
const endpoint = (config.extra_config || {}).metrics_endpoint || "(no endpoint)";

console.log(`node heartbeat for role ${role}, reporting to ${endpoint}`);
let beats = 0;
const timer = setInterval(() => console.log(`node heartbeat ${++beats}`), 1000);
process.on("SIGTERM", () => {
  clearInterval(timer);
  console.error(`node heartbeat stopping after ${beats} beats`);
});
