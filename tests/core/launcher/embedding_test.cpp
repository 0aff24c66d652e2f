// What a program that embeds the launcher gets: records through its own sink, plughost's messages
// through its handler, a run on the launcher's own thread with a status to show, and no change
// to the process it did not ask for.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "launcher_options.hpp"
#include "plughost/error.hpp"
#include "plughost/launcher.hpp"
#include "plughost/record.hpp"
#include "plughost/sink.hpp"
#include "test_support.hpp"

namespace plughost {
namespace {

using test::temp_dir;
namespace fs = std::filesystem;

using test::options_for;

// What a program sink was given, copied (records are views).
struct seen_records {
  std::mutex mutex;
  std::vector<std::string> lines;   // "plugin stream line"
  std::vector<std::string> events;  // "plugin event"
  std::shared_ptr<plughost::sink> collector() {
    return callback_sink([this](const record& r) {
      const std::lock_guard lock(mutex);
      if (r.stream == stream::event) {
        events.push_back(std::string(r.plugin) + " " + std::string(r.event));
      } else {
        lines.push_back(std::string(r.plugin) + " " + std::string(to_string(r.stream)) + " " +
                        std::string(r.line));
      }
    });
  }
  bool has_line(const std::string& l) {
    const std::lock_guard lock(mutex);
    return std::find(lines.begin(), lines.end(), l) != lines.end();
  }
  bool has_event(const std::string& e) {
    const std::lock_guard lock(mutex);
    return std::find(events.begin(), events.end(), e) != events.end();
  }
};

// Standard error of this process, redirected to a file while it lives.
class captured_stderr {
 public:
  explicit captured_stderr(const fs::path& file) : file_(file) {
    std::fflush(stderr);
    saved_ = ::dup(2);
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ::dup2(fd, 2);
    ::close(fd);
  }
  ~captured_stderr() { restore(); }
  std::string text() {
    restore();
    return test::read_file(file_);
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
  }
  fs::path file_;
  int saved_ = -1;
};

TEST(embedding, a_program_sink_gets_every_record_beside_the_configured_sinks) {
  temp_dir dir;
  dir.write("plugins/talk.sh", "echo out line\necho err line >&2\n", fs::perms(0755));
  seen_records seen;
  auto o = options_for(dir);
  o.program_sinks.push_back({"mine", seen.collector()});
  launcher l(o);
  EXPECT_EQ(l.run(), 0);
  EXPECT_TRUE(seen.has_line("talk.sh stdout out line"));
  EXPECT_TRUE(seen.has_line("talk.sh stderr err line"));
  EXPECT_TRUE(seen.has_event("talk.sh started"));
  EXPECT_TRUE(seen.has_event("talk.sh exited"));
  // The configured sink still has them.
  const auto text = test::read_file(dir.path() / "records.jsonl");
  EXPECT_NE(text.find("\"line\":\"out line\""), std::string::npos) << text;
}

TEST(embedding, without_configured_sinks_only_the_program_sink_gets_records) {
  temp_dir dir;
  dir.write("plugins/talk.sh", "echo out line\n", fs::perms(0755));
  seen_records seen;
  auto o = options_for(dir);
  o.program_sinks.push_back({"mine", seen.collector()});
  o.configured_sinks = false;
  launcher l(o);
  EXPECT_EQ(l.run(), 0);
  EXPECT_TRUE(seen.has_line("talk.sh stdout out line"));
  EXPECT_FALSE(fs::exists(dir.path() / "records.jsonl"));
}

TEST(embedding, a_program_sink_without_a_sink_or_with_a_taken_name_is_refused) {
  temp_dir dir;
  auto o = options_for(dir);
  o.program_sinks.push_back({"mine", nullptr});
  EXPECT_THROW(launcher{o}, usage_error);
  seen_records seen;
  o.program_sinks = {{"jsonl", seen.collector()}};  // --sink jsonl:... is named jsonl
  try {
    launcher l(o);
    FAIL() << "a second sink named jsonl was accepted";
  } catch (const usage_error& e) {
    EXPECT_EQ(std::string(e.what()), "program sink 'jsonl': another sink has that name");
  }
  o.program_sinks = {{"mine", seen.collector(), 1024}};
  EXPECT_THROW(launcher{o}, usage_error);
}

TEST(embedding, diagnostics_go_to_the_handler_with_their_level_and_not_to_stderr) {
  temp_dir dir;
  dir.write("plugins/x.sh", "exit 0\n", fs::perms(0755));
  std::mutex mutex;
  std::vector<std::pair<diagnostic_level, std::string>> said;
  auto o = options_for(dir);
  o.worker_id = 5;  // a warning: not below the worker count
  o.diagnostics = [&](diagnostic_level level, std::string_view message) {
    const std::lock_guard lock(mutex);
    said.emplace_back(level, std::string(message));
  };
  captured_stderr err(dir.path() / "stderr");
  {
    launcher l(o);
    EXPECT_EQ(l.run(), 0);
  }
  const auto on_stderr = err.text();
  EXPECT_EQ(on_stderr, "");
  const std::lock_guard lock(mutex);
  ASSERT_FALSE(said.empty());
  EXPECT_EQ(said[0].first, diagnostic_level::warning);
  EXPECT_EQ(said[0].second, "worker id 5 is not below the worker count 1");
}

TEST(embedding, diagnostics_from_the_run_and_the_sink_threads_reach_the_handler_too) {
  temp_dir dir;
  dir.write("plugins/x.sh", "echo a line\n", fs::perms(0755));
  std::mutex mutex;
  std::vector<std::pair<diagnostic_level, std::string>> said;
  auto o = options_for(dir);
  o.program_sinks.push_back(
      {"broken", callback_sink([](const record&) { throw std::runtime_error("no room"); })});
  o.diagnostics = [&](diagnostic_level level, std::string_view message) {
    const std::lock_guard lock(mutex);
    said.emplace_back(level, std::string(message));
  };
  captured_stderr err(dir.path() / "stderr");
  {
    launcher l(o);
    l.start();
    EXPECT_EQ(l.wait(), 3);  // records were lost
  }
  EXPECT_EQ(err.text(), "");
  const std::lock_guard lock(mutex);
  const auto has = [&](diagnostic_level level, const std::string& start) {
    return std::any_of(said.begin(), said.end(), [&](const auto& s) {
      return s.first == level && s.second.rfind(start, 0) == 0;
    });
  };
  EXPECT_TRUE(has(diagnostic_level::error, "sink broken failed in write: no room")) << said.size();
  EXPECT_TRUE(has(diagnostic_level::error, "sink broken: ")) << said.size();
}

TEST(embedding, start_runs_on_the_launchers_thread_and_status_follows_the_plugins) {
  temp_dir dir;
  dir.write("plugins/stay.sh", "echo ready\nexec sleep 300\n", fs::perms(0755));
  dir.write("plugins/crash.sh", "exit 3\n", fs::perms(0755));
  dir.write("plughost.yaml",
            "plughost:\n  plugins:\n    crash.sh:\n      restart: on-failure\n"
            "      restart_delay: 30s\n      max_restarts: 5\n");
  auto o = options_for(dir);
  o.config_file = dir.path() / "plughost.yaml";
  launcher l(o);
  EXPECT_EQ(l.status().phase, launcher_phase::not_started);
  l.start();
  const auto find = [](const launcher_status& s, const std::string& name) {
    for (const auto& p : s.plugins) {
      if (p.name == name) return p;
    }
    return plugin_status{};
  };
  const bool settled = test::eventually([&] {
    const auto s = l.status();
    return find(s, "stay.sh").state == plugin_state::running &&
           find(s, "crash.sh").state == plugin_state::backoff;
  });
  const auto s = l.status();
  l.stop();
  const int code = l.wait();
  ASSERT_TRUE(settled) << to_json(s);
  EXPECT_EQ(s.phase, launcher_phase::running);
  const auto stay = find(s, "stay.sh");
  EXPECT_GT(stay.pid, 0);
  EXPECT_TRUE(stay.since.has_value());
  EXPECT_EQ(stay.restarts, 0u);
  const auto crash = find(s, "crash.sh");
  EXPECT_EQ(crash.last_exit_code, 3);
  EXPECT_EQ(crash.pid, 0);
  ASSERT_TRUE(crash.next_restart.has_value());
  EXPECT_GT(*crash.next_restart, std::chrono::system_clock::now() + std::chrono::seconds(20));
  const auto j = nlohmann::json::parse(to_json(s));
  EXPECT_EQ(j["plugins"][0]["name"], "crash.sh");
  EXPECT_EQ(j["plugins"][0]["last_exit_code"], 3);
  EXPECT_EQ(code, 0);  // stopped while waiting to restart: not a failure for good
  const auto after = l.status();
  EXPECT_EQ(after.phase, launcher_phase::finished);
  EXPECT_EQ(find(after, "stay.sh").state, plugin_state::stopped);
  EXPECT_EQ(find(after, "stay.sh").last_signal, "SIGTERM");
  EXPECT_TRUE(test::processes_with_marker(dir.marker()).empty());
}

TEST(embedding, restarts_count_in_status) {
  temp_dir dir;
  dir.write("plugins/crash.sh", "exit 4\n", fs::perms(0755));
  dir.write("plughost.yaml",
            "plughost:\n  plugins:\n    crash.sh:\n      restart: on-failure\n"
            "      restart_delay: 10ms\n      max_restarts: 2\n");
  auto o = options_for(dir);
  o.config_file = dir.path() / "plughost.yaml";
  launcher l(o);
  l.start();
  EXPECT_EQ(l.wait(), 1);  // gave up
  const auto s = l.status();
  ASSERT_EQ(s.plugins.size(), 1u);
  EXPECT_EQ(s.plugins[0].state, plugin_state::failed);
  EXPECT_EQ(s.plugins[0].restarts, 2u);
  EXPECT_EQ(s.plugins[0].last_exit_code, 4);
}

TEST(embedding, run_or_start_twice_is_refused_and_wait_needs_start) {
  temp_dir dir;
  dir.write("plugins/x.sh", "exit 0\n", fs::perms(0755));
  launcher l(options_for(dir));
  EXPECT_THROW(l.wait(), usage_error);
  l.start();
  EXPECT_THROW(l.start(), usage_error);
  EXPECT_EQ(l.wait(), 0);
  EXPECT_EQ(l.wait(), 0);
  EXPECT_THROW(l.run(), usage_error);
}

TEST(embedding, destroying_a_started_launcher_stops_its_plugins) {
  temp_dir dir;
  dir.write("plugins/stay.sh", "echo ready\nexec sleep 300\n", fs::perms(0755));
  seen_records seen;
  auto o = options_for(dir);
  o.program_sinks.push_back({"mine", seen.collector()});
  {
    launcher l(o);
    l.start();
    ASSERT_TRUE(test::eventually([&] { return seen.has_line("stay.sh stdout ready"); }));
  }
  EXPECT_TRUE(seen.has_event("stay.sh exited"));
  EXPECT_TRUE(test::processes_with_marker(dir.marker()).empty());
}

struct process_effects {
  int subreaper = -1;
  bool sigchld_handled = false;
  rlim_t open_files = 0;
  static process_effects now() {
    process_effects e;
    ::prctl(PR_GET_CHILD_SUBREAPER, &e.subreaper);
    struct sigaction sa {};
    ::sigaction(SIGCHLD, nullptr, &sa);
    e.sigchld_handled = sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN;
    struct rlimit r {};
    ::getrlimit(RLIMIT_NOFILE, &r);
    e.open_files = r.rlim_cur;
    return e;
  }
};

TEST(embedding, a_running_launcher_leaves_the_process_as_it_was_unless_asked) {
  struct rlimit low {};
  ::getrlimit(RLIMIT_NOFILE, &low);
  const auto saved = low;
  if (low.rlim_max < 2048) GTEST_SKIP() << "the hard open-file limit is too low to see a raise";
  low.rlim_cur = 1024;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  for (const bool asked : {false, true}) {
    temp_dir dir;
    dir.write("plugins/stay.sh", "echo ready\nexec sleep 300\n", fs::perms(0755));
    seen_records seen;
    auto o = options_for(dir);
    o.program_sinks.push_back({"mine", seen.collector()});
    o.child_subreaper_and_sigchld_handler = asked;
    o.raise_open_file_limit = asked;
    launcher l(o);
    l.start();
    ASSERT_TRUE(test::eventually([&] { return seen.has_line("stay.sh stdout ready"); }));
    // The subreaper flag is the thread's process's; read from this thread, as any thread would.
    const auto during = process_effects::now();
    l.stop();
    EXPECT_EQ(l.wait(), 0);
    const auto after = process_effects::now();  // the launcher still exists
    EXPECT_EQ(during.subreaper, asked ? 1 : 0) << asked;
    EXPECT_EQ(during.sigchld_handled, asked) << asked;
    EXPECT_EQ(during.open_files, asked ? low.rlim_max : rlim_t{1024}) << asked;
    EXPECT_EQ(after.subreaper, 0) << asked;
    EXPECT_FALSE(after.sigchld_handled) << asked;
    EXPECT_EQ(after.open_files, rlim_t{1024}) << asked;
    EXPECT_TRUE(test::processes_with_marker(dir.marker()).empty());
  }
  ::setrlimit(RLIMIT_NOFILE, &saved);
}

TEST(embedding, without_the_sigchld_handler_a_plugins_background_process_is_followed) {
  // The main process exits and leaves a process in its group, which becomes init's: plughost
  // sees the exit through the pidfd, delivers what the background process writes later, and
  // ends the run once the group is empty (it looks again now and then).
  temp_dir dir;
  dir.write("plugins/leave.sh", "(sleep 0.3; echo late) &\necho left\n", fs::perms(0755));
  seen_records seen;
  auto o = options_for(dir);
  o.program_sinks.push_back({"mine", seen.collector()});
  launcher l(o);
  l.start();
  EXPECT_EQ(l.wait(), 0);
  EXPECT_TRUE(seen.has_line("leave.sh stdout left"));
  EXPECT_TRUE(seen.has_line("leave.sh stdout late"));
  EXPECT_TRUE(seen.has_event("leave.sh exited"));
  EXPECT_TRUE(test::processes_with_marker(dir.marker()).empty());
}

TEST(embedding, without_the_sigchld_handler_a_background_process_without_pipes_keeps_the_run) {
  // Nothing of the plugin holds a pipe and its processes are init's children: only looking at
  // the group again tells when it is empty. The run must not end before.
  temp_dir dir;
  dir.write("plugins/detach.sh", "sleep 1 </dev/null >/dev/null 2>&1 &\necho main exits\n",
            fs::perms(0755));
  seen_records seen;
  auto o = options_for(dir);
  o.program_sinks.push_back({"mine", seen.collector()});
  launcher l(o);
  l.start();
  EXPECT_EQ(l.wait(), 0);
  EXPECT_TRUE(test::processes_with_marker(dir.marker()).empty());  // not one second earlier
  EXPECT_EQ(l.status().phase, launcher_phase::finished);
}

TEST(embedding, a_slow_program_sink_is_waited_for_never_left_behind) {
  // Configured sinks still busy 4 s after the plugins stopped are left behind; the program's
  // own are waited for: once wait() returned, nothing runs the program's code any more.
  temp_dir dir;
  dir.write("plugins/x.sh", "echo one\n", fs::perms(0755));
  std::atomic<bool> in_write{false}, returned{false};
  auto o = options_for(dir);
  o.program_sinks.push_back({"slow", callback_sink([&](const record& r) {
                               if (r.stream != stream::out) return;
                               in_write = true;
                               std::this_thread::sleep_for(std::chrono::milliseconds(5500));
                               returned = true;
                             })});
  launcher l(o);
  l.start();
  const int code = l.wait();
  EXPECT_TRUE(in_write);
  EXPECT_TRUE(returned);
  EXPECT_EQ(code, 0);  // nothing lost
}

TEST(embedding, wait_from_a_callback_is_refused_rather_than_waiting_for_itself) {
  temp_dir dir;
  dir.write("plugins/x.sh", "echo one\n", fs::perms(0755));
  launcher* self = nullptr;
  std::mutex mutex;
  std::string refused;
  auto o = options_for(dir);
  o.program_sinks.push_back({"mine", callback_sink([&](const record& r) {
                               if (r.stream != stream::out) return;
                               try {
                                 self->wait();
                               } catch (const usage_error& e) {
                                 const std::lock_guard lock(mutex);
                                 refused = e.what();
                               }
                             })});
  launcher l(o);
  self = &l;
  l.start();
  EXPECT_EQ(l.wait(), 0);
  const std::lock_guard lock(mutex);
  EXPECT_EQ(refused,
            "wait() called from one of the launcher's own threads (a sink or a diagnostics "
            "handler) would wait for itself");
}

TEST(embedding, status_answers_from_the_last_snapshot_while_a_handler_holds_the_loop) {
  // A diagnostics handler runs on the loop thread; while it blocks, status() cannot be taken
  // there: after a second it gives the last snapshot instead of waiting (the handler waits for
  // status() to have returned, so waiting for the loop would never end).
  temp_dir dir;
  dir.write("plugins/stay.sh", "echo ready\nexec sleep 300\n", fs::perms(0755));
  dir.write("plughost.yaml", "plughost: {}\n");
  std::mutex mutex;
  std::condition_variable changed;
  bool in_handler = false, status_returned = false;
  seen_records seen;
  auto o = options_for(dir);
  o.config_file = dir.path() / "plughost.yaml";
  o.program_sinks.push_back({"mine", seen.collector()});
  o.diagnostics = [&](diagnostic_level, std::string_view message) {
    if (message.find("reload failed") == std::string_view::npos) return;
    std::unique_lock lock(mutex);
    in_handler = true;
    changed.notify_all();
    changed.wait_for(lock, std::chrono::seconds(60), [&] { return status_returned; });
  };
  launcher l(o);
  l.start();
  ASSERT_TRUE(test::eventually([&] { return seen.has_line("stay.sh stdout ready"); }));
  dir.write("plughost.yaml", "plughost: [\n");  // the reload fails, and says so
  l.reload();
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(changed.wait_for(lock, std::chrono::seconds(60), [&] { return in_handler; }));
  }
  const auto called = std::chrono::system_clock::now();
  const auto s = l.status();
  {
    const std::lock_guard lock(mutex);
    status_returned = true;
  }
  changed.notify_all();
  l.stop();
  EXPECT_EQ(l.wait(), 0);
  EXPECT_EQ(s.phase, launcher_phase::running);
  ASSERT_EQ(s.plugins.size(), 1u);
  EXPECT_EQ(s.plugins[0].state, plugin_state::running);
  ASSERT_TRUE(s.taken.has_value());
  EXPECT_LT(*s.taken, called);  // the last snapshot, taken before the call
}

TEST(embedding, reload_before_the_run_does_nothing_and_stop_before_it_ends_it) {
  temp_dir dir;
  dir.write("plugins/x.sh", "echo one\n", fs::perms(0755));
  std::mutex mutex;
  std::vector<std::string> said;
  auto o = options_for(dir);
  o.diagnostics = [&](diagnostic_level, std::string_view message) {
    const std::lock_guard lock(mutex);
    said.emplace_back(message);
  };
  {
    launcher l(o);
    l.reload();
    l.start();
    EXPECT_EQ(l.wait(), 0);
  }
  for (const auto& m : said) EXPECT_EQ(m.find("reload"), std::string::npos) << m;
  launcher l(o);
  l.stop();
  l.start();
  EXPECT_EQ(l.wait(), 0);
  EXPECT_EQ(l.status().phase, launcher_phase::finished);
  EXPECT_TRUE(l.status().plugins.empty());
}

}  // namespace
}  // namespace plughost
