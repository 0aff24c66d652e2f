// Restarts held back until a plugin's full `block` sink has room: on a real dispatch whose one
// sink is stalled and full for one plugin, and a real io_context. A wait whose plugin has room
// comes due through the loop; one for a full plugin once the sink has written its queue; one
// cancelled, armed again or cleared never comes due (as it was).
#include "supervision/room_timers.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace plughost::detail {
namespace {

using namespace std::chrono_literals;

// Blocks in its first write until released.
class gated_sink : public sink {
 public:
  void write(const record&) override {
    std::unique_lock lock(mutex_);
    entered_ = true;
    changed_.notify_all();
    changed_.wait(lock, [&] { return open_; });
  }
  void flush() override {}
  void wait_entered() {
    std::unique_lock lock(mutex_);
    ASSERT_TRUE(changed_.wait_for(lock, 60s, [&] { return entered_; })) << "never written to";
  }
  void release() {
    const std::lock_guard lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool entered_ = false, open_ = false;
};

void write_lines(record_dispatch& d, const std::string& plugin, int n) {
  record r;
  r.stream = stream::out;
  r.plugin = plugin;
  const std::string text(100, 'x');
  for (int i = 0; i < n; ++i) {
    r.line = text;
    d.write(r);
  }
  d.flush();
}

const timer_key first{timer_key::kind::restart, 1};
const timer_key second{timer_key::kind::restart, 2};

// One `block` sink, stalled with "flood"'s records until it is full for "flood"; "quiet" still
// has room (the last quarter of a queue is kept for the plugins that hold little of it).
class room_timers_test : public ::testing::Test {
 protected:
  room_timers_test() {
    std::vector<named_sink> sinks;
    sinks.push_back({"gate", "gate", gate, queue_policy{64 * 1024, overflow_policy::block}});
    dispatch.open(std::move(sinks));
    write_lines(dispatch, "flood", 1);
    gate->wait_entered();
    for (int i = 0; i < 1000 && dispatch.accepting(dispatch.route_for("flood"), "flood"); ++i) {
      write_lines(dispatch, "flood", 20);
    }
    dispatch.attach(loop.get_executor());
    timers.emplace(dispatch, loop.get_executor(), [this](timer_key k) { due.push_back(k); });
  }
  ~room_timers_test() override {
    timers.reset();
    gate->release();
    dispatch.detach();
    dispatch.close(60s);
  }

  // Lets the sink write its queue, and runs the loop until a waiter of the test's own, waiting
  // for "flood" with the dispatch itself, has had its notice: every wait for "flood" has had
  // its notice then. (Not a wait of room_timers: a new one could take the memory of a waiter
  // freed but left with the dispatch, and hide it.)
  void room_comes() {
    struct flag final : record_dispatch::room_waiter {
      void on_room() override { called = true; }
      bool called = false;
    } control;
    ASSERT_TRUE(dispatch.wait_for_room(control, dispatch.route_for("flood"), "flood"));
    gate->release();
    const auto until = std::chrono::steady_clock::now() + 60s;
    while (!control.called && std::chrono::steady_clock::now() < until) {
      loop.run_for(10ms);
      loop.restart();
    }
    dispatch.cancel_wait(control);  // when it never came: it must not outlive this call
    ASSERT_TRUE(control.called) << "no room came";
    loop.poll();
    loop.restart();
  }

  boost::asio::io_context loop;
  std::shared_ptr<gated_sink> gate = std::make_shared<gated_sink>();
  record_dispatch dispatch;
  std::vector<timer_key> due;
  std::optional<room_timers> timers;
};

TEST_F(room_timers_test, room_is_whether_the_plugins_block_sink_accepts_its_records) {
  EXPECT_FALSE(timers->room("flood"));
  EXPECT_TRUE(timers->room("quiet"));
}

TEST_F(room_timers_test, a_plugin_with_room_comes_due_through_the_loop_not_inside_arm) {
  timers->arm(first, "quiet");
  EXPECT_TRUE(due.empty()) << "due inside arm(): a restart would spawn inside the dispatch";
  loop.poll();
  EXPECT_EQ(due, std::vector<timer_key>{first});
  loop.restart();
  loop.poll();
  EXPECT_EQ(due, std::vector<timer_key>{first}) << "due twice";
}

TEST_F(room_timers_test, a_full_plugin_comes_due_once_its_sink_has_room) {
  timers->arm(first, "flood");
  loop.poll();
  loop.restart();
  EXPECT_TRUE(due.empty());
  room_comes();
  EXPECT_EQ(due, std::vector<timer_key>{first});
}

TEST_F(room_timers_test, a_cancelled_wait_never_comes_due) {
  timers->arm(first, "flood");
  timers->arm(second, "quiet");  // its notice is posted already
  timers->cancel(first);
  timers->cancel(second);
  timers->cancel(timer_key{timer_key::kind::restart, 99});  // never armed: nothing happens
  loop.poll();
  loop.restart();
  room_comes();
  EXPECT_TRUE(due.empty());
}

TEST_F(room_timers_test, a_wait_armed_again_comes_due_once_when_its_latest_plugin_has_room) {
  timers->arm(first, "quiet");  // has room: its notice is posted
  timers->arm(first, "flood");  // the same key again, for a plugin that waits
  loop.poll();
  loop.restart();
  EXPECT_TRUE(due.empty()) << "the notice of the wait armed first came due";
  room_comes();
  EXPECT_EQ(due, std::vector<timer_key>{first});
}

TEST_F(room_timers_test, a_wait_for_a_full_plugin_armed_again_is_not_left_with_the_dispatch) {
  timers->arm(first, "flood");
  timers->arm(first, "flood");
  room_comes();
  EXPECT_EQ(due, std::vector<timer_key>{first});
}

TEST_F(room_timers_test, cleared_or_destroyed_waits_never_come_due) {
  timers->arm(first, "flood");
  timers->arm(second, "quiet");  // its notice is posted already
  timers->clear();
  {
    room_timers other(dispatch, loop.get_executor(), [this](timer_key k) { due.push_back(k); });
    other.arm(timer_key{timer_key::kind::restart, 4}, "flood");
  }
  room_comes();
  EXPECT_TRUE(due.empty());
}

}  // namespace
}  // namespace plughost::detail
