// plughost run where LMCache runs its launcher today: its scheduler's worker id -1, its
// multiprocess mode's configuration JSON, its environment spellings and deprecated key, bare
// shebang names, plughost started as one of its plugins, the runners in use, and a plughost that
// exits with its parent.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sstream>

#include "integration.hpp"

namespace plughost::test {
namespace {

using lmcache_compat = plughost_run;

// A plugin that writes the variables LMCache passes, byte for byte, next to itself.
constexpr const char* dump_lmcache_variables =
    "#!/bin/sh\n"
    "printf '%s' \"$LMCACHE_RUNTIME_PLUGIN_CONFIG\" > \"$0.config\"\n"
    "printf '%s' \"$LMCACHE_PLUGIN_CONFIG\" > \"$0.legacy_config\"\n"
    "printf '%s' \"$LMCACHE_RUNTIME_PLUGIN_WORKER_ID\" > \"$0.worker_id\"\n";

TEST_F(lmcache_compat, the_scheduler_runs_as_worker_minus_one) {
  plugin("all_0_report.sh", dump_lmcache_variables);
  plugin("all_report.sh", dump_lmcache_variables);
  for (const bool from_environment : {false, true}) {
    fs::remove(plugins / "all_report.sh.worker_id");
    fs::remove(records_file);
    std::vector<std::string> args{"run", "--role", "SCHEDULER"};
    if (from_environment) {
      env.push_back("LMCACHE_RUNTIME_PLUGIN_WORKER_ID=-1");
    } else {
      args.insert(args.end(), {"--worker-id", "-1"});
    }
    const auto r = run(args);
    if (from_environment) env.pop_back();
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(read_file(plugins / "all_report.sh.worker_id"), "-1");
    // Compared as integers: worker -1 runs no all_<N>_* plugin (LMCache skips it too).
    EXPECT_FALSE(fs::exists(plugins / "all_0_report.sh.worker_id"));
    const auto skipped = records_of("all_0_report.sh");
    ASSERT_EQ(skipped.size(), 1u);
    EXPECT_EQ(skipped[0]["event"], "skipped");
    EXPECT_EQ(skipped[0]["reason"], "only for worker 0");
  }
}

TEST_F(lmcache_compat, multiprocess_mode_json_reaches_plugins_byte_for_byte) {
  plugin("dump.sh", dump_lmcache_variables);
  // LMCache's MP launcher: json.dumps of its configs, no runtime_plugin_locations, locations
  // given apart. Spacing, key order and escapes must survive.
  const std::string text =
      "{\"mp_config\": {\"port\": 5555, \"host\": \"0.0.0.0\"}, \"storage\": {\"path\": "
      "\"/data\", \"ratio\": 0.5}, \"runtime_plugin_extra_config\": {\"k\": \"caf\\u00e9\"}}";
  const auto check = [&](const char* how) {
    EXPECT_EQ(read_file(plugins / "dump.sh.config"), text) << how;
    EXPECT_EQ(read_file(plugins / "dump.sh.legacy_config"), text) << how;
  };

  // From standard input (off the command line, which every user can read).
  const auto input = dir.write("config.json", text);
  auto child = start({"run", "--config-json", "-"}, [path = input.c_str()] {
    const int fd = ::open(path, O_RDONLY);
    ::dup2(fd, 0);
  });
  const auto status = child->wait_for(std::chrono::seconds(60));
  ASSERT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << read_file(dir.path() / "bg.err");
  check("--config-json -");

  // As text on the command line, and in LMCACHE_RUNTIME_PLUGIN_CONFIG.
  ASSERT_EQ(run({"run", "--config-json", text}).exit_code, 0);
  check("--config-json TEXT");
  env.push_back("LMCACHE_RUNTIME_PLUGIN_CONFIG=" + text);
  ASSERT_EQ(run({"run"}).exit_code, 0);
  check("LMCACHE_RUNTIME_PLUGIN_CONFIG");
}

TEST_F(lmcache_compat, locations_from_lmcaches_environment_override_its_file) {
  plugin("all_hello.sh", "echo hello\n");
  const auto config =
      dir.write("lmcache.yaml", "runtime_plugin_locations: [/nowhere]\nchunk_size: 256\n");
  env.push_back("LMCACHE_CONFIG_FILE=" + config.string());
  env.push_back("LMCACHE_RUNTIME_PLUGIN_LOCATIONS='" + plugins.string() + "'");
  // No --config, no --location: the fixture's defaults stay out of the way.
  const auto r = run_plughost({"run", "--sink", "jsonl:" + records_file.string()}, env, dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lines_of("all_hello.sh", "stdout"), std::vector<std::string>{"hello"});
  EXPECT_EQ(r.err.find("/nowhere"), std::string::npos) << r.err;

  const auto listed = json::parse(run_plughost({"list", "--json"}, env, dir).out);
  EXPECT_EQ(listed["locations_from"], "LMCACHE_RUNTIME_PLUGIN_LOCATIONS");
}

TEST_F(lmcache_compat, the_deprecated_key_plugin_locations_still_works) {
  plugin("all_hello.sh", "echo hello\n");
  const auto config = dir.write("lmcache.yaml", "chunk_size: 256\nplugin_locations: [plugins]\n");
  const auto r =
      run({"run", "--config", config.string(), "--sink", "jsonl:" + records_file.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lines_of("all_hello.sh", "stdout"), std::vector<std::string>{"hello"});
  EXPECT_EQ(r.err, "plughost: warning: " + config.string() +
                       ":2:1: plugin_locations is deprecated, use runtime_plugin_locations "
                       "instead\n");
}

TEST_F(lmcache_compat, a_bare_shebang_name_runs_from_path_with_a_warning) {
  plugin("all_bare.py", "#!python3\nprint('bare')\n");
  const auto r = run({"run"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lines_of("all_bare.py", "stdout"), std::vector<std::string>{"bare"});
  EXPECT_NE(r.err.find("shebang interpreter 'python3' is a bare name, which Linux would not look "
                       "up on PATH"),
            std::string::npos)
      << r.err;
}

// The easiest thing an operator tries: a one-line launcher script in LMCache's plugin folder. The
// plughost it starts reads the same folder and finds the script again.
TEST_F(lmcache_compat, plughost_never_starts_itself) {
  plugin("all_plughost.sh",
         "#!/bin/sh\nexec \"$NESTED_PLUGHOST\" run --location \"$(dirname \"$0\")\"\n");
  plugin("all_hello.sh", "echo hello\n");
  env.push_back("NESTED_PLUGHOST=" + plughost_binary().string());
  const auto r = run({"run"});
  EXPECT_EQ(r.exit_code, 1) << "the launcher script counts as a failed plugin";
  EXPECT_EQ(lines_of("all_hello.sh", "stdout"), std::vector<std::string>{"hello"});

  const auto refused = lines_of("all_plughost.sh", "stderr");
  ASSERT_EQ(refused.size(), 1u) << records_of("all_plughost.sh").size();
  EXPECT_EQ(refused[0].rfind("plughost: error: refusing to run: this process was started by "
                             "plughost (pid ",
                             0),
            0u)
      << refused[0];
  EXPECT_NE(refused[0].find(") as its plugin all_plughost.sh, and a plughost never starts "
                            "plughost (PLUGHOST_HOST_PID is set; see docs/lmcache.md)"),
            std::string::npos)
      << refused[0];
  const auto events = records_of("all_plughost.sh");
  EXPECT_EQ(events.back()["event"], "exited");
  EXPECT_EQ(events.back()["exit_code"], 2);
}

// Way 3 of docs/lmcache.md with a launcher script that gives no --location: plughost, started
// by LMCache's launcher, would read LMCache's own locations and run every plugin a second time.
TEST_F(lmcache_compat, started_by_lmcaches_launcher_it_runs_only_what_location_names) {
  plugin("all_hello.sh", "touch \"$0.ran\"\n");
  const auto config = dir.write("lmcache.yaml", "runtime_plugin_locations: [plugins]\n");
  const auto text = R"({"runtime_plugin_locations": [")" + plugins.string() + R"("]})";
  // What LMCache's launcher gives each plugin (both spellings, as the newest sets them).
  for (const std::string prefix : {"LMCACHE_RUNTIME_PLUGIN_", "LMCACHE_PLUGIN_"}) {
    env.insert(env.end(), {prefix + "ROLE=WORKER", prefix + "CONFIG=" + text,
                           prefix + "WORKER_ID=0", prefix + "WORKER_COUNT=1"});
  }
  const std::pair<std::string, std::string> sources[] = {
      {"", "LMCACHE_RUNTIME_PLUGIN_CONFIG (runtime_plugin_locations)"},
      {"LMCACHE_CONFIG_FILE=" + config.string(), config.string() + " (runtime_plugin_locations)"},
      {"LMCACHE_RUNTIME_PLUGIN_LOCATIONS=" + plugins.string(), "LMCACHE_RUNTIME_PLUGIN_LOCATIONS"}};
  for (const auto& [variable, from] : sources) {
    if (!variable.empty()) env.push_back(variable);
    const auto r = run_plughost({"run", "--sink", "jsonl:" + records_file.string()}, env, dir);
    if (!variable.empty()) env.pop_back();
    EXPECT_EQ(r.exit_code, 2) << from;
    EXPECT_EQ(r.err,
              "plughost: error: refusing to run: LMCache's plugin launcher started this process "
              "(LMCACHE_PLUGIN_ROLE, LMCACHE_PLUGIN_WORKER_ID and LMCACHE_PLUGIN_CONFIG are set) "
              "and no --location was "
              "given (the locations would come from " +
                  from +
                  "): LMCache runs the plugins of its own locations itself, so each would run "
                  "twice; give plughost the folders it should run with --location (see "
                  "docs/lmcache.md)\n");
    EXPECT_FALSE(fs::exists(plugins / "all_hello.sh.ran")) << from;
  }
  // list is a dry run: it may look.
  EXPECT_EQ(run_plughost({"list"}, env, dir).exit_code, 0);
  // Its own folders, named: it runs.
  const auto r = run({"run"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(plugins / "all_hello.sh.ran"));
}

TEST_F(lmcache_compat, a_plugins_environment_makes_run_refuse_but_not_list) {
  plugin("all_hello.sh", "touch \"$0.ran\"\n");
  env.push_back("PLUGHOST_HOST_PID=4242");
  const auto r = run({"run"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err,
            "plughost: error: refusing to run: this process was started by plughost (pid 4242), "
            "and a plughost never starts plughost (PLUGHOST_HOST_PID is set; see "
            "docs/lmcache.md)\n");
  EXPECT_FALSE(fs::exists(plugins / "all_hello.sh.ran"));
  EXPECT_EQ(run({"list"}).exit_code, 0);
}

// LMCache strips the shebang line, so a plugin saved with Windows line endings runs there: it
// runs here too, and list and run say why Linux alone would not run it, with the \r visible.
TEST_F(lmcache_compat, a_plugin_with_windows_line_endings_runs_with_a_warning_naming_the_fix) {
  const auto p = plugin("all_crlf.sh", "#!/bin/sh\r\necho crlf\r\n");
  const auto expected = "plughost: warning: " + p.string() +
                        ": the shebang line ends in a carriage return (\\r): the file has Windows "
                        "line endings; convert it with dos2unix (the line reads #!/bin/sh\\r; "
                        "plughost drops the \\r, as LMCache does, but Linux would keep it in the "
                        "interpreter's name)\n";
  const auto listed = run({"list"});
  EXPECT_EQ(listed.exit_code, 0);
  EXPECT_EQ(listed.err, expected);
  const auto r = run({"run"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.err, expected);
  // The shell sees "echo crlf\r": the line keeps its carriage return, the plugin its bytes.
  EXPECT_EQ(lines_of("all_crlf.sh", "stdout"), std::vector<std::string>{"crlf\r"});
}

TEST_F(lmcache_compat, runners_can_be_restricted_to_lmcaches_two) {
  plugin("all_a.py", "#!/usr/bin/env python3\nprint('py')\n");
  plugin("all_b.sh", "echo sh\n");
  plugin("all_helper.js", "console.log('js')\n");
  const auto listed =
      json::parse(run({"list", "--json", "--runner", "python", "--runner", "bash"}).out);
  const auto& entries = listed["plugins"];
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[2]["name"], "all_helper.js");
  EXPECT_EQ(entries[2]["decision"], "ignored");
  // The node and perl runners are modules in .so files: not enabled, they are not loaded (their
  // code does not run), so they cannot be asked what they claim.
  EXPECT_EQ(entries[2]["reason"],
            "no enabled runner claims '.js' files (enabled runners: bash, python; not enabled, so "
            "not loaded: node, perl)");
  for (const auto& runner : listed["runners"]) {
    const bool lmcaches = runner["name"] == "python" || runner["name"] == "bash";
    EXPECT_EQ(runner["enabled"], lmcaches);
    EXPECT_EQ(runner["loaded"], lmcaches) << runner.dump();
  }
  // A built-in runner that is not enabled is part of the program: it still says what it claims.
  const auto only_python = json::parse(run({"list", "--json", "--runner", "python"}).out);
  EXPECT_EQ(only_python["plugins"][1]["reason"],
            "runner bash claims '.sh' files but is not enabled (enabled runners: python)");

  const auto config = dir.write("c.yaml",
                                "runtime_plugin_locations: [plugins]\n"
                                "plughost:\n  enabled_runners: [python, bash]\n");
  const auto r =
      run({"run", "--config", config.string(), "--sink", "jsonl:" + records_file.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lines_of("all_a.py", "stdout"), std::vector<std::string>{"py"});
  EXPECT_EQ(lines_of("all_b.sh", "stdout"), std::vector<std::string>{"sh"});
  EXPECT_TRUE(records_of("all_helper.js").empty());
}

TEST_F(lmcache_compat, records_can_go_to_standard_output) {
  plugin("all_hello.sh", "echo hello\n");
  const auto r = run({"run", "--sink", "jsonl:-"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<json> records;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) records.push_back(json::parse(line));
  ASSERT_EQ(records.size(), 3u) << r.out;
  EXPECT_EQ(records[1]["line"], "hello");
}

// A plughost whose parent is SIGKILLed stops every plugin, even one that ignores SIGTERM, without
// waiting for its long stop timeout.
TEST_F(lmcache_compat, exit_with_parent_stops_everything_when_the_parent_is_killed) {
  plugin("all_stubborn.sh", "trap '' TERM\necho ready\nwhile :; do sleep 0.1; done\n");
  const auto parent = std::make_unique<child_process>(child_process::options{
      {"/bin/sh", "-c", "\"$0\" \"$@\" & echo $! > \"$PLUGHOST_PID_FILE\"; wait",
       plughost_binary().string(), "run", "--exit-with-parent", "--stop-timeout", "60",
       "--location", plugins.string(), "--sink", "jsonl:" + records_file.string()},
      [&] {
        auto e = env;
        e.push_back("PLUGHOST_PID_FILE=" + (dir.path() / "plughost.pid").string());
        return e;
      }(),
      dir.path() / "parent.out",
      dir.path() / "parent.err",
      {},
      {}});
  ASSERT_TRUE(wait_for_line("all_stubborn.sh", "ready")) << read_file(dir.path() / "parent.err");
  const auto host = static_cast<pid_t>(std::stol(read_file(dir.path() / "plughost.pid")));
  const auto plugin_pid = records_of("all_stubborn.sh").front()["pid"].get<pid_t>();
  parent->signal(SIGKILL);
  // Generous bounds: they only catch a plughost that waits for its 60 s stop timeout, or never.
  EXPECT_TRUE(eventually([&] { return !process_alive(plugin_pid); }, std::chrono::seconds(20)));
  EXPECT_TRUE(eventually([&] { return !process_alive(host); }, std::chrono::seconds(20)));
  const auto records = records_of("all_stubborn.sh");
  bool stopping = false, killed = false;
  for (const auto& r : records) {
    if (r.value("event", "") == "stopping") stopping = r["reason"] == "parent exited";
    // The real time since the stop signal: its 1 s, and a little more.
    if (r.value("event", "") == "killed") {
      killed = r["after"].get<double>() >= 1.0 && r["after"].get<double>() < 10.0;
    }
  }
  EXPECT_TRUE(stopping) << json(records).dump();
  EXPECT_TRUE(killed) << "SIGKILL after 1 s, not after the 60 s stop timeout: "
                      << json(records).dump();
}

// The parent asked for a stop (its plughost has a long stop timeout), then died: the plugins do
// not outlive it by that timeout.
TEST_F(lmcache_compat, a_parent_that_dies_during_the_stop_shortens_it) {
  plugin("all_stubborn.sh", "trap '' TERM\necho ready\nwhile :; do sleep 0.1; done\n");
  auto e = env;
  e.push_back("PLUGHOST_PID_FILE=" + (dir.path() / "plughost.pid").string());
  const auto parent = std::make_unique<child_process>(child_process::options{
      {"/bin/sh", "-c", "\"$0\" \"$@\" & echo $! > \"$PLUGHOST_PID_FILE\"; wait",
       plughost_binary().string(), "run", "--exit-with-parent", "--stop-timeout", "60",
       "--location", plugins.string(), "--sink", "jsonl:" + records_file.string()},
      e,
      dir.path() / "parent.out",
      dir.path() / "parent.err",
      {},
      {}});
  ASSERT_TRUE(wait_for_line("all_stubborn.sh", "ready")) << read_file(dir.path() / "parent.err");
  const auto host = static_cast<pid_t>(std::stol(read_file(dir.path() / "plughost.pid")));
  const auto plugin_pid = records_of("all_stubborn.sh").front()["pid"].get<pid_t>();
  ::kill(host, SIGTERM);
  ASSERT_TRUE(eventually([&] {
    for (const auto& r : records_of("all_stubborn.sh")) {
      if (r.value("event", "") == "stopping") return true;
    }
    return false;
  }));
  parent->signal(SIGKILL);
  // Generous bounds: they only catch a plughost that waits out its 60 s stop timeout.
  EXPECT_TRUE(eventually([&] { return !process_alive(plugin_pid); }, std::chrono::seconds(20)));
  EXPECT_TRUE(eventually([&] { return !process_alive(host); }, std::chrono::seconds(20)));
}

// plughost killed, then its --exit-with-parent process gone: the guardian, which stops the
// plugins in plughost's place, does not wait out the 60 s stop timeout either.
TEST_F(lmcache_compat, the_guardian_also_shortens_the_stop_once_the_parent_is_gone) {
  plugin("all_stubborn.sh", "trap '' TERM\necho ready\nwhile :; do sleep 0.1; done\n");
  child_process watched({{"/bin/sleep", "1000"}, env, {}, {}, {}, {}});
  auto host =
      start({"run", "--stop-timeout", "60", "--exit-with-parent=" + std::to_string(watched.pid())});
  ASSERT_TRUE(wait_for_line("all_stubborn.sh", "ready"));
  const auto plugin_pid = records_of("all_stubborn.sh").front()["pid"].get<pid_t>();
  host->signal(SIGKILL);
  ASSERT_TRUE(host->wait_for(std::chrono::seconds(20)).has_value());
  watched.signal(SIGKILL);
  // Generous bound: it only catches a guardian that waits out the 60 s stop timeout.
  EXPECT_TRUE(eventually([&] { return !process_alive(plugin_pid); }, std::chrono::seconds(20)));
}

TEST_F(lmcache_compat, exit_with_a_given_process) {
  plugin("all_wait.sh", "echo ready\nexec sleep 1000\n");
  child_process watched({{"/bin/sleep", "1000"}, env, {}, {}, {}, {}});
  auto host = start({"run", "--exit-with-parent=" + std::to_string(watched.pid())});
  ASSERT_TRUE(wait_for_line("all_wait.sh", "ready"));
  watched.signal(SIGKILL);
  const auto status = host->wait_for(std::chrono::seconds(20));
  ASSERT_TRUE(status.has_value()) << "plughost did not stop when the watched process exited";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
  EXPECT_NE(read_file(dir.path() / "bg.err").find("has exited: stopping every plugin"),
            std::string::npos);

  // A process that is already gone: a usage error, in one line, and nothing starts (it said
  // "does not exist: starting nothing", then "has exited: stopping every plugin", and exit 0).
  ASSERT_TRUE(watched.wait_for(std::chrono::seconds(20)).has_value());
  fs::remove(records_file);
  const auto gone = std::to_string(watched.pid());
  const auto r = run({"run", "--exit-with-parent=" + gone});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err, "plughost: error: --exit-with-parent: there is no process " + gone + "\n");
  EXPECT_TRUE(records_of("all_wait.sh").empty());
}

TEST_F(lmcache_compat, exit_with_a_process_that_has_exited_but_is_not_reaped_is_refused) {
  plugin("all_wait.sh", "echo ready\nexec sleep 1000\n");
  // A child of this test that has exited, not yet waited for: a zombie still has its pid.
  const pid_t zombie = ::fork();
  ASSERT_GE(zombie, 0);
  if (zombie == 0) ::_exit(0);
  ASSERT_TRUE(eventually([&] {
    const auto stat = read_file("/proc/" + std::to_string(zombie) + "/stat");
    return stat.find(") Z ") != std::string::npos;
  }));
  const auto r = run({"run", "--exit-with-parent=" + std::to_string(zombie)});
  ::waitpid(zombie, nullptr, 0);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err, "plughost: error: --exit-with-parent: process " + std::to_string(zombie) +
                       " has already exited\n");
  EXPECT_TRUE(records_of("all_wait.sh").empty());
}

}  // namespace
}  // namespace plughost::test
