// Supervision with real processes: nothing left behind when the host is SIGKILLed or stopped,
// restarts with backoff, run-time limits, per-plugin stop signals, reload on SIGHUP.
#include <fmt/format.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <thread>

#include "integration.hpp"

namespace plughost::test {
namespace {

using namespace std::chrono_literals;
using supervision = plughost_run;

int exit_code_of(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Every process, from /proc/<pid>/stat.
struct process_entry {
  pid_t pid = 0;
  char state = 0;
  pid_t parent = 0;
  pid_t group = 0;
};
std::vector<process_entry> all_processes() {
  std::vector<process_entry> out;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const auto name = e.path().filename().string();
    if (name.empty() || name[0] < '1' || name[0] > '9') continue;
    const auto stat = read_file(e.path() / "stat");
    const auto paren = stat.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream rest(stat.substr(paren + 2));
    process_entry p;
    p.pid = std::stoi(name);
    rest >> p.state >> p.parent >> p.group;
    out.push_back(p);
  }
  return out;
}

// Live (non-zombie) members of these process groups.
std::vector<pid_t> live_members(const std::set<pid_t>& groups) {
  std::vector<pid_t> out;
  for (const auto& p : all_processes()) {
    if (p.state != 'Z' && p.state != 'X' && groups.count(p.group)) out.push_back(p.pid);
  }
  return out;
}

// The two plugin trees of the issue: bash with a background sleep, python with a child.
class trees : public supervision {
 protected:
  void SetUp() override {
    plugin("bash_tree.sh", "sleep 300 &\necho ready\nwait\n");
    plugin("python_tree.py",
           "import subprocess, sys, time\n"
           "child = subprocess.Popen(['sleep', '301'])\n"
           "print('ready', flush=True)\n"
           "time.sleep(300)\n");
  }

  std::set<pid_t> plugin_groups() {
    std::set<pid_t> groups;
    for (const auto& r : records()) {
      if (r["stream"] == "event" && r["event"] == "started") groups.insert(r["pid"].get<pid_t>());
    }
    return groups;
  }

