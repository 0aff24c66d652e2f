// One sink's writer thread and its bounded queue. The loop thread pushes sealed batches; the
// writer thread hands their records to the sink and flushes when the queue runs empty. A sink
// that blocks (a full pipe, a stuck daemon, a slow module) blocks only its own thread: the loop
// sees a full queue and applies the sink's overflow policy. The queue is shared fairly: each
// plugin's batches wait in a lane of their own, the writer serves the lanes in turn a slice at
// a time, and a plugin that holds much of the queue is held back (or dropped) before the others.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
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
  /// Whether `plugin`'s records must wait (what `block` waits on): the queue holds its size, or
  /// three quarters of it while `plugin` holds a sixteenth or more. So a flood leaves the last
  /// quarter to the plugins that write little, and the queue never holds more than its size
  /// (besides the events of runs, which wait for nothing: see docs/reliability.md).
  bool full(std::string_view plugin) const;
  /// Asks for a call to on_room once the queue is below half its size. Returns false (and asks
  /// nothing) when `plugin` has room already.
  bool want_room(std::string_view plugin);
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
  /// The memory the queue (and the writer's hands) hold now, in bytes (record_batch::footprint).
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
  // One plugin's batches, in order; the writer is `at` in the first one.
  struct lane {
    std::deque<std::shared_ptr<const record_batch>> batches;
    std::size_t bytes = 0;      // their footprints
    record_batch::cursor at;    // in the first batch
    std::uint64_t written = 0;  // records of the first batch written already
    bool in_hand = false;       // the writer is writing a slice of the first batch
    bool waiting = false;       // in the ring
  };
  struct state {
    named_sink sink;
    std::size_t index = 0;
    std::function<void()> on_room;
    std::mutex mutex;
    std::condition_variable wake, done_cv;
    // Guarded by mutex: the lanes by plugin, and those with batches to write, in turn.
    std::map<std::string, lane, std::less<>> lanes;
    std::deque<std::map<std::string, lane, std::less<>>::iterator> ring;
    bool closing = false, done = false, abandoned = false;  // guarded by mutex
    bool busy = false;                         // a slice is in the writer's hands; guarded
    std::string last_error;                    // guarded by mutex
    std::atomic<std::size_t> queued_bytes{0};  // in the queue and in the writer's hands
    std::atomic<bool> room_wanted{false};
    std::atomic<std::uint64_t> lost{0};
    std::atomic<std::uint64_t> errors{0};
    bool reopen_wanted = false;  // guarded by mutex
    std::atomic<bool> loss_noticed{false};
  };
  using lane_ref = std::map<std::string, lane, std::less<>>::iterator;
  static bool over(const state& s, std::size_t own) noexcept;
  static void drop_oldest(state& s, std::size_t weight,
                          std::vector<std::shared_ptr<const record_batch>>& dropped);
  static std::uint64_t held_records(const state& s);
  static void write_batches(const std::shared_ptr<state>& s);
  static void write_one(state& s, const record& r);
  // Writes the next slice of the lane first in turn (mutex held on entry and return). Returns
  // whether that emptied a lane that held one batch written in one slice: a quiet plugin's.
  static bool write_slice(state& s, std::unique_lock<std::mutex>& lock, std::size_t& unflushed);
  /// Returns whether to flush again later: the sink said it still holds records.
  static bool flush(state& s, std::size_t& unflushed);
  static void make_again(state& s, std::size_t& unflushed);
  static void fail(state& s, std::uint64_t lost, std::string_view call, const char* what);

  std::shared_ptr<state> state_;  // shared with the thread, which may outlive this object
  std::thread thread_;
};

}  // namespace plughost::detail
