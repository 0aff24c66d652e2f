// An owned batch of records, built on the loop thread and read by the sinks' writer threads:
// a record handed to a sink is a view (plughost::record), so what a writer thread reads later
// must be a copy. One batch holds one plugin's records of one loop handler (or up to a sink
// queue's eighth of them), their bytes in one buffer, and is shared, read-only once sealed, by
// every sink. What it weighs in a queue is the memory it really holds (footprint()): its
// buffers grow with what it carries, never reserved ahead.
#pragma once

#include <chrono>
#include <cstdint>
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
  /// A batch grows to about this footprint (at most) before it is handed to the sinks.
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

  /// Counts each sink's records and the batch's footprint; called once, before the batch goes
  /// to the sinks.
  void seal() noexcept;

  /// Empties the batch. Small buffers are kept (batches are reused); large ones are given
  /// back, so that a reused batch never holds more than the records it carries need.
  void clear() noexcept;

  bool empty() const noexcept { return runs_.empty(); }
  /// The memory the batch holds, in bytes: the object, its buffers' capacities, its events,
  /// and the allocator's overhead of each. Every queue that holds the batch counts all of it:
  /// the batch lives as long as any of them holds it. Exact once sealed; before, as of now.
  std::size_t footprint() const noexcept;
  /// The plugin of its records (a batch holds one plugin's; plughost's own reports: "").
  std::string_view plugin() const noexcept;

  std::size_t records_for(std::size_t s) const noexcept { return sink_records_[s]; }

  /// Where a writer goes on in a batch it writes in slices.
  struct cursor {
    std::uint32_t run = 0, line = 0;
  };
  /// Calls f(const record&) for the records for sink `s` from `at` on, in order, until about
  /// `budget` bytes of lines were passed (at least one record); moves `at` past them. Returns
  /// how many records it passed; `at` is at the end when finished(at).
  template <typename F>
  std::size_t for_each_from(std::size_t s, cursor& at, std::size_t budget, F&& f) const {
    std::size_t passed = 0, spent = 0;
    for (; at.run < runs_.size() && spent < budget; ++at.run, at.line = 0) {
      const auto& each = runs_[at.run];
      if (!goes_to(each, s)) continue;
      record r = head(each);
      if (each.event) {
        f(static_cast<const record&>(r));
        ++passed;
        spent += slice_cost;
        continue;
      }
      if (at.line < each.first_line) at.line = each.first_line;
      for (; at.line < each.end_line && spent < budget; ++at.line) {
        r.line = std::string_view(bytes_.data() + lines_[at.line].at, lines_[at.line].size);
        f(static_cast<const record&>(r));
        ++passed;
        spent += r.line.size() + slice_cost;
      }
      if (at.line < each.end_line) break;  // the budget ran out inside this run
    }
    return passed;
  }
  bool finished(const cursor& at) const noexcept { return at.run >= runs_.size(); }

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

  /// Whether it holds only plughost's own `dropped` and `lost` reports.
  bool reports_only() const noexcept;

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
  static bool is_report(const line_run& r) noexcept;
  // What a record costs a writer's slice besides its text.
  static constexpr std::size_t slice_cost = 64;
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
  static std::size_t event_footprint(const owned_event& e) noexcept;
  bool continues_last_run(const record& r, const route& to) const noexcept;
  std::uint32_t keep(std::string_view text);

  std::string bytes_;
  std::vector<line_run> runs_;
  std::vector<line> lines_;
  // Each event on its own: views into them stay valid while the vector grows.
  std::vector<std::unique_ptr<owned_event>> events_;
  std::vector<std::size_t> sink_records_;
  std::size_t events_footprint_ = 0;
  std::size_t footprint_ = 0;  // once sealed
  std::shared_ptr<const void> routes_owner_;
  // Where the last run's plugin name came from: a pump hands the same string each time.
  const char* last_plugin_source_ = nullptr;
};

}  // namespace plughost::detail
