// Order and gates (docs/health.md), through the real binary: plugins that start after others
// are ready and stop before them, a wait_for gate on a server that binds late, a plugin that
// requires one that fails for good, a gate that times out, what status, status --chain and list
// show, and the settings refused at load (a cycle among them).
#include <fmt/format.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <chrono>
#include <ctime>

#include "integration.hpp"

namespace plughost::test {
namespace {

using namespace std::chrono_literals;

class order : public plughost_run {
 protected:
  fs::path socket() const { return dir.path() / "ctl.sock"; }

  std::unique_ptr<child_process> start_host(const std::string& yaml) {
    const auto settings = dir.write("settings.yaml", yaml);
    return start({"run", "--settings", settings.string(), "--socket", socket().string(),
                  "--stop-timeout", "5"});
  }

  std::string state_of(const std::string& name) {
    const auto p = plugin_status_at(socket(), name);
    return p.is_object() ? p.value("state", "") : "";
  }

  // Every event record, in the order written: "plugin event".
  std::vector<std::string> event_trail(const std::set<std::string>& names) {
    std::vector<std::string> out;
    for (const auto& r : events_of(records())) {
      if (names.count(r["event"].get<std::string>())) {
        out.push_back(r["plugin"].get<std::string>() + " " + r["event"].get<std::string>());
      }
    }
    return out;
  }
};

// A → B → C, each ready a moment after it starts (a line it writes): B starts once A is ready,
// C once B is; with ordered_stop, C is stopped (and gone) before B is signalled, B before A.
TEST_F(order, plugins_start_after_the_ones_they_wait_for_are_ready_and_stop_in_reverse) {
  for (const auto* name : {"all_a.py", "all_b.py", "all_c.py"}) {
    plugin(name, "import time\ntime.sleep(0.3)\nprint('up', flush=True)\ntime.sleep(300)\n");
  }
  auto host = start_host(
      "plughost:\n  ordered_stop: true\n  ready_when: {log: '^up$'}\n  plugins:\n"
      "    all_c.py: {requires: {all_b.py: ready}}\n"
      "    all_b.py: {after: [all_a.py]}\n");
  ASSERT_TRUE(eventually([&] { return state_of("all_c.py") == "ready"; }, 30s))
      << read_file(dir.path() / "bg.err");
  host->signal(SIGTERM);
  ASSERT_TRUE(host->wait_for(60s));
  EXPECT_EQ(event_trail({"started", "ready"}),
            (std::vector<std::string>{"all_a.py started", "all_a.py ready", "all_b.py started",
                                      "all_b.py ready", "all_c.py started", "all_c.py ready"}));
  EXPECT_EQ(event_trail({"stopping", "exited"}),
            (std::vector<std::string>{"all_c.py stopping", "all_c.py exited", "all_b.py stopping",
                                      "all_b.py exited", "all_a.py stopping", "all_a.py exited"}));
}

// Without ordered_stop, every plugin gets its stop signal at once (the default is unchanged).
TEST_F(order, without_ordered_stop_every_plugin_is_stopped_at_once) {
  plugin("all_a.sh", "exec sleep 300\n");
  plugin("all_b.sh", "trap 'sleep 0.5; exit 0' TERM\nsleep 300 & wait\n");
  auto host = start_host("plughost:\n  plugins:\n    all_a.sh: {after: [all_b.sh]}\n");
  ASSERT_TRUE(eventually([&] { return state_of("all_a.sh") == "running"; }, 20s));
  host->signal(SIGTERM);
  ASSERT_TRUE(host->wait_for(60s));
  const auto trail = event_trail({"stopping", "exited"});
  ASSERT_EQ(trail.size(), 4u);
  EXPECT_EQ(trail[0].substr(9), "stopping");
  EXPECT_EQ(trail[1].substr(9), "stopping");  // both before either ended
}

// With ordered_stop, the end of the process plughost exits with stops everything at once (its
// stop is capped): a chain whose plugins each take their stop timeout is not walked step by step.
TEST_F(order, the_end_of_the_process_plughost_exits_with_stops_everything_at_once) {
  for (const auto* name : {"all_a.sh", "all_b.sh", "all_c.sh"}) {
    plugin(name, "trap '' TERM\nwhile :; do sleep 0.1; done\n");
  }
  auto parent =
      std::make_unique<child_process>(child_process::options{{"/bin/sleep", "300"}, env, {}, {}});
  const auto settings = dir.write(
      "settings.yaml",
      "plughost:\n  ordered_stop: true\n  stop_timeout: 3s\n  plugins:\n"
      "    all_b.sh: {after: [all_a.sh]}\n    all_c.sh: {requires: {all_b.sh: started}}\n");
  auto host = start({"run", "--settings", settings.string(), "--socket", socket().string(),
                     fmt::format("--exit-with-parent={}", parent->pid())});
  ASSERT_TRUE(eventually([&] { return state_of("all_c.sh") == "running"; }, 20s))
      << read_file(dir.path() / "bg.err");
  parent->signal(SIGKILL);
  ASSERT_TRUE(parent->wait_for(10s));
  ASSERT_TRUE(host->wait_for(30s));
  std::vector<double> stops;
  for (const auto& r : events_of(records())) {
    if (r["event"] == "stopping") stops.push_back(record_seconds(r["ts"].get<std::string>()));
  }
  ASSERT_EQ(stops.size(), 3u);
  EXPECT_LT(stops.back() - stops.front(), 0.5) << "the stop went step by step";
}

// A plugin waiting for a plugin shows it in status (state and reason) and in list.
TEST_F(order, status_and_list_say_what_a_waiting_plugin_waits_for) {
  plugin("all_a.py", "import time\ntime.sleep(300)\n");
  plugin("all_b.sh", "exec sleep 300\n");
  const std::string yaml =
      "plughost:\n  plugins:\n    all_a.py: {notify: true}\n"
      "    all_b.sh: {requires: [all_a.py], wait_for: {file: /nonexistent/x, timeout: 1h}}\n";
  auto host = start_host(yaml);
  ASSERT_TRUE(eventually([&] { return state_of("all_b.sh") == "waiting"; }, 20s))
      << read_file(dir.path() / "bg.err");
  const auto b = plugin_status_at(socket(), "all_b.sh");
  EXPECT_EQ(b["waiting_for"], "all_a.py (ready)");
  EXPECT_EQ(b["depends_on"], (json{"requires all_a.py (ready)", "wait_for /nonexistent/x"}));
  EXPECT_EQ(b["pid"], nullptr);
  const auto text = run_plughost({"status", "--socket", socket().string()}, env, dir);
  EXPECT_NE(text.out.find("all_b.sh: waiting for all_a.py (ready)"), std::string::npos) << text.out;
  const auto chain = run_plughost({"status", "--chain", "--socket", socket().string()}, env, dir);
  EXPECT_NE(chain.out.find("waiting for all_a.py (ready)"), std::string::npos) << chain.out;
  const auto list = run({"list", "--settings", (dir.path() / "settings.yaml").string()});
  EXPECT_NE(list.out.find("waits for: requires all_a.py (ready), wait_for /nonexistent/x"),
            std::string::npos)
      << list.out;
  host->signal(SIGTERM);
  ASSERT_TRUE(host->wait_for(30s));
  EXPECT_EQ(state_of("all_b.sh"), "");  // gone: it never started, and it stopped waiting
  EXPECT_TRUE(events_of(records_of("all_b.sh")).empty());
}

// A plugin it requires fails for good: a running one is stopped and fails, with an error that
// says why; one that requires a plugin this plughost does not run never starts.
TEST_F(order, a_plugin_whose_requirement_fails_for_good_stops_and_fails) {
  plugin("all_base.sh", "sleep 1\nexit 3\n");
  plugin("all_user.sh", "exec sleep 300\n");
  plugin("all_orphan.sh", "exec sleep 300\n");
  plugin("all_other.sh", "exec sleep 300\n");
  auto host = start_host(
      "plughost:\n  plugins:\n    all_user.sh: {requires: {all_base.sh: started}}\n"
      "    all_orphan.sh: {requires: [all_missing.sh]}\n");
  ASSERT_TRUE(eventually([&] { return state_of("all_user.sh") == "failed"; }, 20s))
      << read_file(dir.path() / "bg.err");
  const auto user = events_of(records_of("all_user.sh"));
  ASSERT_GE(user.size(), 3u);
  EXPECT_EQ(user[0]["event"], "started");
  EXPECT_EQ(user[1]["event"], "stopping");
  EXPECT_EQ(user[1]["reason"], "a plugin it requires is gone");
  EXPECT_EQ(user.back()["event"], "error");
  EXPECT_EQ(user.back()["message"], "it requires all_base.sh (started), which failed for good");
  EXPECT_EQ(state_of("all_orphan.sh"), "failed");
  const auto orphan = events_of(records_of("all_orphan.sh"));
  ASSERT_EQ(orphan.size(), 1u);
  EXPECT_EQ(orphan[0]["message"], "it requires all_missing.sh, which this plughost does not run");
  EXPECT_EQ(state_of("all_other.sh"), "running");  // the others go on
  host->signal(SIGTERM);
  ASSERT_TRUE(host->wait_for(30s));
}

// A plugin that failed because what it requires went away (a reload removed it) starts again
// once it is back: it is not left failed until someone starts it by hand.
TEST_F(order, a_plugin_failed_for_its_requirement_starts_again_once_it_is_back) {
  plugin("all_base.sh", "exec sleep 300\n");
  plugin("all_user.sh", "exec sleep 300\n");
  plugin("all_other.sh", "exec sleep 300\n");  // keeps plughost running meanwhile
  auto host = start_host("plughost:\n  plugins:\n    all_user.sh: {requires: [all_base.sh]}\n");
  ASSERT_TRUE(eventually([&] { return state_of("all_user.sh") == "running"; }, 20s));
  const auto reload = [&] {
    return run_plughost({"reload", "--socket", socket().string()}, env, dir).exit_code;
  };
  const auto base = read_file(dir.path() / "plugins" / "all_base.sh");
  fs::remove(dir.path() / "plugins" / "all_base.sh");
  ASSERT_EQ(reload(), 0);
  ASSERT_TRUE(eventually([&] { return state_of("all_user.sh") == "failed"; }, 20s))
      << read_file(dir.path() / "bg.err");
  plugin("all_base.sh", base);
  ASSERT_EQ(reload(), 0);
  EXPECT_TRUE(eventually([&] { return state_of("all_user.sh") == "running"; }, 20s))
      << read_file(dir.path() / "bg.err");
  host->signal(SIGTERM);
  ASSERT_TRUE(host->wait_for(30s));
}

// A gate that never answers: at its timeout an error, and the policy decides (never: failed).
TEST_F(order, a_gate_that_times_out_is_an_error_and_the_policy_decides) {
  const int port = free_port(SOCK_STREAM);  // nothing listens there
  plugin("all_gated.sh", "exec sleep 300\n");
  plugin("all_other.sh", "exec sleep 300\n");
  auto host = start_host(fmt::format(
      "plughost:\n  plugins:\n    all_gated.sh: {{wait_for: {{tcp: '127.0.0.1:{}', timeout: "
      "1s}}}}\n",
      port));
  ASSERT_TRUE(eventually([&] { return state_of("all_gated.sh") == "failed"; }, 20s))
      << read_file(dir.path() / "bg.err");
  const auto events = events_of(records_of("all_gated.sh"));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["event"], "error");
  EXPECT_EQ(events[0]["message"],
            fmt::format("wait_for 127.0.0.1:{0}: not there within 1s (the last attempt: cannot "
                        "connect to 127.0.0.1:{0}: Connection refused)",
                        port));
  host->signal(SIGTERM);
  ASSERT_TRUE(host->wait_for(30s));
}

// wait_for on a server (outside plughost) that binds 2 s after it starts: over 20 runs (four
// rounds of five plughosts at once), the plugin's one connection at its start never fails, and
// plughost starts it within 300 ms of the bind (the gate tries every 100 ms).
TEST_F(order, a_plugin_waiting_for_a_late_server_starts_once_it_answers_and_connects) {
  struct one {
    fs::path folder;
    int port = 0;
    std::unique_ptr<child_process> server, host;
  };
  int connected = 0;
  for (int round = 0; round < 4; ++round) {
    std::vector<one> runs(5);
    for (std::size_t i = 0; i < runs.size(); ++i) {
      auto& r = runs[i];
      r.folder = dir.path() / fmt::format("run{}-{}", round, i);
      r.port = free_port(SOCK_STREAM);
      dir.write(r.folder.lexically_relative(dir.path()) / "plugins" / "all_client.py",
                fmt::format("import socket\ns = socket.create_connection(('127.0.0.1', {}))\n"
                            "print('connected', flush=True)\n",
                            r.port));
      const auto settings =
          dir.write(r.folder.lexically_relative(dir.path()) / "s.yaml",
                    fmt::format("plughost:\n  plugins:\n    all_client.py:\n      wait_for: {{tcp: "
                                "'127.0.0.1:{}', timeout: 30s}}\n",
                                r.port));
      const auto bound = r.folder / "bound";
      r.server = std::make_unique<child_process>(child_process::options{
          {"/usr/bin/python3", "-c",
           fmt::format("import socket, time\ntime.sleep(2)\ns = socket.socket()\n"
                       "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
                       "s.bind(('127.0.0.1', {}))\ns.listen(64)\n"
                       "open('{}', 'w').write(repr(time.time()))\n"
                       "while True: s.accept()[0].close()\n",
                       r.port, bound.string())},
          env,
          r.folder / "server.out",
          r.folder / "server.err"});
      r.host = std::make_unique<child_process>(
          child_process::options{{plughost_binary().string(), "run", "--location",
                                  (r.folder / "plugins").string(), "--settings", settings.string(),
                                  "--sink", "jsonl:" + (r.folder / "records.jsonl").string()},
                                 env,
                                 r.folder / "host.out",
                                 r.folder / "host.err"});
    }
    for (auto& r : runs) {
      const auto status = r.host->wait_for(60s);
      ASSERT_TRUE(status) << read_file(r.folder / "host.err");
      EXPECT_EQ(WEXITSTATUS(*status), 0) << read_file(r.folder / "host.err");
      const auto recs = read_jsonl(r.folder / "records.jsonl");
      double started = 0;
      bool said = false;
      for (const auto& rec : recs) {
        if (rec.value("event", "") == "started")
          started = record_seconds(rec["ts"].get<std::string>());
        if (rec.value("line", "") == "connected") said = true;
      }
      EXPECT_TRUE(said) << "its first connection failed: " << read_file(r.folder / "records.jsonl");
      connected += said;
      const double bound = std::stod(read_file(r.folder / "bound"));
      EXPECT_GE(started, bound - 0.01);  // never before the server was there
      EXPECT_LT(started - bound, 0.3) << "started " << started - bound << " s after the bind";
      r.server->signal(SIGKILL);
    }
  }
  EXPECT_EQ(connected, 20);
}

TEST_F(order, order_settings_that_cannot_work_are_refused_at_their_line) {
  plugin("all_a.sh", "exit 0\n");
  plugin("all_b.sh", "exit 0\n");
  plugin("all_c.sh", "exit 0\n");
  const auto bad = (dir.path() / "bad.yaml").string();
  const auto refused = [&](const std::string& entries) {
    const auto settings = dir.write("bad.yaml", "plughost:\n  plugins:\n" + entries);
    const auto r = run({"run", "--settings", settings.string()});
    EXPECT_EQ(r.exit_code, 2) << entries;
    EXPECT_TRUE(records().empty());  // nothing started
    return r.err;
  };
  EXPECT_EQ(refused("    all_a.sh: {after: [all_b.sh]}\n    all_b.sh: {requires: [all_c.sh]}\n"
                    "    all_c.sh: {after: {all_a.sh: started}}\n"),
            fmt::format("plughost: error: {}:3:23: plugins that wait for each other never start: "
                        "all_a.sh (after all_b.sh, line 3) → all_b.sh (requires all_c.sh, line "
                        "4) → all_c.sh (after all_a.sh, line 5) → all_a.sh\n",
                        bad));
  EXPECT_EQ(refused("    all_a.sh: {after: [all_a.sh]}\n"),
            fmt::format("plughost: error: {}:3:23: plugins that wait for each other never start: "
                        "all_a.sh (after all_a.sh, line 3) → all_a.sh\n",
                        bad));
  EXPECT_EQ(refused("    all_a.sh: {after: {all_b.sh: up}}\n"),
            fmt::format("plughost: error: {}:3:34: plughost.plugins.all_a.sh.after.all_b.sh: "
                        "expected started, ready or completed, got up\n",
                        bad));
  EXPECT_EQ(refused("    all_a.sh: {requires: all_b.sh}\n"),
            fmt::format("plughost: error: {}:3:26: plughost.plugins.all_a.sh.requires must be a "
                        "list of plugin names, or a mapping of names to started, ready or "
                        "completed, got the string \"all_b.sh\"\n",
                        bad));
  EXPECT_EQ(refused("    all_a.sh: {wait_for: {tcp: localhost}}\n"),
            fmt::format("plughost: error: {}:3:32: plughost.plugins.all_a.sh.wait_for.tcp must be "
                        "HOST:PORT such as 127.0.0.1:8000, got localhost\n",
                        bad));
  EXPECT_EQ(refused("    all_a.sh: {wait_for: {file: /x, tcp: 'a:1'}}\n"),
            fmt::format("plughost: error: {}:3:26: plughost.plugins.all_a.sh.wait_for needs "
                        "exactly one of http, tcp or file\n",
                        bad));
}

}  // namespace
}  // namespace plughost::test
