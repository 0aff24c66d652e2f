// An owned batch of records, built on the loop thread and read by the sinks' writer threads:
// a record handed to a sink is a view (plughost::record), so what a writer thread reads later
// must be a copy. One batch holds the records of one loop handler (or up to batch_bytes of
// them), their bytes in one buffer, and is shared, read-only once sealed, by every sink.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "plughost/record.hpp"

namespace plughost::detail {

/// The sinks one record goes to (indices into the sinks of a record_dispatch).
using route = std::vector<std::size_t>;

class record_batch {
 public:
  /// A batch grows to about this weight (at most) before it is handed to the sinks.
  static constexpr std::size_t batch_bytes = 256 * 1024;

  /// `sinks`: how many sinks there are (indices in routes are below it).
  explicit record_batch(std::size_t sinks);
  ~record_batch();
  record_batch(const record_batch&) = delete;
  record_batch& operator=(const record_batch&) = delete;

  /// Copies `r` (and its event fields) into the batch, for the sinks of `to`. `to` must stay
  /// valid while the batch holds records: see keep_routes().
  void add(const record& r, const route& to);

  /// Keeps alive what the routes handed to add() live in, until clear(): a writer thread that
  /// close() left behind may still read the batch after the dispatch that made it is gone.
  void keep_routes(std::shared_ptr<const void> owner) noexcept { routes_owner_ = std::move(owner); }

  /// Counts what each sink's records weigh; called once, before the batch goes to the sinks.
  void seal() noexcept;

  /// Empties the batch, keeping its memory (batches are reused: a fresh one per handler would
  /// cost fresh pages).
  void clear() noexcept;

  bool empty() const noexcept { return runs_.empty(); }
  /// What the whole batch weighs (as bytes_for() counts).
  std::size_t weight() const noexcept { return weight_; }
  /// What a record costs in a queue besides its text (its item, a sink's per-record work).
  static constexpr std::size_t record_overhead = 64;

  /// What the records for sink `s` weigh: their text plus record_overhead each (once sealed).
  std::size_t bytes_for(std::size_t s) const noexcept { return sink_bytes_[s]; }
  std::size_t records_for(std::size_t s) const noexcept { return sink_records_[s]; }

  /// Calls f(const record&) for each record for sink `s`, in order.
  template <typename F>
  void for_each_for(std::size_t s, F&& f) const {
    visit([s](const line_run& r) { return goes_to(r, s); }, f);
  }
  /// Calls f(const record&) for every record, whatever sinks it goes to, in order.
  template <typename F>
  void for_each(F&& f) const {
    visit([](const line_run&) { return true; }, f);
  }
  /// How many records it holds.
  std::size_t size() const noexcept;

  /// Adds to `counts` the records for sink `s`, per plugin; plughost's own `dropped` and `lost`
  /// reports are left out.
  void count_per_plugin(std::size_t s,
                        std::map<std::string, std::uint64_t, std::less<>>& counts) const;

 private:
  struct owned_event;
  // Records that differ only in their line (a read's lines: one plugin, pid, stream and time)
  // share one run; an event is a run of its own. A line costs 8 bytes besides its text.
  struct line_run {
    std::chrono::system_clock::time_point time;
    std::uint32_t plugin_at = 0, plugin_size = 0;
    std::uint32_t first_line = 0, end_line = 0;
    std::size_t weight = 0;  // of its records
    int pid = 0;
    plughost::stream stream = plughost::stream::out;
    bool partial = false;
    const route* to = nullptr;
    const owned_event* event = nullptr;
  };
  struct line {
    std::uint32_t at = 0, size = 0;
  };
  static bool goes_to(const line_run& r, std::size_t s) noexcept;
  // f(record) for each record of the runs `wanted` accepts.
  template <typename P, typename F>
  void visit(P&& wanted, F& f) const {
    for (const auto& each : runs_) {
      if (!wanted(each)) continue;
      record r = head(each);
      if (each.event) {
        f(static_cast<const record&>(r));
        continue;
      }
      for (auto l = each.first_line; l < each.end_line; ++l) {
        r.line = std::string_view(bytes_.data() + lines_[l].at, lines_[l].size);
        f(static_cast<const record&>(r));
      }
    }
  }
  record head(const line_run& r) const noexcept;
  const owned_event& keep_event(const record& r);
  bool continues_last_run(const record& r, const route& to) const noexcept;
  std::uint32_t keep(std::string_view text);

  std::string bytes_;
  std::vector<line_run> runs_;
  std::vector<line> lines_;
  std::deque<owned_event> events_;  // a deque: elements never move, views into them stay valid
  std::vector<std::size_t> sink_bytes_, sink_records_;
  std::size_t weight_ = 0;
  std::shared_ptr<const void> routes_owner_;
  // Where the last run's plugin name came from: a pump hands the same string each time.
  const char* last_plugin_source_ = nullptr;
};

}  // namespace plughost::detail
