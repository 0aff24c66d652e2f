// Node.js plugins end to end, through the node runner module (plughost-runner-node.so).
#include "integration.hpp"

namespace plughost::test {
namespace {

using node_runner = plughost_run;

TEST_F(node_runner, js_mjs_and_cjs_plugins_run_with_node) {
  plugin("all_heartbeat.js",
         "console.log(`role=${process.env.LMCACHE_RUNTIME_PLUGIN_ROLE} "
         "id=${process.env.LMCACHE_RUNTIME_PLUGIN_WORKER_ID}`);\n"
         "console.error('node stderr');\n");
  plugin("module.mjs",
         "import { argv } from 'node:process';\nconsole.log('esm ' + argv.length);\n");
  plugin("common.cjs", "const os = require('os');\nconsole.log('cjs ' + typeof os.hostname());\n");
  const auto r = run({"run", "--role", "WORKER", "--worker-id", "2", "--worker-count", "4"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lines_of("all_heartbeat.js", "stdout"), std::vector<std::string>{"role=WORKER id=2"});
  EXPECT_EQ(lines_of("all_heartbeat.js", "stderr"), std::vector<std::string>{"node stderr"});
  EXPECT_EQ(lines_of("module.mjs", "stdout"), std::vector<std::string>{"esm 2"});
  EXPECT_EQ(lines_of("common.cjs", "stdout"), std::vector<std::string>{"cjs string"});
  const auto started = records_of("all_heartbeat.js").front();
  EXPECT_EQ(fs::path(started["argv"][0].get<std::string>()).filename(), "node");
}

TEST_F(node_runner, args_from_the_configuration_come_before_the_plugin) {
  plugin("flags.js", "console.log(process.execArgv.join(' '));\n");
  const auto config = dir.write("c.yaml",
                                "runtime_plugin_locations: [plugins]\n"
                                "plughost: {runners: {node: {args: [--enable-source-maps]}}}\n");
  ASSERT_EQ(run({"run", "--config", config.string(), "--sink", "jsonl:" + records_file.string()})
                .exit_code,
            0);
  EXPECT_EQ(lines_of("flags.js", "stdout"), std::vector<std::string>{"--enable-source-maps"});
}

}  // namespace
}  // namespace plughost::test
