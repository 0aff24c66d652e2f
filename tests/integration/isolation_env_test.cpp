// What a plugin's isolation settings put into its environment and argv, seen from inside real
// plugins (/proc/self/environ, /proc/self/cmdline), and what `plughost list` says of them
// (docs/isolation.md).
#include <fmt/format.h>
#include <signal.h>

#include <algorithm>
#include <map>

#include "integration.hpp"

namespace plughost::test {
namespace {

using isolation_env = plughost_run;

// Copies the plugin's own /proc/self/environ and /proc/self/cmdline next to it. The system's
// python3 itself, not a wrapper from PATH (which env_remove may take away).
constexpr const char* dump_self =
    "#!/usr/bin/python3\n"
    "import sys\n"
    "for part in ('environ', 'cmdline'):\n"
    "    data = open('/proc/self/' + part, 'rb').read()\n"
    "    open(sys.argv[0] + '.' + part, 'wb').write(data)\n";

// NUL-separated entries of a /proc file.
std::vector<std::string> entries_of(const std::string& raw) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < raw.size()) {
    const auto end = raw.find('\0', at);
    out.push_back(raw.substr(at, end - at));
    if (end == std::string::npos) break;
    at = end + 1;
  }
  return out;
}

constexpr const char* token = "tok-S3CRET-4711";

// Three plugins: a.py with gpu: none and args, b.py with a GPU list and the token redacted,
// c.py whose env sets a GPU variable over gpu: none.
std::string configuration() {
  return fmt::format(
      "runtime_plugin_locations: [plugins]\n"
      "extra_config: {{hf_token: {}, other: 1}}\n"
      "plughost:\n"
      "  sinks: [\"jsonl:records.jsonl\"]\n"
      "  env_remove: [\"DROP_*\"]\n"
      "  env: {{GREETING: \"hello-{{role}}-{{worker_id}}\"}}\n"
      "  plugins:\n"
      "    a.py:\n"
      "      gpu: none\n"
      "      args: [--flag, \"{{worker_id}}\"]\n"
      "      memory_max: 256MiB\n"
      "      limits: {{nofile: 512}}\n"
      "    b.py:\n"
      "      gpu: [0, 1]\n"
      "      redact: [\"extra_config.*token*\"]\n"
      "    c.py:\n"
      "      gpu: none\n"
      "      env: {{CUDA_VISIBLE_DEVICES: \"3\"}}\n",
      token);
}

TEST_F(isolation_env, env_env_remove_gpu_args_and_redact_reach_each_plugin_as_configured) {
  for (const auto* name : {"a.py", "b.py", "c.py"}) plugin(name, dump_self);
  const auto config = dir.write("lmcache.yaml", configuration());
  env.push_back("DROP_ME=gone");
  env.push_back("KEEP_ME=kept");
  const auto r = run({"run", "--config", config.string(), "--role", "WORKER", "--worker-id", "2",
                      "--worker-count", "4"});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  const auto environ_of = [&](const char* name) {
    return read_file(plugins / (std::string(name) + ".environ"));
  };
  const auto a = as_map(entries_of(environ_of("a.py")));
  EXPECT_EQ(a.at("GREETING"), "hello-WORKER-2");  // env, its placeholders filled
  EXPECT_FALSE(a.contains("DROP_ME"));            // env_remove: DROP_*
  EXPECT_EQ(a.at("KEEP_ME"), "kept");
  for (const auto* gpu : {"CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES"}) {
    ASSERT_TRUE(a.contains(gpu)) << gpu;
    EXPECT_EQ(a.at(gpu), "") << gpu;  // gpu: none
  }
  const auto argv = entries_of(read_file(plugins / "a.py.cmdline"));
  ASSERT_GE(argv.size(), 2u);
  EXPECT_EQ(std::vector<std::string>(argv.end() - 2, argv.end()),
            (std::vector<std::string>{"--flag", "2"}));
  // Without redact, the plugin gets LMCache's configuration whole, token included.
  EXPECT_EQ(json::parse(a.at("LMCACHE_RUNTIME_PLUGIN_CONFIG"))["extra_config"]["hf_token"], token);

  const auto b_raw = environ_of("b.py");
  EXPECT_EQ(b_raw.find(token), std::string::npos) << "b.py's environment holds the token";
  const auto b = as_map(entries_of(b_raw));
  EXPECT_EQ(b.at("CUDA_VISIBLE_DEVICES"), "0,1");
  for (const auto* variable : {"LMCACHE_RUNTIME_PLUGIN_CONFIG", "LMCACHE_PLUGIN_CONFIG"}) {
    const auto seen = json::parse(b.at(variable));
    EXPECT_EQ(seen["extra_config"], json::parse(R"({"other": 1})")) << variable;
    EXPECT_EQ(seen["runtime_plugin_locations"], json::array({plugins.string()})) << variable;
  }

  const auto c = as_map(entries_of(environ_of("c.py")));
  EXPECT_EQ(c.at("CUDA_VISIBLE_DEVICES"), "3");  // env wins over gpu
  EXPECT_EQ(c.at("HIP_VISIBLE_DEVICES"), "");
}

