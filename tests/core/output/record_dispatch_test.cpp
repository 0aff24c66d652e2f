// The fan-out as a whole: a sink that close() leaves behind keeps its records readable after
// the dispatch is gone, and what it held (the batch in its hands too) is counted as lost; a
// sink's queue is shared fairly between a plugin that floods it and one that writes little.
#include "output/record_dispatch.hpp"

#include <gtest/gtest.h>
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "plughost/events.hpp"

namespace plughost::detail {
namespace {

using namespace std::chrono_literals;

// Blocks in its first write until released; then records what it is given.
class gated_sink : public sink {
 public:
  void write(const record& r) override {
    std::unique_lock lock(mutex_);
    if (!entered_) {
      entered_ = true;
      changed_.notify_all();
    }
    changed_.wait(lock, [&] { return open_; });
    lines_.push_back(std::string(r.plugin) + ": " + std::string(r.line));
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
  std::vector<std::string> lines() {
    const std::lock_guard lock(mutex_);
    return lines_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool entered_ = false, open_ = false;
  std::vector<std::string> lines_;
};

TEST(record_dispatch, a_sink_left_behind_counts_what_it_holds_as_lost_and_outlives_the_dispatch) {
  auto gate = std::make_shared<gated_sink>();
  constexpr int per_batch = 100;
  const std::string names[] = {"alpha", "bravo"};
  {
    record_dispatch dispatch;
    std::vector<named_sink> sinks;
    sinks.push_back({"gate", "gate", gate, {}});
    // A route of its own per plugin: the batches point into the dispatch's route table.
    dispatch.open(std::move(sinks), {{"alpha", {"gate"}}, {"bravo", {"gate"}}});
    record r;
    r.stream = stream::out;
    for (int batch = 0; batch < 2; ++batch) {
      for (int i = 0; i < per_batch; ++i) {
        const auto text = std::to_string(batch * per_batch + i);
        r.plugin = names[batch];  // a batch holds one plugin's records
        r.line = text;
        dispatch.write(r);
      }
      dispatch.flush();
      if (batch == 0) gate->wait_entered();  // the first batch is in the sink's hands
    }
    const auto outcome = dispatch.close(200ms);
    // The batch in the sink's hands and the one still queued: none of them is known written.
    EXPECT_EQ(outcome.lost, 2u * per_batch);
  }
  // The abandoned thread goes on with the batch in its hands, whose dispatch is gone: it must
  // still find each record's route (a dangling one sends them nowhere, or crashes).
  gate->release();
  for (int i = 0; i < 6000 && gate.use_count() > 1; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(gate.use_count(), 1) << "the writer thread never let go of the sink";
  std::vector<std::string> expected;
  for (int i = 0; i < per_batch; ++i) expected.push_back(names[0] + ": " + std::to_string(i));
  EXPECT_EQ(gate->lines(), expected);
}

// Writes `n` lines of `plugin` and hands them to the sinks.
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

// A dispatch to one gated sink with `queue`, whose writer holds `first`'s line in its hands.
struct stalled_dispatch {
  explicit stalled_dispatch(queue_policy queue, const std::string& first) {
    std::vector<named_sink> sinks;
    sinks.push_back({"gate", "gate", gate, queue});
    dispatch.open(std::move(sinks));
    write_lines(dispatch, first, 1);
    gate->wait_entered();
  }
  std::shared_ptr<gated_sink> gate = std::make_shared<gated_sink>();
  record_dispatch dispatch;
};

TEST(record_dispatch, a_quiet_plugins_line_is_written_between_the_floods_slices_not_after_them) {
  stalled_dispatch stalled(queue_policy{}, "flood");
  auto& gate = stalled.gate;
  auto& dispatch = stalled.dispatch;
  for (int i = 0; i < 20; ++i) write_lines(dispatch, "flood", 1000);  // 20,000 lines queued
  write_lines(dispatch, "quiet", 1);
  gate->release();
  dispatch.close(60s);
  const auto lines = gate->lines();
  ASSERT_EQ(lines.size(), 20002u);
  const auto at = std::find(lines.begin(), lines.end(), "quiet: " + std::string(100, 'x'));
  ASSERT_NE(at, lines.end());
  // One slice of the flood's (32 KiB of lines: about 200 of these) at most comes first, not
  // the 20,000 lines queued before it.
  EXPECT_LT(at - lines.begin(), 1000) << "the quiet line came after " << at - lines.begin();
}

TEST(record_dispatch, a_flood_is_held_back_before_a_quiet_plugin_sharing_its_block_sink) {
  stalled_dispatch stalled(queue_policy{64 * 1024, overflow_policy::block}, "flood");
  auto& gate = stalled.gate;
  auto& dispatch = stalled.dispatch;
  const auto& to = dispatch.route_for("flood");
  int batches = 0;
  while (dispatch.accepting(to, "flood") && batches < 1000) {
    write_lines(dispatch, "flood", 20);
    ++batches;
  }
  ASSERT_FALSE(dispatch.accepting(to, "flood")) << "the stalled queue never filled";
  // The last quarter of the queue is the quiet plugins': the flood holds it all but that.
  EXPECT_TRUE(dispatch.accepting(to, "quiet"));
  const auto queued = dispatch.statuses().at(0).queued_bytes;
  EXPECT_GE(queued, 48u * 1024);
  EXPECT_LT(queued, 64u * 1024 + 16 * 1024);
  // The quiet plugin fills the rest; then it waits too, and the queue holds its size.
  while (dispatch.accepting(to, "quiet") && batches < 2000) {
    write_lines(dispatch, "quiet", 1);
    ++batches;
  }
  EXPECT_FALSE(dispatch.accepting(to, "quiet"));
  EXPECT_LT(dispatch.statuses().at(0).queued_bytes, 64u * 1024 + 8 * 1024);
  gate->release();
  dispatch.close(60s);
}

TEST(record_dispatch, the_drop_policies_drop_the_floods_records_not_the_quiet_plugins) {
  for (const auto policy : {overflow_policy::drop_new, overflow_policy::drop_oldest}) {
    stalled_dispatch stalled(queue_policy{64 * 1024, policy}, "flood");
    auto& gate = stalled.gate;
    auto& dispatch = stalled.dispatch;
    for (int i = 0; i < 50; ++i) write_lines(dispatch, "flood", 20);  // far past 64 KiB
    write_lines(dispatch, "quiet", 1);
    for (int i = 0; i < 50; ++i) write_lines(dispatch, "flood", 20);
    gate->release();
    dispatch.close(60s);
    const auto lines = gate->lines();
    EXPECT_EQ(std::count(lines.begin(), lines.end(), "quiet: " + std::string(100, 'x')), 1)
        << (policy == overflow_policy::drop_new ? "drop_new" : "drop_oldest");
    EXPECT_LT(lines.size(), 1000u) << "the flood's records were dropped";
  }
}

TEST(record_dispatch, drop_oldest_may_drop_every_record_of_the_plugin_it_makes_room_for) {
  // The plugin that holds the most is the one whose new batch needs the room: all its queued
  // batches go, and its lane with them, before the new batch is queued (it once was queued
  // into the lane just freed: a heap corruption within milliseconds of eight `yes` plugins).
  // Freed memory is overwritten from now on, so that a use after free shows without ASan too.
  ::mallopt(M_PERTURB, 0xa5);
  stalled_dispatch stalled(queue_policy{64 * 1024, overflow_policy::drop_oldest}, "other");
  auto& gate = stalled.gate;
  auto& dispatch = stalled.dispatch;
  for (int round = 0; round < 20; ++round) {
    for (int i = 0; i < 5; ++i) write_lines(dispatch, "a", 10);
    write_lines(dispatch, "a", 600);  // about the whole queue: every queued batch of a goes
  }
  gate->release();
  dispatch.close(60s);
  auto lines = gate->lines();
  // The `dropped` report close() makes may come last, when it finds room (an event: no line).
  std::erase(lines, "a: ");
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back(), "a: " + std::string(100, 'x')) << "the newest stays";
  EXPECT_LT(lines.size(), 20u * 650) << "the oldest were dropped";
  ::mallopt(M_PERTURB, 0);
}

TEST(record_dispatch, plughosts_own_reports_never_push_a_plugins_records_out) {
  // Each report of drops, made room for by dropping the oldest records, would be reported a
  // second later, making room again: the plugin's newest lines went, one report at a time.
  stalled_dispatch stalled(queue_policy{64 * 1024, overflow_policy::drop_oldest}, "a");
  auto& gate = stalled.gate;
  auto& dispatch = stalled.dispatch;
  for (int i = 0; i < 50; ++i) write_lines(dispatch, "a", 20);  // full, some dropped
  const auto dropped = [&] {
    const auto st = dispatch.statuses().at(0).dropped;
    const auto it = st.find("a");
    return it == st.end() ? std::uint64_t{0} : it->second;
  };
  const auto before = dropped();
  ASSERT_GT(before, 0u);
  for (int i = 0; i < 100; ++i) {
    const event_field fields[] = {{"sink", std::string_view("gate")},
                                  {"records", std::int64_t{1}},
                                  {"reason", std::string_view("queue full")}};
    dispatch.event("a", 0, events::dropped, fields);
    dispatch.flush();
  }
  EXPECT_EQ(dropped(), before) << "reports made room by dropping the plugin's records";
  gate->release();
  dispatch.close(60s);
}

}  // namespace
}  // namespace plughost::detail
