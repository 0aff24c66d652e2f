// Per-plugin sink routing: plughost.plugins.<name>.sinks picks the sinks of one plugin.
#include <algorithm>
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

TEST_F(sink_routing, two_sinks_given_one_name_are_an_error) {
  const auto config = dir.write("lmcache.yaml",
                                "runtime_plugin_locations: [plugins]\n"
                                "plughost:\n"
                                "  sinks:\n"
                                "    - {type: jsonl, name: audit, path: a.jsonl}\n"
                                "    - {type: jsonl, name: audit, path: b.jsonl}\n");
  const auto r = run({"list", "--config", config.string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "plughost: error: " + config.string() +
                       ":5:27: two sinks are named 'audit': give them distinct names\n");
}

TEST_F(sink_routing, unnamed_sinks_of_one_type_are_numbered_wherever_they_are_given) {
  // In the configuration as on the command line: "jsonl", then "jsonl#2", and routes use them.
  plugin("a.sh", "echo from a\n");
  plugin("b.sh", "echo from b\n");
  const auto first = dir.path() / "first.jsonl", second = dir.path() / "second.jsonl";
  const auto config = dir.write("lmcache.yaml",
                                "runtime_plugin_locations: [plugins]\n"
                                "plughost:\n"
                                "  sinks:\n"
                                "    - jsonl:" +
                                    first.string() +
                                    "\n"
                                    "    - jsonl:" +
                                    second.string() +
                                    "\n"
                                    "  plugins:\n"
                                    "    b.sh: {sinks: [jsonl#2]}\n");
  ASSERT_EQ(run({"run", "--config", config.string()}).exit_code, 0);
  const auto lines_in = [](const fs::path& f) {
    std::vector<std::string> out;
    for (const auto& r : read_jsonl(f)) {
      if (r.value("stream", "") == "stdout") out.push_back(r["line"].get<std::string>());
    }
    return out;
  };
  EXPECT_EQ(lines_in(first), (std::vector<std::string>{"from a"}));
  auto both = lines_in(second);
  std::sort(both.begin(), both.end());
  EXPECT_EQ(both, (std::vector<std::string>{"from a", "from b"}));

  const auto r = run({"run", "--sink", "jsonl:" + first.string(), "--sink",
                      "jsonl:" + second.string(), "--location", plugins.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lines_in(first).size(), 3u) << "a second run added both plugins' lines";
}

}  // namespace
}  // namespace plughost::test
