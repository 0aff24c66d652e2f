// The supervisor on its event loop with real processes: what the loop does while a reload's
// configuration is being read.
#include "supervision/supervisor.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "plughost/error.hpp"
#include "plughost/sink_helpers.hpp"
#include "test_support.hpp"

namespace plughost::detail {
namespace {

launch_item sleeper(const std::string& name, const std::string& marker) {
  launch_item item;
  item.name = name;
  item.argv = {"/bin/sleep", "300"};
  item.environment.own = {marker, "PATH=/usr/bin:/bin"};
  item.policy.stop_timeout = std::chrono::seconds(2);
  item.fingerprint = name;
  return item;
}

// A door the reload callback waits at until the test opens it.
struct gate {
  std::mutex mutex;
  std::condition_variable changed;
  bool entered = false;
  bool open = false;

  void enter_and_wait() {
    std::unique_lock lock(mutex);
    entered = true;
    changed.notify_all();
    changed.wait(lock, [&] { return open; });
  }
  bool wait_entered() {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, std::chrono::seconds(10), [&] { return entered; });
  }
  void let_through() {
    const std::lock_guard lock(mutex);
    open = true;
    changed.notify_all();
  }
};

std::string state_of(const launcher_status& s, const std::string& plugin) {
  for (const auto& p : s.plugins) {
    if (p.name == plugin) return std::string(to_string(p.state));
  }
  return "";
}

// Reading the configuration for a reload (a slow disk, modules to load) happens beside the loop:
// meanwhile status() is answered afresh and a plugin is stopped by hand; then the plan applies.
TEST(supervisor, the_loop_answers_while_a_reload_is_planned) {
  const test::temp_dir dir;  // its marker finds the plugins' processes
  const auto marker = dir.marker();
  record_dispatch out;
  out.open({{"test", "test", callback_sink([](const record&) {}), {}, {}, true}});
  gate reading;
  supervisor_options options;
  options.reload = [&](const std::atomic<bool>&) {
    reading.enter_and_wait();
    return std::vector{sleeper("a", marker), sleeper("b", marker), sleeper("c", marker)};
  };
  supervisor s(out, options);
  bool ok = false;
  std::thread loop([&] { ok = s.run({sleeper("a", marker), sleeper("b", marker)}); });
  ASSERT_TRUE(test::eventually([&] { return state_of(s.status(), "b") == "running"; }));

  s.reload();
  ASSERT_TRUE(reading.wait_entered());
  const auto asked = std::chrono::system_clock::now();
  const auto during = s.status();
  ASSERT_TRUE(during.taken.has_value());
  EXPECT_GE(*during.taken, asked) << "the loop did not answer status() while planning";
  std::string stopped;
  EXPECT_NO_THROW(stopped = s.act(supervisor::by_hand::stop, "b"));
  EXPECT_EQ(stopped, "stopping");

  reading.let_through();
  EXPECT_TRUE(test::eventually([&] { return state_of(s.status(), "c") == "running"; }));
  s.stop();
  loop.join();
  out.close(std::chrono::seconds(5));
  EXPECT_TRUE(ok);
  EXPECT_TRUE(test::processes_with_marker(marker).empty());
}

// Reloads asked for while one is being planned are merged into one more planning after it (it
// reads the configuration as it is then).
TEST(supervisor, reloads_asked_for_while_planning_are_planned_once_more) {
  const test::temp_dir dir;
  const auto marker = dir.marker();
  record_dispatch out;
  out.open({{"test", "test", callback_sink([](const record&) {}), {}, {}, true}});
  gate first;
  std::atomic<int> plans{0};
  supervisor_options options;
  options.reload = [&](const std::atomic<bool>&) {
    if (++plans == 1) {
      first.enter_and_wait();
      return std::vector{sleeper("a", marker)};
    }
    return std::vector{sleeper("a", marker), sleeper("b", marker)};
  };
  supervisor s(out, options);
  std::thread loop([&] { s.run({sleeper("a", marker)}); });
  ASSERT_TRUE(test::eventually([&] { return state_of(s.status(), "a") == "running"; }));

  s.reload();
  ASSERT_TRUE(first.wait_entered());
  s.reload();
  s.reload();
  // Both requests have reached the loop once a status() asked after them is answered.
  EXPECT_TRUE(test::eventually([&] { return s.status().plugins.size() == 1; }));
  first.let_through();
  EXPECT_TRUE(test::eventually([&] { return state_of(s.status(), "b") == "running"; }));
  EXPECT_EQ(plans, 2);
  // Nothing is being planned: one that is waited for plans again, and says what it changed.
  EXPECT_EQ(s.reload_now(), "reloaded: 0 started, 0 restarted, 0 stopped");
  EXPECT_EQ(plans, 3);
  s.stop();
  loop.join();
  out.close(std::chrono::seconds(5));
}

}  // namespace
}  // namespace plughost::detail