  bool ready(const std::vector<std::string>& names) {
    for (const auto& n : names) {
      if (!wait_for_line(n, "ready")) return false;
    }
    return true;
  }
};

TEST_F(trees, host_killed_with_sigkill_leaves_no_process_of_any_tree_after_2_seconds) {
  auto host = start({"run"});
  ASSERT_TRUE(ready({"bash_tree.sh", "python_tree.py"}));
  const auto groups = plugin_groups();
  ASSERT_EQ(groups.size(), 2u);
  ASSERT_GE(live_members(groups).size(), 4u) << "two plugins and their two children";

  host->signal(SIGKILL);
  ASSERT_TRUE(host->wait_for(10s));
  // Generous bound from the contract (2 s): by process group, and by the marker every process
  // started under this test carries in its environment (the guardian's included).
  EXPECT_TRUE(eventually([&] { return live_members(groups).empty(); }, 2s))
      << live_members(groups).size() << " processes left in the plugins' groups";
  EXPECT_TRUE(eventually([&] { return processes_with_marker(dir.marker()).empty(); }, 2s));
}

TEST_F(trees, host_killed_with_sigkill_the_guardian_kills_a_plugin_that_ignores_sigterm) {
  // The guardian sends SIGTERM, then SIGKILL once the stop timeout has passed.
  plugin("stubborn.sh", "trap '' TERM\necho ready\nwhile :; do sleep 0.2; done\n");
  auto host = start({"run", "--stop-timeout", "1"});
  ASSERT_TRUE(ready({"bash_tree.sh", "python_tree.py", "stubborn.sh"}));
  const auto groups = plugin_groups();
  ASSERT_EQ(groups.size(), 3u);
  host->signal(SIGKILL);
  ASSERT_TRUE(host->wait_for(10s));
  EXPECT_TRUE(eventually([&] { return live_members(groups).empty(); }, 10s))
      << live_members(groups).size() << " processes left in the plugins' groups";
}

TEST_F(trees, sigterm_to_the_host_stops_every_tree_and_kills_the_one_that_ignores_it) {
  plugin("stubborn.sh", "trap '' TERM\necho ready\nwhile :; do sleep 0.2; done\n");
  auto host = start({"run", "--stop-timeout", "1"});
  ASSERT_TRUE(ready({"bash_tree.sh", "python_tree.py", "stubborn.sh"}));
  const auto groups = plugin_groups();
  host->signal(SIGTERM);
  const auto status = host->wait_for(30s);
  ASSERT_TRUE(status);
  EXPECT_EQ(exit_code_of(*status), 0);
  EXPECT_TRUE(live_members(groups).empty());
  EXPECT_TRUE(processes_with_marker(dir.marker()).empty());
  const auto stubborn = events_of(records_of("stubborn.sh"));
  std::vector<std::string> names;
  for (const auto& e : stubborn) names.push_back(e["event"].get<std::string>());
  EXPECT_EQ(names, (std::vector<std::string>{"started", "stopping", "killed", "exited"}));
  EXPECT_EQ(stubborn[1]["signal"], "SIGTERM");
  EXPECT_EQ(stubborn[1]["reason"], "shutdown");
  EXPECT_EQ(stubborn[2]["signal"], "SIGKILL");
  EXPECT_EQ(stubborn[2]["stop_signal"], "SIGTERM");
  // The real time since the stop signal: its stop timeout, and a little more.
  EXPECT_GE(stubborn[2]["after"].get<double>(), 1.0);
  EXPECT_LT(stubborn[2]["after"].get<double>(), 10.0);
  EXPECT_EQ(stubborn[3]["signal"], "SIGKILL");
}

TEST_F(supervision, stopping_100_plugins_takes_one_round_trip_not_100_stop_timeouts) {
  for (int i = 0; i < 100; ++i) {
    plugin("sleeper_" + std::to_string(i) + ".sh", "#!/bin/sh\nexec sleep 1000\n");
  }
  auto host = start({"run", "--stop-timeout", "20"});
  ASSERT_TRUE(eventually([&] { return records().size() >= 100; }));
  const auto sent = std::chrono::steady_clock::now();
  host->signal(SIGTERM);
  const auto status = host->wait_for(60s);
  ASSERT_TRUE(status);
  EXPECT_EQ(exit_code_of(*status), 0);
  // Generous: well under one stop timeout (20 s); only a stop that waits plugin by plugin fails.
  EXPECT_LT(std::chrono::steady_clock::now() - sent, 10s);
  std::size_t exited = 0;
  for (const auto& r : records()) exited += r.value("event", "") == "exited";
  EXPECT_EQ(exited, 100u);
}

TEST_F(supervision, a_descriptor_limit_too_low_for_all_plugins_is_said_clearly) {
  for (int i = 0; i < 40; ++i) plugin("p" + std::to_string(i) + ".sh", "exec sleep 300\n");
  auto host = start({"run"}, [] {
    struct rlimit lim {
      64, 64
    };  // soft and hard: plughost cannot raise it
    ::setrlimit(RLIMIT_NOFILE, &lim);
  });
  ASSERT_TRUE(eventually([&] {
    return read_file(dir.path() / "bg.err").find("cannot create pipes: Too many open files") !=
           std::string::npos;
  }));
  host->signal(SIGTERM);
  const auto status = host->wait_for(30s);
  ASSERT_TRUE(status);
  EXPECT_EQ(exit_code_of(*status), 1) << "plugins that could not start are failures";
  const auto err = read_file(dir.path() / "bg.err");
  EXPECT_NE(err.find("plughost: error: the open-file limit is 64 (hard limit 64), but 40 plugins "
                     "need about 144 descriptors (two pipes each): some cannot start; raise the "
                     "hard limit (ulimit -Hn, systemd's LimitNOFILE=)"),
            std::string::npos)
      << err;
  std::size_t started = 0;
  for (const auto& r : records()) started += r.value("event", "") == "started";
  EXPECT_GT(started, 0u) << "the plugins that fit still run";
  EXPECT_LT(started, 40u);
}

TEST_F(supervision, orphans_become_children_of_the_host_and_are_reaped) {
  // The plugin's child starts a grandchild and exits: the grandchild is reparented to plughost
  // (child subreaper), which must reap it when it ends (no zombie left).
  plugin("orphans.sh",
         "sh -c 'sleep 0.3 & echo $! > \"$1\"' sh \"$0.orphan\"\n"
         "echo ready\n"
         "sleep 300\n");
  auto host = start({"run"});
  ASSERT_TRUE(wait_for_line("orphans.sh", "ready"));
  ASSERT_TRUE(eventually([&] { return !read_file(plugins / "orphans.sh.orphan").empty(); }));
  const auto orphan = std::stoi(read_file(plugins / "orphans.sh.orphan"));
  EXPECT_TRUE(eventually([&] { return !fs::exists("/proc/" + std::to_string(orphan)); }, 10s))
      << "the orphan was not reaped";
  host->signal(SIGTERM);
  ASSERT_TRUE(host->wait_for(30s));
}

TEST_F(supervision, orphans_that_left_the_plugins_group_are_reaped_too) {
  // Each background process starts its own session (setsid) and is orphaned at once: plughost
  // adopts it as subreaper, outside every plugin's group, and must still reap it.
  plugin("escapes.sh",
         "for i in 1 2 3 4 5; do (setsid sleep 0.2 &); done\n"
         "echo ready\n"
         "exec sleep 300\n");
  auto host = start({"run"});
  ASSERT_TRUE(wait_for_line("escapes.sh", "ready"));
  const auto zombies = [&] {
    const auto all = all_processes();
    return std::count_if(all.begin(), all.end(), [&](const process_entry& p) {
      return p.state == 'Z' && p.parent == host->pid();
    });
  };
  // Every orphan has ended by then (0.2 s), and been reaped.
  std::this_thread::sleep_for(500ms);
  EXPECT_TRUE(eventually([&] { return zombies() == 0; }, 10s))
      << zombies() << " zombies left under plughost";
  host->signal(SIGTERM);
  ASSERT_TRUE(host->wait_for(30s));
}

TEST_F(supervision, a_process_that_escaped_the_group_keeps_the_run_going_and_stops_with_it) {
  // Its own session, its stdout still the plugin's pipe: it is still the plugin's (found by its
  // run's mark, PLUGHOST_RUN), so the run goes on while it runs, as it would for a background
  // process left in the group, and the stop reaches it. It was neither waited for nor stopped.
  plugin("leaves_one_behind.sh",
         "(setsid sleep 300 & echo $! > \"$0.left\")\n"
         // Past its exec: a look at it in the middle of execve() can miss its mark (seen once
         // in a full run; docs/running.md, Limits).
         "sleep 0.3\n"
         "echo bye\n");
  auto host = start({"run"});
  ASSERT_TRUE(wait_for_line("leaves_one_behind.sh", "bye"));
  ASSERT_TRUE(
      eventually([&] { return !read_file(plugins / "leaves_one_behind.sh.left").empty(); }));
  const auto left = std::stoi(read_file(plugins / "leaves_one_behind.sh.left"));
  EXPECT_FALSE(host->wait_for(500ms)) << "run ended while the plugin's process ran";
  host->signal(SIGTERM);
  const auto status = host->wait_for(30s);
  ASSERT_TRUE(status);
  EXPECT_EQ(exit_code_of(*status), 0);
  EXPECT_TRUE(eventually([&] { return !process_alive(left); }, 5s)) << "it was left behind";
  EXPECT_EQ(lines_of("leaves_one_behind.sh", "stdout"), std::vector<std::string>{"bye"});
  ::kill(left, SIGKILL);
}

fs::path restart_config(const temp_dir& dir, const std::string& plughost_section);

// A plugin that starts a daemon the classic ways: setsid(1) in the background (its own session,
// its parent the plugin), and a double fork (orphaned at once: plughost adopts it). Each
// ignores SIGTERM, and writes its pid to <plugin>.daemon1 / .daemon2.
constexpr const char* starts_daemons =
    "setsid sh -c 'trap \"\" TERM; echo $$ > \"$0.daemon1\"; exec sleep 300' \"$0\" &\n"
    "(setsid sh -c 'trap \"\" TERM; echo $$ > \"$0.daemon2\"; exec sleep 300' \"$0\" &)\n"
    "echo ready\n"
    "exec sleep 300\n";

// The daemons' pids the plugins wrote (waiting for both of each of `plugins`).
std::vector<pid_t> daemons_of(const fs::path& folder, const std::vector<std::string>& plugins) {
  std::vector<pid_t> out;
  for (const auto& name : plugins) {
    for (const auto* which : {".daemon1", ".daemon2"}) {
      const auto file = folder / (name + which);
      eventually([&] {
        const auto text = read_file(file);
        return !text.empty() && text.back() == '\n';
      });
      const auto text = read_file(file);
      if (!text.empty()) out.push_back(std::stoi(text));
    }
  }
  return out;
}

std::size_t still_running(const std::vector<pid_t>& pids) {
  return static_cast<std::size_t>(
      std::count_if(pids.begin(), pids.end(), [](pid_t p) { return process_alive(p); }));
}

TEST_F(supervision, daemons_that_left_the_group_are_stopped_by_a_clean_stop) {
  plugin("daemons.sh", starts_daemons);
  auto host = start({"run", "--stop-timeout", "1"});
  ASSERT_TRUE(wait_for_line("daemons.sh", "ready"));
  const auto daemons = daemons_of(plugins, {"daemons.sh"});
  ASSERT_EQ(daemons.size(), 2u);
  ASSERT_EQ(still_running(daemons), 2u);
  host->signal(SIGTERM);
  const auto status = host->wait_for(30s);
  ASSERT_TRUE(status);
  EXPECT_EQ(exit_code_of(*status), 0);
  // Generous: they ignore SIGTERM, so SIGKILL comes after the 1 s stop timeout.
  EXPECT_TRUE(eventually([&] { return still_running(daemons) == 0; }, 5s))
      << still_running(daemons) << " daemons left behind by a clean stop";
  // The main process obeyed SIGTERM; the daemons did not, and the run's SIGKILL reached them.
  std::vector<std::string> names;
  for (const auto& e : events_of(records_of("daemons.sh"))) names.push_back(e["event"]);
  EXPECT_EQ(names, (std::vector<std::string>{"started", "stopping", "exited", "killed"}));
  for (const auto pid : daemons) ::kill(pid, SIGKILL);
}

TEST_F(supervision, daemons_of_a_plugin_that_restarts_are_stopped_before_it_runs_again) {
  // The first run starts its daemons and fails; they must not pile up beside the next run's.
  plugin("daemons.sh",
         "if [ -e \"$0.daemon1\" ]; then echo running; exec sleep 300; fi\n"
         "setsid sh -c 'trap \"\" TERM; echo $$ > \"$0.daemon1\"; exec sleep 300' \"$0\" &\n"
         "(setsid sh -c 'trap \"\" TERM; echo $$ > \"$0.daemon2\"; exec sleep 300' \"$0\" &)\n"
         "sleep 0.2\n"
         "exit 1\n");
  const auto config =
      restart_config(dir, "  restart: on-failure\n  restart_delay: 100ms\n  stop_timeout: 500ms\n");
  auto host = start({"run", "--config", config.string()});
  const auto daemons = daemons_of(plugins, {"daemons.sh"});
  ASSERT_EQ(daemons.size(), 2u);
  ASSERT_TRUE(wait_for_line("daemons.sh", "running"));
  EXPECT_TRUE(eventually([&] { return still_running(daemons) == 0; }, 5s))
      << still_running(daemons) << " daemons of the first run still run";
  host->signal(SIGTERM);
  ASSERT_TRUE(host->wait_for(30s));
  for (const auto pid : daemons) ::kill(pid, SIGKILL);
}

TEST_F(supervision, daemons_that_left_the_group_are_stopped_by_the_guardian) {
  plugin("daemons.sh", starts_daemons);
  auto host = start({"run", "--stop-timeout", "1"});
  ASSERT_TRUE(wait_for_line("daemons.sh", "ready"));
  const auto daemons = daemons_of(plugins, {"daemons.sh"});
  ASSERT_EQ(still_running(daemons), 2u);
  host->signal(SIGKILL);
  ASSERT_TRUE(host->wait_for(10s));
  // Generous: the guardian's SIGKILL comes after the 1 s stop timeout.
  EXPECT_TRUE(eventually([&] { return still_running(daemons) == 0; }, 5s))
      << still_running(daemons) << " daemons left behind by a killed plughost";
  EXPECT_TRUE(eventually([&] { return processes_with_marker(dir.marker()).empty(); }, 5s));
  for (const auto pid : daemons) ::kill(pid, SIGKILL);
}

TEST_F(supervision, a_host_killed_while_starting_daemon_plugins_leaves_no_daemon_behind) {
  // 100 plugins, each starting two daemons outside its group; plughost is killed while it is
  // still starting them. (The attack found 1,402 survivors in 13 such trials.)
  std::vector<std::string> names;
  for (int i = 0; i < 100; ++i) {
    names.push_back(fmt::format("p{:03}.sh", i));
    plugin(names.back(), starts_daemons);
  }
  auto host = start({"run", "--stop-timeout", "1"});
  ASSERT_TRUE(eventually([&] { return fs::exists(plugins / "p005.sh.daemon2"); }, 30s));
  host->signal(SIGKILL);
  ASSERT_TRUE(host->wait_for(10s));
  // Generous: only a guardian that leaves them fails.
  EXPECT_TRUE(eventually([&] { return processes_with_marker(dir.marker()).empty(); }, 20s))
      << processes_with_marker(dir.marker()).size() << " processes left";
  std::vector<pid_t> daemons;
  for (const auto& name : names) {
    for (const auto* which : {".daemon1", ".daemon2"}) {
      const auto text = read_file(plugins / (name + which));
      if (!text.empty() && text.back() == '\n') daemons.push_back(std::stoi(text));
    }
  }
  EXPECT_GE(daemons.size(), 12u) << "some plugins had started theirs";
  EXPECT_EQ(still_running(daemons), 0u);
  for (const auto pid : daemons) ::kill(pid, SIGKILL);
  for (const auto pid : processes_with_marker(dir.marker())) ::kill(pid, SIGKILL);
}

TEST_F(supervision, a_host_killed_during_a_reload_leaves_no_daemon_behind) {
  // 20 plugins with their daemons run; a reload adds 60 more, and plughost is killed while it
  // starts them.
  std::vector<std::string> names;
  for (int i = 0; i < 80; ++i) names.push_back(fmt::format("p{:03}.sh", i));
  for (int i = 0; i < 20; ++i) plugin(names[i], starts_daemons);
  auto host = start({"run", "--stop-timeout", "1"});
  ASSERT_TRUE(eventually([&] { return fs::exists(plugins / "p019.sh.daemon2"); }, 30s));
  for (int i = 20; i < 80; ++i) plugin(names[i], starts_daemons);
  host->signal(SIGHUP);
  ASSERT_TRUE(eventually([&] { return fs::exists(plugins / "p025.sh.daemon2"); }, 30s));
  host->signal(SIGKILL);
  ASSERT_TRUE(host->wait_for(10s));
  // Generous: only a guardian that leaves them fails.
  EXPECT_TRUE(eventually([&] { return processes_with_marker(dir.marker()).empty(); }, 20s))
      << processes_with_marker(dir.marker()).size() << " processes left";
  std::vector<pid_t> daemons;
  for (const auto& name : names) {
    for (const auto* which : {".daemon1", ".daemon2"}) {
      const auto text = read_file(plugins / (name + which));
      if (!text.empty() && text.back() == '\n') daemons.push_back(std::stoi(text));
    }
  }
  EXPECT_GE(daemons.size(), 41u) << "the first 20 plugins' daemons, and some of the reload's";
  EXPECT_EQ(still_running(daemons), 0u);
  for (const auto pid : daemons) ::kill(pid, SIGKILL);
  for (const auto pid : processes_with_marker(dir.marker())) ::kill(pid, SIGKILL);
}

TEST_F(supervision, a_host_killed_while_starting_plugins_leaves_none_behind) {
  // Each plugin starts a background process at once. Killed in the middle of the start-up,
  // plughost leaves the guardian to stop every plugin that started, also the last one, whose
  // group the host had no time to announce: the plugin announces it itself, before it runs.
  for (int i = 0; i < 60; ++i) {
    plugin(fmt::format("p{:02}.sh", i), "sleep 300 &\nexec sleep 301\n");
  }
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto host = start({"run"});
    ASSERT_TRUE(eventually([&] { return processes_with_marker(dir.marker()).size() > 3; }, 30s));
    host->signal(SIGKILL);
    ASSERT_TRUE(host->wait_for(10s));
    EXPECT_TRUE(eventually([&] { return processes_with_marker(dir.marker()).empty(); }, 20s))
        << processes_with_marker(dir.marker()).size() << " processes left (attempt " << attempt
        << ")";
    for (const auto pid : processes_with_marker(dir.marker())) ::kill(pid, SIGKILL);
  }
}

fs::path restart_config(const temp_dir& dir, const std::string& plughost_section) {
  return dir.write("lmcache.yaml",
                   "runtime_plugin_locations: [plugins]\nplughost:\n  sinks: [\"jsonl:" +
                       (dir.path() / "records.jsonl").string() + "\"]\n" + plughost_section);
}

TEST_F(supervision, one_loop_thread_and_no_wake_ups_while_plugins_are_quiet) {
  for (int i = 0; i < 5; ++i) plugin("quiet_" + std::to_string(i) + ".sh", "exec sleep 300\n");
  plugin("restarts.sh", "exit 1\n");  // a pending restart timer is not a periodic wake-up
  const auto config = restart_config(
      dir, "  plugins:\n    restarts.sh: {restart: on-failure, restart_delay: 1h}\n");
  auto host = start({"run", "--config", config.string()});
  ASSERT_TRUE(eventually([&] {
    const auto recs = records();
    return std::count_if(recs.begin(), recs.end(),
                         [](const json& r) { return r.value("event", "") == "started"; }) >= 6 &&
           !events_of(records_of("restarts.sh")).empty() &&
           events_of(records_of("restarts.sh")).back()["event"] == "restarting";
  }));
  // The loop, the one sink's writer and the operator thread (the control socket): no thread per
  // plugin (ThreadSanitizer adds one).
#ifdef __SANITIZE_THREAD__
  constexpr long sanitizer_threads = 1;
#else
  constexpr long sanitizer_threads = 0;
#endif
  EXPECT_EQ(status_field(host->pid(), "Threads"), 3 + sanitizer_threads);
  // The last event may still be on its way out (the restart's exit drain, the record's write):
  // wait until the count holds still for a moment, so that the window below starts quiet.
  const auto switches = [&] { return status_field(host->pid(), "voluntary_ctxt_switches"); };
  auto settled = switches();
  ASSERT_TRUE(eventually([&] {
    const auto now = switches();
    std::this_thread::sleep_for(200ms);
    settled = switches();
    return now == settled;
  }));
  // Not a timing assertion: a window to count wake-ups in. A periodic wake-up of any period up
  // to a second shows at least three times in it; one stray switch (a page-cache lock, the
  // scheduler on a loaded machine) is the margin.
  std::this_thread::sleep_for(3s);
  EXPECT_LE(switches() - settled, 1) << "plughost woke up while nothing happened";
  host->signal(SIGTERM);
  ASSERT_TRUE(host->wait_for(30s));
}

// ---- restart policies -----------------------------------------------------------------------

TEST_F(supervision, a_restarting_plugins_leftover_processes_are_stopped_before_it_runs_again) {
  // The first run leaves a background process behind and fails; the second one runs on. What
  // the first run left must not pile up beside the second.
  plugin("leaves.sh",
         "sleep 300 &\n"
         "echo $! >> \"$0.left\"\n"
         "if [ \"$(wc -l < \"$0.left\")\" -eq 1 ]; then exit 1; fi\n"
         "echo running\n"
         "exec sleep 300\n");
  const auto config = restart_config(dir, "  restart: on-failure\n  restart_delay: 100ms\n");
  auto host = start({"run", "--config", config.string()});
  ASSERT_TRUE(wait_for_line("leaves.sh", "running"));
  const auto left = std::stoi(read_file(plugins / "leaves.sh.left"));  // the first run's
  EXPECT_TRUE(eventually([&] { return !process_alive(left); }, 10s))
      << "the first run's background process still runs";
  host->signal(SIGTERM);
  ASSERT_TRUE(host->wait_for(30s));
}

TEST_F(supervision, python_plugins_output_arrives_while_they_run) {
  // stdout is a pipe: without PYTHONUNBUFFERED, Python would hold the line until it exits.
  plugin("talks.py", "print('hello')\nimport time\ntime.sleep(300)\n");
  auto host = start({"run"});
  EXPECT_TRUE(wait_for_line("talks.py", "hello"));
  host->signal(SIGTERM);
  ASSERT_TRUE(host->wait_for(30s));
}

TEST_F(supervision, on_failure_restarts_with_growing_delays_until_the_plugin_runs) {
  // Fails twice (a counter in a file), then runs until stopped.
  plugin("flaky.sh",
         "n=$(cat \"$0.count\" 2>/dev/null || echo 0)\n"
         "echo $((n + 1)) > \"$0.count\"\n"
         "if [ \"$n\" -lt 2 ]; then echo \"failing $n\"; exit 1; fi\n"
         "echo running\n"
         "exec sleep 300\n");
  const auto config = restart_config(dir, "  restart: on-failure\n  restart_delay: 200ms\n");
  auto host = start({"run", "--config", config.string()});
  ASSERT_TRUE(wait_for_line("flaky.sh", "running"));
  host->signal(SIGTERM);
  const auto status = host->wait_for(30s);
  ASSERT_TRUE(status);
  EXPECT_EQ(exit_code_of(*status), 0) << "it recovered, then plughost stopped it";

  const auto events = events_of(records_of("flaky.sh"));
  std::vector<std::string> names;
  for (const auto& e : events) names.push_back(e["event"].get<std::string>());
  EXPECT_EQ(names, (std::vector<std::string>{"started", "exited", "restarting", "started", "exited",
                                             "restarting", "started", "stopping", "exited"}));
  ASSERT_EQ(events.size(), 9u);
  EXPECT_EQ(events[1]["exit_code"], 1);
  EXPECT_EQ(events[2]["attempt"], 1);
  EXPECT_EQ(events[2]["delay"], 0.2);
  EXPECT_EQ(events[5]["attempt"], 2);
  EXPECT_EQ(events[5]["delay"], 0.4);
  EXPECT_NE(events[0]["pid"], events[3]["pid"]);
  EXPECT_EQ(lines_of("flaky.sh", "stdout"),
            (std::vector<std::string>{"failing 0", "failing 1", "running"}));
}

TEST_F(supervision, a_restart_due_while_the_others_are_still_starting_is_not_lost) {
  // The first plugin fails at once and restarts without delay while plughost is still starting
  // the 99 others (it polls its loop every 16 starts): the restart timer fires during the
  // start-up. It was dropped there, the plugin stayed in backoff for ever, and run never ended.
  plugin("a000.sh", "echo run\nexit 1\n");
  for (int i = 1; i < 100; ++i) plugin(fmt::format("p{:03}.sh", i), "exit 0\n");
  const auto config = restart_config(
      dir, "  plugins:\n    a000.sh: {restart: on-failure, restart_delay: 0, max_restarts: 3}\n");
  // Generous: it only catches a run that never ends.
  const auto r = run({"run", "--config", config.string()}, 30s);
  EXPECT_EQ(r.exit_code, 1) << "it gave up: a failure\n" << r.err;
  EXPECT_EQ(lines_of("a000.sh", "stdout"), std::vector<std::string>(4, "run"))
      << "three restarts, four runs";
  const auto events = events_of(records_of("a000.sh"));
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back()["event"], "gave_up");
}

