// Owned copies of records for the sinks' writer threads.
#include "output/record_batch.hpp"

#include <algorithm>
#include <type_traits>
#include <variant>

#include "plughost/events.hpp"
namespace plughost::detail {

// An event's strings and fields, owned. Events are rare: plain containers, built once, each
// reserved to its final size so that the views into them never move.
struct record_batch::owned_event {
  std::string plugin, name;
  std::vector<std::string> strings;  // keys and string values
  std::vector<std::vector<std::string>> lists;
  std::vector<event_field> fields;
};

namespace {
// What malloc adds to each allocation (its header, and rounding up to 16 bytes).
constexpr std::size_t per_allocation = 16;
// What the shared_ptr that hands a batch around allocates beside it (its control block).
constexpr std::size_t control_block = 64;
// A reused batch keeps buffers up to this size; bigger ones are given back at clear().
constexpr std::size_t kept_capacity = 16 * 1024;

std::size_t allocated(std::size_t bytes) noexcept {
  return bytes == 0 ? 0 : bytes + per_allocation;
}

template <typename T>
void give_back_if_large(T& buffer) noexcept {
  if (buffer.capacity() * sizeof(typename T::value_type) > kept_capacity) T().swap(buffer);
}
}  // namespace

record_batch::record_batch(std::size_t sinks) : sink_records_(sinks) {}

record_batch::~record_batch() = default;

void record_batch::clear() noexcept {
  bytes_.clear();
  runs_.clear();
  lines_.clear();
  events_.clear();
  give_back_if_large(bytes_);
  give_back_if_large(runs_);
  give_back_if_large(lines_);
  give_back_if_large(events_);
  std::fill(sink_records_.begin(), sink_records_.end(), 0);
  events_footprint_ = 0;
  footprint_ = 0;
  last_plugin_source_ = nullptr;
  routes_owner_.reset();
}

std::size_t record_batch::footprint() const noexcept {
  if (footprint_ != 0) return footprint_;
  // std::string keeps up to 15 bytes inside itself: only a larger capacity is allocated.
  const auto text = bytes_.capacity() > 15 ? allocated(bytes_.capacity() + 1) : 0;
  return allocated(sizeof(record_batch)) + control_block + text +
         allocated(runs_.capacity() * sizeof(line_run)) +
         allocated(lines_.capacity() * sizeof(line)) +
         allocated(events_.capacity() * sizeof(events_[0])) +
         allocated(sink_records_.capacity() * sizeof(std::size_t)) + events_footprint_;
}

std::string_view record_batch::plugin() const noexcept {
  return runs_.empty() ? std::string_view() : head(runs_.front()).plugin;
}

std::uint32_t record_batch::keep(std::string_view text) {
  const auto at = static_cast<std::uint32_t>(bytes_.size());
  bytes_.append(text);
  return at;
}

// A line joins the last run when only its text differs. The plugin name is compared by where it
// came from (with its size and pid): a pump hands its own string every time.
bool record_batch::continues_last_run(const record& r, const route& to) const noexcept {
  if (runs_.empty()) return false;
  const auto& last = runs_.back();
  return !last.event && !r.partial && !last.partial && last.to == &to && last.time == r.time &&
         last.pid == r.pid && last.stream == r.stream && last.plugin_size == r.plugin.size() &&
         last_plugin_source_ == r.plugin.data();
}

void record_batch::add(const record& r, const route& to) {
  if (r.stream != stream::event && continues_last_run(r, to)) {
    lines_.push_back({keep(r.line), static_cast<std::uint32_t>(r.line.size())});
    ++runs_.back().end_line;
  } else {
    auto& run = runs_.emplace_back();
    run.time = r.time;
    run.pid = r.pid;
    run.stream = r.stream;
    run.partial = r.partial;
    run.to = &to;
    if (r.stream == stream::event) {
      run.event = &keep_event(r);
      last_plugin_source_ = nullptr;
    } else {
      run.plugin_at = keep(r.plugin);
      run.plugin_size = static_cast<std::uint32_t>(r.plugin.size());
      last_plugin_source_ = r.plugin.data();
      run.first_line = static_cast<std::uint32_t>(lines_.size());
      run.end_line = run.first_line + 1;
      lines_.push_back({keep(r.line), static_cast<std::uint32_t>(r.line.size())});
    }
  }
}

void record_batch::seal() noexcept {
  for (const auto& run : runs_) {
    const auto records = run.event ? 1 : run.end_line - run.first_line;
    for (const auto s : *run.to) sink_records_[s] += records;
  }
  footprint_ = footprint();
}

// An event's strings and lists, as allocated (each reserved to its final size).
std::size_t record_batch::event_footprint(const owned_event& e) noexcept {
  const auto string = [](const std::string& text) {
    return text.capacity() > 15 ? allocated(text.capacity() + 1) : 0;
  };
  auto n = allocated(sizeof(owned_event)) + string(e.plugin) + string(e.name) +
           allocated(e.strings.capacity() * sizeof(std::string)) +
           allocated(e.lists.capacity() * sizeof(std::vector<std::string>)) +
           allocated(e.fields.capacity() * sizeof(event_field));
  for (const auto& each : e.strings) n += string(each);
  for (const auto& list : e.lists) {
    n += allocated(list.capacity() * sizeof(std::string));
    for (const auto& each : list) n += string(each);
  }
  return n;
}

const record_batch::owned_event& record_batch::keep_event(const record& r) {
  auto& e = *events_.emplace_back(std::make_unique<owned_event>());
  e.plugin = r.plugin;
  e.name = r.event;
  e.fields.reserve(r.fields.size());
  e.strings.reserve(2 * r.fields.size());
  e.lists.reserve(r.fields.size());
  for (const auto& f : r.fields) {
    const std::string_view key = e.strings.emplace_back(f.key);
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string_view>) {
            e.fields.push_back({key, std::string_view(e.strings.emplace_back(v))});
          } else if constexpr (std::is_same_v<T, std::span<const std::string>>) {
            const auto& list = e.lists.emplace_back(v.begin(), v.end());
            e.fields.push_back({key, std::span<const std::string>(list)});
          } else {
            e.fields.push_back({key, v});
          }
        },
        f.value);
  }
  events_footprint_ += event_footprint(e);
  return e;
}

