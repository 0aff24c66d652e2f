// Per-plugin sink routing: plughost.plugins.<name>.sinks picks the sinks of one plugin.
#include <set>

#include "integration.hpp"

namespace plughost::test {
namespace {

using sink_routing = plughost_run;

TEST_F(sink_routing, a_plugin_routed_to_one_sink_reaches_only_that_one) {
  plugin("scheduler_foo_plugin.py", "print('to the quiet file only')\n");
  plugin("all_plugin.sh", "echo everywhere\n");
  const auto quiet = dir.path() / "quiet.jsonl";
  const auto loud = dir.path() / "loud.jsonl";
  const auto config = dir.write("lmcache.yaml",
                                "runtime_plugin_locations: [plugins]\n"
                                "plughost:\n"
                                "  sinks:\n"
                                "    - {type: jsonl, name: quiet, path: quiet.jsonl}\n"
                                "    - {type: jsonl, name: loud, path: loud.jsonl}\n"
                                "  plugins:\n"
                                "    scheduler_foo_plugin.py: {sinks: [quiet]}\n");
  const auto r = run({"run", "--config", config.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto names = [](const fs::path& file) {
    std::set<std::string> out;
    for (const auto& rec : read_jsonl(file)) out.insert(rec["plugin"].get<std::string>());
    return out;
  };
  EXPECT_EQ(names(quiet), (std::set<std::string>{"scheduler_foo_plugin.py", "all_plugin.sh"}));
  EXPECT_EQ(names(loud), std::set<std::string>{"all_plugin.sh"});
  // Events of the routed plugin follow its lines.
  std::size_t events = 0;
  for (const auto& rec : read_jsonl(quiet)) {
    if (rec["plugin"] == "scheduler_foo_plugin.py" && rec["stream"] == "event") ++events;
  }
  EXPECT_EQ(events, 2u);
}

TEST_F(sink_routing, routing_to_a_sink_that_is_not_configured_is_an_error) {
  const auto config = dir.write("lmcache.yaml",
                                "runtime_plugin_locations: [plugins]\n"
                                "plughost:\n"
                                "  sinks: [stdout]\n"
                                "  plugins:\n"
                                "    a.sh: {sinks: [file]}\n");
  const auto r = run({"list", "--config", config.string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "plughost: error: " + config.string() +
                       ":5:20: plugin a.sh is routed to the sink 'file', which is not "
                       "configured (sinks: stdout)\n");
}

TEST_F(sink_routing, two_sinks_with_one_name_are_an_error) {
  const auto config = dir.write("lmcache.yaml",
                                "runtime_plugin_locations: [plugins]\n"
                                "plughost:\n"
                                "  sinks:\n"
                                "    - jsonl:a.jsonl\n"
                                "    - jsonl:b.jsonl\n");
  const auto r = run({"list", "--config", config.string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "plughost: error: " + config.string() +
                       ":5:7: two sinks are named 'jsonl': give them distinct names with name:\n");
}

}  // namespace
}  // namespace plughost::test