TEST_F(supervision, a_run_longer_than_restart_reset_after_resets_the_backoff) {
  // Run 1 fails at once, run 2 fails after 0.5 s (longer than restart_reset_after), run 3 fails
  // at once, run 4 runs: the restart after run 2 starts again from the first delay.
  plugin("uneven.sh",
         "n=$(cat \"$0.count\" 2>/dev/null || echo 0)\n"
         "echo $((n + 1)) > \"$0.count\"\n"
         "if [ \"$n\" -eq 1 ]; then sleep 0.5; fi\n"
         "if [ \"$n\" -lt 3 ]; then exit 1; fi\n"
         "echo running\n"
         "exec sleep 300\n");
  const auto config = restart_config(
      dir, "  restart: on-failure\n  restart_delay: 100ms\n  restart_reset_after: 300ms\n");
  auto host = start({"run", "--config", config.string()});
  ASSERT_TRUE(wait_for_line("uneven.sh", "running"));
  host->signal(SIGTERM);
  ASSERT_TRUE(host->wait_for(30s));
  std::vector<std::pair<long, double>> restarts;
  for (const auto& e : events_of(records_of("uneven.sh"))) {
    if (e["event"] == "restarting") restarts.emplace_back(e["attempt"], e["delay"]);
  }
  EXPECT_EQ(restarts, (std::vector<std::pair<long, double>>{{1, 0.1}, {1, 0.1}, {2, 0.2}}));
}

