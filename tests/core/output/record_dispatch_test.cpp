// The fan-out as a whole: a sink that close() leaves behind keeps its records readable after
// the dispatch is gone, and what it held (the batch in its hands too) is counted as lost.
#include "output/record_dispatch.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

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

}  // namespace
}  // namespace plughost::detail
