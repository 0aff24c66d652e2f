// Per-plugin sink routing: plughost.plugins.<name>.sinks picks the sinks of one plugin.
#include <unistd.h>

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

// ---- where records come from -----------------------------------------------------------------

TEST_F(sink_routing, identity_placeholders_name_each_workers_file_and_labels_say_who_wrote) {
  plugin("all_a.sh", "echo hello\n");
  const auto config = dir.write(
      "lmcache.yaml",
      "runtime_plugin_locations: [plugins]\nplughost:\n  sinks:\n"
      "    - {type: jsonl, path: \"logs/{role}-{worker_id}.jsonl\", labels: [\"host={host}\", "
      "\"role={role}\", \"worker_id={worker_id}\", \"worker_count={worker_count}\", "
      "\"literal={not a placeholder}\"]}\n");
  fs::create_directory(dir.path() / "logs");
  const auto r = run({"run", "--config", config.string(), "--role", "WORKER", "--worker-id", "3",
                      "--worker-count", "8"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto recs = read_jsonl(dir.path() / "logs" / "WORKER-3.jsonl");
  ASSERT_FALSE(recs.empty());
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  for (const auto& rec : recs) {
    EXPECT_EQ(rec.value("host", ""), host) << rec.dump();
    EXPECT_EQ(rec.value("role", ""), "WORKER");
    EXPECT_EQ(rec.value("worker_id", ""), "3");
    EXPECT_EQ(rec.value("worker_count", ""), "8");
    EXPECT_EQ(rec.value("literal", ""), "{not a placeholder}");
  }
  EXPECT_TRUE(std::any_of(recs.begin(), recs.end(),
                          [](const json& j) { return j.value("line", "") == "hello"; }));
}

TEST_F(sink_routing, an_unknown_placeholder_is_an_error_naming_it) {
  const auto config = dir.write("lmcache.yaml",
                                "runtime_plugin_locations: [plugins]\nplughost:\n  sinks:\n"
                                "    - \"jsonl:/tmp/{worker}.jsonl\"\n");
  const auto r = run({"list", "--config", config.string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err,
            "plughost: error: jsonl (/tmp/{worker}.jsonl): unknown placeholder {worker} in path "
            "(did you mean {worker_id}? plughost's are {host}, {role}, {worker_id} and "
            "{worker_count}, in lower case and one pair of braces)\n");
  for (const std::string written :
       {"{ROLE}", "{{role}}", "{ role }", "{hostname}", "{worker-id}"}) {
    const auto odd = dir.write("odd.yaml",
                               "runtime_plugin_locations: [plugins]\nplughost:\n"
                               "  sinks: [\"jsonl:/tmp/" +
                                   written + ".jsonl\"]\n");
    const auto o = run({"list", "--config", odd.string()});
    EXPECT_EQ(o.exit_code, 2) << written;
    EXPECT_NE(o.err.find("(did you mean {"), std::string::npos) << written << ": " << o.err;
  }
}

TEST_F(sink_routing, a_role_or_host_cannot_lead_a_placeholder_path_elsewhere) {
  plugin("all_a.sh", "echo hello\n");
  fs::create_directory(dir.path() / "logs");
  const auto config = dir.write("lmcache.yaml",
                                "runtime_plugin_locations: [plugins]\nplughost:\n  sinks: "
                                "[\"jsonl:logs/{role}.jsonl\"]\n");
  auto r = run({"run", "--config", config.string(), "--role", "../escaped"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(fs::exists(dir.path() / "escaped.jsonl")) << "the role left the logs folder";
  EXPECT_TRUE(fs::exists(dir.path() / "logs" / ".._escaped.jsonl"));
  r = run({"run", "--config", config.string(), "--role", ".."});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir.path() / "logs" / "__.jsonl"));
  r = run({"run", "--config", config.string(), "--role", "none"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(read_jsonl(dir.path() / "logs" / "all.jsonl").empty())
      << "no role reads 'all', as in the control socket's name";
}

}  // namespace
}  // namespace plughost::test
