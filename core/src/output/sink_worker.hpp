// One sink's writer thread and its bounded queue. The loop thread pushes sealed batches; the
// writer thread hands their records to the sink and flushes when the queue runs empty. A sink
// that blocks (a full pipe, a stuck daemon, a slow module) blocks only its own thread: the loop
// sees a full queue and applies the sink's overflow policy.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/queue_policy.hpp"
#include "output/record_batch.hpp"
#include "plughost/sink.hpp"

namespace plughost::detail {

struct named_sink {
  std::string name;   ///< how routes refer to it: its name: or its type
  std::string label;  ///< how messages refer to it: "jsonl (/var/log/p.jsonl)"
  std::shared_ptr<sink> impl;
  queue_policy queue{};
  /// Makes a fresh instance of the sink (its module's factory, with its settings), for reopen;
  /// empty for a program's sink, which is never reopened.
  std::function<std::shared_ptr<plughost::sink>()> reopen;
  /// The embedding program's (launch_options::program_sinks): never left behind, since the
  /// program may free what its sink uses once the launcher returns; close() waits for it.
  bool program = false;
};

class sink_worker {
 public:
  /// Starts the writer thread. `index`: this sink's index in the batches' routes. `on_room`
  /// is called from the writer thread when a queue that a caller waited on (want_room()) has
  /// room again, and when records were lost; it must be thread-safe and must not block.
  sink_worker(named_sink s, std::size_t index, std::function<void()> on_room);
  /// Joins the thread when it has finished; otherwise (close() gave up on it) leaves it.
  ~sink_worker();
  sink_worker(const sink_worker&) = delete;
  sink_worker& operator=(const sink_worker&) = delete;

  const named_sink& sink() const noexcept { return state_->sink; }

  // ---- loop thread --------------------------------------------------------------------------

  /// Queues `b` (when it holds records for this sink) by the overflow policy. Returns the
  /// batches dropped to make room or not queued (drop policies), whose records for this sink
  /// are lost to it.
  std::vector<std::shared_ptr<const record_batch>> push(std::shared_ptr<const record_batch> b);
  /// Whether the queue holds its size or more (what `block` waits on).
  bool full() const noexcept;
  /// Asks for a call to on_room once the queue is below half its size. Returns false (and asks
  /// nothing) when it is below its size already.
  bool want_room() noexcept;
  /// Records lost so far: writes that failed, and records close() gave up on.
  std::uint64_t lost() const noexcept { return state_->lost.load(); }
  /// Reads lost() for a report: the next loss calls on_room again.
  std::uint64_t take_lost() noexcept {
    state_->loss_noticed = false;
    return state_->lost.load();
  }
  /// The message of the latest failure, for reports.
  std::string last_error() const;
  /// Any thread: the writer replaces the sink by a fresh instance (flushing the old one first)
  /// before its next batch: files are opened again after logrotate moved them. A sink that
  /// cannot be made again is reported, and the old one goes on.
  void reopen() noexcept;
  /// Writes and flushes that failed so far.
  std::uint64_t errors() const noexcept { return state_->errors.load(); }
  /// What the queue (and the writer's hands) hold now, in bytes.
  std::size_t queued_bytes() const noexcept { return state_->queued_bytes.load(); }

  /// Waits until everything queued is written and flushed, or `deadline`. Returns whether it was.
  bool wait_idle(std::chrono::steady_clock::time_point deadline);
  /// No more batches: the thread writes what is queued, flushes and ends (close() waits).
  void finish() noexcept;
  /// No more batches: the thread writes what is queued, flushes and ends. Waits for that until
  /// `deadline`; if the sink is still busy then, counts what it holds as lost, tells the thread
  /// to write nothing more and leaves it (it cannot be interrupted inside the sink). Returns
  /// whether the thread finished.
  bool close(std::chrono::steady_clock::time_point deadline);
  /// Whether close() gave up on the sink.
  bool left_behind() const;

 private:
  struct state {
    named_sink sink;
    std::size_t index = 0;
    std::function<void()> on_room;
    std::mutex mutex;
    std::condition_variable wake, done_cv;
    std::deque<std::shared_ptr<const record_batch>> queue;  // guarded by mutex
    bool closing = false, done = false, abandoned = false;  // guarded by mutex
    bool busy = false;                         // a batch is in the writer's hands; guarded by mutex
    std::uint64_t in_hand = 0;                 // that batch's records for this sink; guarded
    std::string last_error;                    // guarded by mutex
    std::atomic<std::size_t> queued_bytes{0};  // in the queue and in the writer's hands
    std::atomic<bool> room_wanted{false};
    std::atomic<std::uint64_t> lost{0};
    std::atomic<std::uint64_t> errors{0};
    bool reopen_wanted = false;  // guarded by mutex
    std::atomic<bool> loss_noticed{false};
  };
  static void write_batches(const std::shared_ptr<state>& s);
  static void write_one(state& s, const record_batch& b, std::size_t& unflushed);
  /// Returns whether to flush again later: the sink said it still holds records.
  static bool flush(state& s, std::size_t& unflushed);
  static void make_again(state& s, std::size_t& unflushed);
  static void fail(state& s, std::uint64_t lost, std::string_view call, const char* what);

  std::shared_ptr<state> state_;  // shared with the thread, which may outlive this object
  std::thread thread_;
};

}  // namespace plughost::detail