TEST_F(isolation_env, env_remove_never_takes_plughosts_own_variables) {
  plugin("a.py", dump_self);
  const auto config = dir.write("lmcache.yaml",
                                "runtime_plugin_locations: [plugins]\n"
                                "plughost:\n"
                                "  sinks: [\"jsonl:records.jsonl\"]\n"
                                "  env_remove: [\"*\"]\n"
                                "  env: {ONLY: this}\n");
  env.push_back("KEEP_ME=kept");
  const auto r = run({"run", "--config", config.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto a = as_map(entries_of(read_file(plugins / "a.py.environ")));
  EXPECT_FALSE(a.contains("KEEP_ME"));
  EXPECT_FALSE(a.contains("PATH"));
  EXPECT_EQ(a.at("ONLY"), "this");
  for (const auto* name : {"LMCACHE_RUNTIME_PLUGIN_CONFIG", "LMCACHE_PLUGIN_CONFIG",
                           "LMCACHE_RUNTIME_PLUGIN_ROLE", "LMCACHE_PLUGIN_WORKER_ID",
                           "LMCACHE_RUNTIME_PLUGIN_NAME", "PLUGHOST_HOST_PID", "PLUGHOST_RUN"}) {
    EXPECT_TRUE(a.contains(name)) << name;
  }
}

TEST_F(isolation_env, a_redacted_plugin_gets_only_the_variables_it_would_receive) {
  plugin("b.py", dump_self);
  const auto config = dir.write("lmcache.yaml", configuration());
  // --plugin-variable NAME alone: LMCache's old launcher did not set it; redact must not add it.
  const auto r =
      run({"run", "--config", config.string(), "--plugin-variable", "LMCACHE_PLUGIN_CONFIG"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto b = as_map(entries_of(read_file(plugins / "b.py.environ")));
  EXPECT_FALSE(b.contains("LMCACHE_PLUGIN_CONFIG"));
  EXPECT_EQ(json::parse(b.at("LMCACHE_RUNTIME_PLUGIN_CONFIG"))["extra_config"],
            json::parse(R"({"other": 1})"));
}

TEST_F(isolation_env, list_shows_limits_env_changes_gpus_and_the_keys_a_plugin_will_not_see) {
  for (const auto* name : {"a.py", "b.py"}) plugin(name, dump_self);
  const auto config = dir.write("lmcache.yaml", configuration());
  env.push_back("DROP_ME=gone");
  const auto r = run({"list", "--config", config.string(), "--worker-id", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto has = [&](const std::string& line) {
    return r.out.find(line + "\n") != std::string::npos;
  };
  EXPECT_TRUE(has("memory_max: 256MiB")) << r.out;
  EXPECT_TRUE(has("limits: nofile=512")) << r.out;
  EXPECT_TRUE(has("gpu: none")) << r.out;
  EXPECT_TRUE(has("gpu: 0,1")) << r.out;
  EXPECT_TRUE(has("env: set GREETING=hello-all-2, remove DROP_* (DROP_ME)")) << r.out;
  EXPECT_TRUE(has("args: --flag, 2")) << r.out;
  EXPECT_TRUE(has("redact: extra_config.hf_token")) << r.out;
  EXPECT_EQ(r.out.find(token), std::string::npos) << "list shows no secret";
  EXPECT_EQ(r.out.find("oom_score_adj"), std::string::npos) << "the default is no change";

  const auto listed = run({"list", "--config", config.string(), "--worker-id", "2", "--json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  std::map<std::string, json> isolation;
  const auto plan = json::parse(listed.out);
  for (const auto& p : plan["plugins"]) isolation[p["name"].get<std::string>()] = p["isolation"];
  EXPECT_EQ(isolation["a.py"], json::parse(R"j({
    "memory_max": "256MiB", "limits": ["nofile=512"], "gpu": "none",
    "env": ["set GREETING=hello-all-2", "remove DROP_* (DROP_ME)"], "args": ["--flag", "2"]})j"));
  EXPECT_EQ(isolation["b.py"], json::parse(R"j({
    "gpu": "0,1", "env": ["set GREETING=hello-all-2", "remove DROP_* (DROP_ME)"],
    "redact": ["extra_config.hf_token"]})j"));
}

TEST_F(isolation_env, a_reload_that_changes_a_plugins_isolation_restarts_it_alone) {
  const auto config_with = [&](const char* value) {
    return dir.write("lmcache.yaml", fmt::format("runtime_plugin_locations: [plugins]\n"
                                                 "plughost:\n"
                                                 "  plugins:\n"
                                                 "    a.sh: {{env: {{X: \"{}\"}}}}\n",
                                                 value));
  };
  plugin("a.sh", "echo \"ready $X\"\nexec sleep 300\n");
  plugin("b.sh", "echo ready\nexec sleep 300\n");
  const auto config = config_with("1");
  auto host =
      start({"run", "--config", config.string(), "--sink", "jsonl:" + records_file.string()});
  ASSERT_TRUE(wait_for_line("a.sh", "ready 1"));
  ASSERT_TRUE(wait_for_line("b.sh", "ready"));
  config_with("2");
  host->signal(SIGHUP);
  EXPECT_TRUE(wait_for_line("a.sh", "ready 2")) << read_file(dir.path() / "bg.err");
  host->signal(SIGTERM);
  ASSERT_TRUE(host->wait_for(std::chrono::seconds(30)));
  const auto started = [&](const char* name) {
    return std::ranges::count_if(events_of(records_of(name)),
                                 [](const json& e) { return e["event"] == "started"; });
  };
  EXPECT_EQ(started("a.sh"), 2);
  EXPECT_EQ(started("b.sh"), 1);  // its isolation did not change
}

TEST_F(isolation_env, a_limit_this_machine_cannot_apply_is_one_warning_at_start) {
  plugin("a.sh", "echo ran\n");
  const auto config = dir.write("lmcache.yaml",
                                "runtime_plugin_locations: [plugins]\n"
                                "plughost:\n"
                                "  sinks: [\"jsonl:records.jsonl\"]\n"
                                "  cgroups: off\n"
                                "  plugins:\n"
                                "    a.sh: {pids_max: 20}\n");
  const auto r = run({"run", "--config", config.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto warning = "plughost: warning: " + config.string() +
                       ":6:22: pids_max cannot apply: no pids cgroup controller plughost can use "
                       "(plughost.cgroups is off)\n";
  EXPECT_NE(r.err.find(warning), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(warning), r.err.rfind(warning)) << "said once";
  EXPECT_EQ(lines_of("a.sh", "stdout"), std::vector<std::string>{"ran"});  // it runs all the same
}

}  // namespace
}  // namespace plughost::test