TEST_F(supervision, never_does_not_restart) {
  plugin("fails.sh", "exit 1\n");
  const auto r = run({"run", "--config", restart_config(dir, "  restart: never\n").string()});
  EXPECT_EQ(r.exit_code, 1);
  std::vector<std::string> names;
  for (const auto& e : events_of(records_of("fails.sh"))) names.push_back(e["event"]);
  EXPECT_EQ(names, (std::vector<std::string>{"started", "exited"}));
}

TEST_F(supervision, max_restarts_gives_up_with_an_event_that_says_so) {
  plugin("broken.sh", "exit 3\n");
  const auto config =
      restart_config(dir, "  restart: always\n  restart_delay: 50ms\n  max_restarts: 2\n");
  const auto r = run({"run", "--config", config.string()});
  EXPECT_EQ(r.exit_code, 1);
  std::vector<std::string> names;
  const auto events = events_of(records_of("broken.sh"));
  for (const auto& e : events) names.push_back(e["event"]);
  EXPECT_EQ(names, (std::vector<std::string>{"started", "exited", "restarting", "started", "exited",
                                             "restarting", "started", "exited", "gave_up"}));
  EXPECT_EQ(events.back()["restarts"], 2);
  EXPECT_EQ(events.back()["reason"], "2 restarts in a row, each run shorter than 60s");
  EXPECT_NE(r.err.find("plughost: error: plugin broken.sh gave up"), std::string::npos) << r.err;
}

