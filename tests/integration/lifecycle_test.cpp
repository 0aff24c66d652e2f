// Starting and stopping real plugin processes: exit codes, SIGTERM/SIGINT to the host, the
// stop timeout, and nothing left behind in a plugin's process group.
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>

#include "integration.hpp"

namespace plughost::test {
namespace {

using namespace std::chrono_literals;
using lifecycle = plughost_run;

std::optional<json> event_of(const std::vector<json>& recs, const std::string& name) {
  for (const auto& r : recs) {
    if (r["stream"] == "event" && r["event"] == name) return r;
  }
  return std::nullopt;
}

int exit_code_of(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST_F(lifecycle, exit_code_is_0_when_every_plugin_ends_with_0) {
  plugin("a.sh", "exit 0\n");
  plugin("b.py", "print('done')\n");
  EXPECT_EQ(run({"run"}).exit_code, 0);
}

TEST_F(lifecycle, exit_code_is_1_when_a_plugin_fails_and_the_others_still_run) {
  plugin("fails.sh", "echo failing; exit 3\n");
  plugin("works.sh", "sleep 0.5; echo worked\n");
  const auto r = run({"run"});
  EXPECT_EQ(r.exit_code, 1);
  const auto failed = event_of(records_of("fails.sh"), "exited");
  ASSERT_TRUE(failed);
  EXPECT_EQ((*failed)["exit_code"], 3);
  EXPECT_EQ(lines_of("works.sh", "stdout"), std::vector<std::string>{"worked"});
}

TEST_F(lifecycle, a_plugin_killed_by_a_signal_is_a_failure_named_by_the_signal) {
  plugin("crash.sh", "kill -SEGV $$\n");
  EXPECT_EQ(run({"run"}).exit_code, 1);
  const auto exited = event_of(records_of("crash.sh"), "exited");
  ASSERT_TRUE(exited);
  EXPECT_EQ((*exited)["signal"], "SIGSEGV");
  EXPECT_FALSE(exited->contains("exit_code"));
}

TEST_F(lifecycle, a_plugin_without_interpreter_is_an_error_and_the_others_still_run) {
  // PATH holds bash only: the .py plugin (no shebang) has no interpreter.
  fs::create_directories(dir.path() / "bin");
  fs::create_symlink("/bin/bash", dir.path() / "bin" / "bash");
  for (auto& e : env) {
    if (e.rfind("PATH=", 0) == 0) e = "PATH=" + (dir.path() / "bin").string();
  }
  plugin("nointerp.py", "print('never')\n");
  plugin("fine.sh", "echo fine\n");
  const auto r = run({"run"});
  EXPECT_EQ(r.exit_code, 1);
  const auto error = event_of(records_of("nointerp.py"), "error");
  ASSERT_TRUE(error);
  EXPECT_EQ((*error)["message"], "no interpreter found: tried python3, python on PATH");
  EXPECT_TRUE((*error)["pid"].is_null());
  EXPECT_EQ(lines_of("fine.sh", "stdout"), std::vector<std::string>{"fine"});
  EXPECT_NE(r.err.find("plughost: error: plugin nointerp.py: no interpreter found"),
            std::string::npos)
      << r.err;
}

TEST_F(lifecycle, an_exec_failure_is_an_error_record_and_the_others_still_run) {
  // The shebang names an executable file that the kernel cannot run (no shebang, not ELF):
  // the plan accepts it, exec fails with ENOEXEC in the child.
  const auto fake = dir.write("bin/fake-interpreter", "just text\n", fs::perms(0755));
  plugin("cannot_exec.sh", "#!" + fake.string() + "\necho never\n");
  plugin("fine.sh", "echo fine\n");
  const auto r = run({"run"});
  EXPECT_EQ(r.exit_code, 1);
  const auto error = event_of(records_of("cannot_exec.sh"), "error");
  ASSERT_TRUE(error) << r.err;
  EXPECT_EQ((*error)["message"], "cannot start " + fake.string() + ": Exec format error");
  EXPECT_EQ(lines_of("fine.sh", "stdout"), std::vector<std::string>{"fine"});
  EXPECT_EQ(r.out, "") << "nothing of the host's was flushed twice by a failed child";
}

TEST_F(lifecycle, skipped_plugins_are_recorded_with_their_reason) {
  plugin("scheduler_only.sh", "echo never\n");
  plugin("worker_1_job.sh", "echo never\n");
  plugin("worker_0_job.sh", "echo ran\n");
  ASSERT_EQ(run({"run", "--role", "WORKER", "--worker-id", "0"}).exit_code, 0);
  EXPECT_EQ((*event_of(records_of("scheduler_only.sh"), "skipped"))["reason"],
            "requires role SCHEDULER");
  EXPECT_EQ((*event_of(records_of("worker_1_job.sh"), "skipped"))["reason"], "only for worker 1");
  EXPECT_EQ(lines_of("worker_0_job.sh", "stdout"), std::vector<std::string>{"ran"});
}

TEST_F(lifecycle, sigterm_stops_a_plugin_that_ignores_it_within_the_stop_timeout) {
  // The trap makes bash and the sleeps it starts ignore SIGTERM: only SIGKILL ends them.
  plugin("stubborn.sh", "trap '' TERM\necho ready\nwhile :; do sleep 0.2; done\n");
  plugin("polite.py",
         "import signal, sys, time\n"
         "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\n"
         "print('ready')\n"
         "while True: time.sleep(0.1)\n");
  auto host = start({"run", "--stop-timeout", "1"});
  ASSERT_TRUE(wait_for_line("stubborn.sh", "ready"));
  ASSERT_TRUE(wait_for_line("polite.py", "ready"));
  const auto sent = std::chrono::steady_clock::now();
  host->signal(SIGTERM);
  const auto status = host->wait_for(30s);
  const auto took = std::chrono::steady_clock::now() - sent;
  ASSERT_TRUE(status) << "plughost did not exit";
  EXPECT_EQ(exit_code_of(*status), 0) << "plugins stopped by plughost are not failures";
  // Generous bound from the contract (stop timeout + 1 s): it only catches a stop that hangs.
  EXPECT_LT(took, 2s);
  EXPECT_EQ((*event_of(records_of("stubborn.sh"), "exited"))["signal"], "SIGKILL");
  EXPECT_EQ((*event_of(records_of("polite.py"), "exited"))["exit_code"], 0);
  EXPECT_TRUE(processes_with_marker(dir.marker()).empty());
}

// Starting many plugins takes a while (a second for a thousand here): a stop asked for meanwhile
// is not left waiting until the last one has started.
TEST_F(lifecycle, a_stop_during_start_up_stops_starting) {
  constexpr int count = 1500;
  plugin("0_first.sh", "touch \"$0.ran\"\nexec sleep 1000\n");
  for (int i = 0; i < count - 1; ++i) plugin(fmt::format("p{:04}.sh", i), "exec sleep 1000\n");
  auto host = start({"run"});
  ASSERT_TRUE(eventually([&] { return fs::exists(plugins / "0_first.sh.ran"); }));
  host->signal(SIGTERM);
  const auto status = host->wait_for(60s);
  ASSERT_TRUE(status) << "plughost did not exit";
  EXPECT_EQ(exit_code_of(*status), 0);
  int started = 0;
  for (const auto& r : records()) started += r.value("event", "") == "started";
  EXPECT_LT(started, count) << "every plugin was started before the stop was seen";
  EXPECT_TRUE(processes_with_marker(dir.marker()).empty());
}

TEST_F(lifecycle, sigint_stops_plugins_like_sigterm) {
  plugin("loop.sh", "echo ready\nwhile :; do sleep 0.2; done\n");
  auto host = start({"run"});
  ASSERT_TRUE(wait_for_line("loop.sh", "ready"));
  host->signal(SIGINT);
  const auto status = host->wait_for(30s);
  ASSERT_TRUE(status);
  EXPECT_EQ(exit_code_of(*status), 0);
  EXPECT_EQ((*event_of(records_of("loop.sh"), "exited"))["signal"], "SIGTERM");
  EXPECT_TRUE(processes_with_marker(dir.marker()).empty());
}

TEST_F(lifecycle, a_grandchild_in_the_plugins_process_group_is_gone_after_stop) {
  // One grandchild that ignores SIGTERM and keeps the output pipe open, one that does not.
  plugin("parent.sh",
         "(trap '' TERM; exec sleep 300) &\n"
         "echo $! > \"$0.stubborn\"\n"
         "sleep 301 &\n"
         "echo $! > \"$0.plain\"\n"
         "echo ready\n"
         "wait\n");
  auto host = start({"run", "--stop-timeout", "1"});
  ASSERT_TRUE(wait_for_line("parent.sh", "ready"));
  const pid_t stubborn = std::stoi(read_file(plugins / "parent.sh.stubborn"));
  const pid_t plain = std::stoi(read_file(plugins / "parent.sh.plain"));
  ASSERT_TRUE(process_alive(stubborn));
  ASSERT_TRUE(process_alive(plain));
  host->signal(SIGTERM);
  const auto status = host->wait_for(30s);
  ASSERT_TRUE(status);
  EXPECT_EQ(exit_code_of(*status), 0);
  EXPECT_FALSE(process_alive(plain));
  EXPECT_FALSE(process_alive(stubborn));
  EXPECT_TRUE(processes_with_marker(dir.marker()).empty());
}

TEST_F(lifecycle, a_plugin_that_daemonizes_in_its_group_runs_until_shutdown_then_is_stopped) {
  // The main process exits at once, leaving a background process in its group (and holding
  // nothing of plughost's: its output goes to /dev/null). The run goes on while it lives.
  plugin("daemon.sh",
         "(sleep 300 > /dev/null 2>&1 &\n echo $! > \"$0.pid\")\n"
         "echo detached\n"
         "exit 0\n");
  auto host = start({"run"});
  ASSERT_TRUE(wait_for_line("daemon.sh", "detached"));
  ASSERT_TRUE(eventually([&] { return fs::exists(plugins / "daemon.sh.pid"); }));
  ASSERT_TRUE(eventually([&] {
    const auto recs = records_of("daemon.sh");
    return !recs.empty() && recs.back()["event"] == "exited";
  }));
  const pid_t daemon = std::stoi(read_file(plugins / "daemon.sh.pid"));
  EXPECT_TRUE(process_alive(daemon));
  EXPECT_FALSE(host->wait_for(std::chrono::milliseconds(300))) << "plughost ended too early";
  host->signal(SIGTERM);
  const auto status = host->wait_for(30s);
  ASSERT_TRUE(status);
  EXPECT_EQ(exit_code_of(*status), 0);
  EXPECT_FALSE(process_alive(daemon));
  EXPECT_TRUE(processes_with_marker(dir.marker()).empty());
}

TEST_F(lifecycle, run_ends_when_the_last_process_of_every_group_has_ended) {
  // The background process outlives the plugin by a little and then ends by itself: plughost,
  // its subreaper, reaps it and returns.
  plugin("lingers.sh", "(sleep 0.5; echo late) &\necho early\nexit 0\n");
  const auto r = run({"run"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lines_of("lingers.sh", "stdout"), (std::vector<std::string>{"early", "late"}));
  const auto recs = records_of("lingers.sh");
  ASSERT_GE(recs.size(), 4u);
  EXPECT_EQ(recs[2]["event"], "exited") << "the exit comes before the late line";
  EXPECT_TRUE(processes_with_marker(dir.marker()).empty());
}

TEST_F(lifecycle, with_nothing_to_run_it_returns_at_once) {
  plugin("readme.txt", "not a plugin\n");
  const auto r = run({"run"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.err.find("no plugins to start"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace plughost::test
