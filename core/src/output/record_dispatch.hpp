// Fan-out of records to every sink. Records are copied into batches on the loop thread and
// handed to each sink's writer thread through a bounded queue (sink_worker), so that no sink
// can stall the loop: a full queue either holds back the plugins routed to it (`block`) or
// drops records, counted per plugin (`drop_new`, `drop_oldest`). A failing sink is reported
// (rate-limited) and never stops the others; its lost records are counted.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "output/record_batch.hpp"
#include "output/record_tap.hpp"
#include "output/sink_worker.hpp"
#include "plughost/launcher.hpp"

namespace plughost::detail {

class record_dispatch {
 public:
  using route = detail::route;

  /// Something that waits for room in the queues of a route (an output pump holding back).
  class room_waiter {
   public:
    virtual void on_room() = 0;

   protected:
    ~room_waiter() = default;
  };

  /// What close() counted.
  struct outcome {
    std::uint64_t dropped = 0;  ///< by the sinks' overflow policies
    std::uint64_t lost = 0;     ///< by failed writes, and not delivered when close() gave up
  };

  record_dispatch();
  ~record_dispatch();
  record_dispatch(const record_dispatch&) = delete;
  record_dispatch& operator=(const record_dispatch&) = delete;

  /// Starts a writer thread per sink. `routes`: plugin name → names of the sinks its records
  /// go to; other plugins go to all. Names that match no sink are ignored (the caller validated
  /// them). Once, before any record.
  void open(std::vector<named_sink> sinks,
            const std::map<std::string, std::vector<std::string>>& routes = {});

  /// The route of a plugin's records. The reference stays valid while this object lives (and
  /// while a batch that holds records for it does).
  const route& route_for(std::string_view plugin) const;

  /// Queues `r` for the sinks of its plugin. Never throws.
  void write(const record& r) noexcept { write(r, route_for(r.plugin)); }
  /// Queues `r` for the sinks of `to` (from route_for(), looked up once per plugin).
  void write(const record& r, const route& to) noexcept;
  /// Hands what was queued since the last call to the sinks' threads. Never throws.
  void flush() noexcept;

  /// Builds and writes an event record stamped now.
  void event(std::string_view plugin, int pid, std::string_view name,
             std::span<const event_field> fields) noexcept;

  // ---- backpressure (loop thread) -----------------------------------------------------------

  /// Whether every `block` sink of `to` has room for `plugin`'s records (a plugin that holds
  /// much of a queue is held back before the others: sink_worker::full).
  bool accepting(const route& to, std::string_view plugin) const noexcept;
  /// Calls w.on_room() (on the loop) once every `block` sink of `to` has room for `plugin`
  /// again. Returns false, and registers nothing, when they have room already.
  bool wait_for_room(room_waiter& w, const route& to, std::string_view plugin);
  void cancel_wait(room_waiter& w) noexcept;

  /// Posts room notices and loss reports to `loop` from now on; reports of dropped and lost
  /// records come at most once a second, as events. detach() before the loop ends.
  void attach(const boost::asio::any_io_executor& loop);
  void detach() noexcept;

  /// Flushes, reports what was dropped and lost (events, and a line on stderr per sink),
  /// and waits up to `grace` for the sinks to write everything; what they still hold then is
  /// counted as lost. Once; after it records go nowhere.
  outcome close(std::chrono::steady_clock::duration grace) noexcept;

  /// Hands every batch to `tap` too, from now on (before open(); the tap outlives this).
  void tap_into(record_tap* tap) noexcept { tap_ = tap; }

  /// Every configured sink is made again before its next batch (reopen after logrotate).
  /// Thread-safe once open() has returned.
  void reopen() noexcept {
    for (const auto& w : workers_) w->reopen();
  }

  /// Every sink as it is now (loop thread).
  std::vector<sink_status> statuses() const;

  /// Where this launcher's pumps read their pipes into: they all run on its one loop thread, so
  /// they share it; each launcher has its own, so that several can run in one process.
  std::span<char> read_buffer() noexcept { return read_buffer_; }

 private:
  // What the writer threads may reach: the loop, while attached.
  struct mailbox {
    std::mutex mutex;
    std::optional<boost::asio::any_io_executor> loop;
    record_dispatch* owner = nullptr;
  };
  void on_notice();
  void note_dropped(std::size_t sink, const std::vector<std::shared_ptr<const record_batch>>& b);
  void arm_report();
  void report() noexcept;
  outcome final_tally(const std::vector<bool>& finished,
                      std::chrono::steady_clock::duration waited) const noexcept;
  struct waiter {
    room_waiter* who;
    const route* to;
    std::string plugin;
  };
  bool request_room(const waiter& w) noexcept;

  // Batches the sinks are done with, kept for reuse (shared with the deleters, which may run on
  // a writer thread after this object is gone).
  struct batch_pool {
    std::mutex mutex;
    std::vector<std::unique_ptr<record_batch>> free;
  };
  std::shared_ptr<record_batch> new_batch();

  std::vector<std::unique_ptr<sink_worker>> workers_;
  std::shared_ptr<batch_pool> pool_ = std::make_shared<batch_pool>();
  // Batches point into it; each batch keeps it alive (record_batch::keep_routes).
  struct route_table {
    route all;
    std::map<std::string, route, std::less<>> by_plugin;
  };
  std::shared_ptr<route_table> routes_ = std::make_shared<route_table>();
  std::shared_ptr<record_batch> open_;
  std::shared_ptr<mailbox> mailbox_ = std::make_shared<mailbox>();
  std::vector<waiter> waiters_;
  // Per sink: dropped records per plugin, in all and not yet reported; lost records reported.
  std::vector<std::map<std::string, std::uint64_t, std::less<>>> dropped_, dropped_unreported_;
  std::vector<std::uint64_t> lost_reported_;
  std::unique_ptr<boost::asio::steady_timer> report_timer_;
  std::size_t batch_limit_ = record_batch::batch_bytes;
  std::vector<char> read_buffer_ = std::vector<char>(64 * 1024);  // at most a queue's eighth
  record_tap* tap_ = nullptr;
  bool report_armed_ = false;
  bool closed_ = false;
};

}  // namespace plughost::detail