bool record_batch::is_report(const line_run& r) noexcept {
  return r.event && (r.event->name == events::dropped || r.event->name == events::lost);
}

bool record_batch::reports_only() const noexcept {
  return !runs_.empty() && std::all_of(runs_.begin(), runs_.end(), is_report);
}

bool record_batch::goes_to(const line_run& r, std::size_t s) noexcept {
  return std::find(r.to->begin(), r.to->end(), s) != r.to->end();
}

record record_batch::head(const line_run& run) const noexcept {
  record r;
  r.time = run.time;
  r.pid = run.pid;
  r.stream = run.stream;
  r.partial = run.partial;
  if (run.event) {
    r.plugin = run.event->plugin;
    r.event = run.event->name;
    r.fields = run.event->fields;
  } else {
    r.plugin = std::string_view(bytes_.data() + run.plugin_at, run.plugin_size);
  }
  return r;
}

std::size_t record_batch::size() const noexcept {
  return lines_.size() + events_.size();
}

void record_batch::count_per_plugin(
    std::size_t s, std::map<std::string, std::uint64_t, std::less<>>& counts) const {
  for (const auto& run : runs_) {
    if (!goes_to(run, s)) continue;
    // plughost's own reports of dropped or lost records are not counted: a full sink that
    // drops them would otherwise report its own reports, once a second, for ever.
    if (is_report(run)) continue;
    const auto plugin = head(run).plugin;
    auto it = counts.find(plugin);
    if (it == counts.end()) it = counts.emplace(std::string(plugin), 0).first;
    it->second += run.event ? 1 : run.end_line - run.first_line;
  }
}

}  // namespace plughost::detail