TEST_F(supervision, a_plugin_override_beats_the_default) {
  plugin("a.sh", "exit 1\n");
  plugin("b.sh", "exit 1\n");
  const auto config = restart_config(
      dir,
      "  restart: never\n  plugins:\n    b.sh: {restart: on-failure, restart_delay: 10ms, "
      "max_restarts: 1}\n");
  EXPECT_EQ(run({"run", "--config", config.string()}).exit_code, 1);
  EXPECT_EQ(events_of(records_of("a.sh")).size(), 2u);
  EXPECT_EQ(events_of(records_of("b.sh")).back()["event"], "gave_up");
}

TEST_F(supervision, a_timeout_stops_a_plugin_that_runs_too_long) {
  plugin("slow.sh", "echo start\nexec sleep 300\n");
  plugin("quick.sh", "echo done\n");
  const auto config = restart_config(dir, "  plugins:\n    slow.sh: {timeout: 300ms}\n");
  const auto r = run({"run", "--config", config.string()});
  EXPECT_EQ(r.exit_code, 1) << "running past its timeout is a failure";
  std::vector<std::string> names;
  const auto events = events_of(records_of("slow.sh"));
  for (const auto& e : events) names.push_back(e["event"]);
  EXPECT_EQ(names, (std::vector<std::string>{"started", "timed_out", "stopping", "exited"}));
  EXPECT_EQ(events[1]["timeout"], 0.3);
  EXPECT_EQ(events[2]["reason"], "timeout");
  EXPECT_EQ(events[3]["signal"], "SIGTERM");
  EXPECT_EQ(lines_of("quick.sh", "stdout"), std::vector<std::string>{"done"});
}

TEST_F(supervision, a_plugin_stop_signal_is_used_instead_of_sigterm) {
  plugin("wants_int.sh",
         "trap '' TERM\ntrap 'echo got INT; exit 0' INT\necho ready\n"
         "while :; do sleep 0.1; done\n");
  const auto config = restart_config(
      dir, "  stop_timeout: 20s\n  plugins:\n    wants_int.sh: {stop_signal: SIGINT}\n");
  auto host = start({"run", "--config", config.string()});
  ASSERT_TRUE(wait_for_line("wants_int.sh", "ready"));
  host->signal(SIGTERM);
  const auto status = host->wait_for(15s);
  ASSERT_TRUE(status) << "SIGINT should have stopped it long before the 20 s stop timeout";
  EXPECT_EQ(exit_code_of(*status), 0);
  const auto events = events_of(records_of("wants_int.sh"));
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[1]["signal"], "SIGINT");
  EXPECT_EQ(events[2]["exit_code"], 0);
  EXPECT_EQ(lines_of("wants_int.sh", "stdout"), (std::vector<std::string>{"ready", "got INT"}));
}

TEST_F(supervision, enabled_false_switches_a_plugin_off) {
  plugin("off.sh", "echo never\n");
  const auto config = dir.write("c.yaml",
                                "runtime_plugin_locations: [plugins]\n"
                                "plughost: {plugins: {off.sh: {enabled: false}}}\n");
  const auto r = run({"list", "--json", "--config", config.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = json::parse(r.out);
  EXPECT_EQ(j["plugins"][0]["decision"], "skip");
  EXPECT_EQ(j["plugins"][0]["reason"], "disabled by plughost.plugins.off.sh.enabled");
}

TEST_F(supervision, bad_policy_values_are_configuration_errors) {
  const auto config = dir.write("c.yaml",
                                "runtime_plugin_locations: [plugins]\n"
                                "plughost:\n  restart: sometimes\n");
  const auto r = run({"list", "--config", config.string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "plughost: error: " + config.string() +
                       ":3:12: restart in plughost: expected one of never, on-failure, always, "
                       "interval, schedule, got the string \"sometimes\"\n");
}

// ---- reload -----------------------------------------------------------------------------------

std::map<std::string, std::vector<json>> started_by_plugin(const std::vector<json>& recs) {
  std::map<std::string, std::vector<json>> out;
  for (const auto& r : recs) {
    if (r.value("event", "") == "started") out[r["plugin"].get<std::string>()].push_back(r);
  }
  return out;
}

TEST_F(supervision, a_plugin_that_failed_still_fails_the_run_after_a_reload_removed_it) {
  plugin("fails.sh", "exit 3\n");
  plugin("long.sh", "echo ready\nexec sleep 300\n");
  auto host = start({"run"});
  ASSERT_TRUE(wait_for_line("long.sh", "ready"));
  ASSERT_TRUE(eventually([&] { return events_of(records_of("fails.sh")).size() == 2; }));
  fs::remove(plugins / "fails.sh");
  host->signal(SIGHUP);
  ASSERT_TRUE(eventually([&] {
    return read_file(dir.path() / "bg.err").find("reloaded: 0 started") != std::string::npos;
  }));
  host->signal(SIGTERM);
  const auto status = host->wait_for(30s);
  ASSERT_TRUE(status);
  EXPECT_EQ(exit_code_of(*status), 1);
}

TEST_F(supervision, two_plugins_of_one_name_in_two_locations_both_run_and_survive_a_reload) {
  const auto other = dir.path() / "other";
  dir.write("other/all_x.sh", "echo from other\nexec sleep 300\n", fs::perms(0755));
  plugin("all_x.sh", "echo from plugins\nexec sleep 300\n");
  auto host = start({"run", "--location", plugins.string(), "--location", other.string(), "--sink",
                     "jsonl:" + records_file.string()});
  ASSERT_TRUE(wait_for_line("all_x.sh", "from plugins"));
  ASSERT_TRUE(wait_for_line("all_x.sh#2", "from other"));
  host->signal(SIGHUP);
  ASSERT_TRUE(eventually([&] {
    return read_file(dir.path() / "bg.err").find("reloaded: 0 started, 0 restarted, 0 stopped") !=
           std::string::npos;
  }));
  host->signal(SIGTERM);
  ASSERT_TRUE(host->wait_for(30s));
  EXPECT_EQ(events_of(records_of("all_x.sh")).front()["event"], "started");
  EXPECT_EQ(events_of(records_of("all_x.sh")).size(), 3u) << "started, stopping, exited: once";
  EXPECT_EQ(events_of(records_of("all_x.sh#2")).size(), 3u);
}

TEST_F(supervision, sighup_reload_starts_stops_and_restarts_exactly_what_changed) {
  const auto loop = std::string("echo ready\nexec sleep 300\n");
  plugin("gone.sh", loop);
  plugin("changed.sh", loop);
  plugin("same.sh", loop);
  plugin("scheduler_only.sh", loop);
  const auto config = dir.write("lmcache.yaml",
                                "runtime_plugin_locations: [plugins]\n"
                                "plughost:\n  sinks: [\"jsonl:" +
                                    records_file.string() + "\"]\n");
  auto host = start({"run", "--config", config.string(), "--role", "SCHEDULER"});
  for (const auto* name : {"gone.sh", "changed.sh", "same.sh", "scheduler_only.sh"}) {
    ASSERT_TRUE(wait_for_line(name, "ready")) << name;
  }
  const auto before = started_by_plugin(records());

  fs::remove(plugins / "gone.sh");
  plugin("changed.sh", "echo ready again\nexec sleep 300\n");
  plugin("new.sh", loop);
  // No longer selected: renamed for another role (a new name: the old one is gone).
  fs::rename(plugins / "scheduler_only.sh", plugins / "worker_only.sh");
  host->signal(SIGHUP);

  ASSERT_TRUE(wait_for_line("new.sh", "ready"));
  ASSERT_TRUE(wait_for_line("changed.sh", "ready again"));
  ASSERT_TRUE(eventually([&] { return events_of(records_of("gone.sh")).size() == 3; }));
  ASSERT_TRUE(eventually([&] { return events_of(records_of("scheduler_only.sh")).size() == 3; }));
  const auto after = started_by_plugin(records());
  EXPECT_EQ(after.at("same.sh").size(), 1u) << "untouched: same pid, no new start";
  EXPECT_EQ(after.at("changed.sh").size(), 2u);
  EXPECT_NE(after.at("changed.sh")[1]["pid"], before.at("changed.sh")[0]["pid"]);
  EXPECT_EQ(after.at("new.sh").size(), 1u);
  EXPECT_EQ(events_of(records_of("gone.sh"))[1]["reason"], "removed");
  EXPECT_EQ(events_of(records_of("changed.sh"))[1]["reason"], "reload");
  EXPECT_EQ(after.count("worker_only.sh"), 0u);
  EXPECT_TRUE(process_alive(before.at("same.sh")[0]["pid"].get<pid_t>()));

  // A configuration that fails to load changes nothing.
  const auto count = records().size();
  dir.write("lmcache.yaml", "runtime_plugin_locations: [plugins\n");
  host->signal(SIGHUP);
  ASSERT_TRUE(eventually([&] {
    return read_file(dir.path() / "bg.err")
               .find(
                   "reload failed, everything keeps running as it "
                   "was: ") != std::string::npos;
  }));
  EXPECT_EQ(records().size(), count);
  EXPECT_TRUE(process_alive(before.at("same.sh")[0]["pid"].get<pid_t>()));

  host->signal(SIGTERM);
  const auto status = host->wait_for(30s);
  ASSERT_TRUE(status);
  EXPECT_EQ(exit_code_of(*status), 0);
  EXPECT_TRUE(processes_with_marker(dir.marker()).empty());
}

}  // namespace
}  // namespace plughost::test
