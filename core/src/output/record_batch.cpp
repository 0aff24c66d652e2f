// Owned copies of records for the sinks' writer threads.
#include "output/record_batch.hpp"

#include <algorithm>
#include <type_traits>
#include <variant>

namespace plughost::detail {

// An event's strings and fields, owned. Events are rare: plain containers, built once.
struct record_batch::owned_event {
  std::string plugin, name;
  std::deque<std::string> strings;  // keys and string values; a deque never moves its elements
  std::deque<std::vector<std::string>> lists;
  std::vector<event_field> fields;
};

record_batch::record_batch(std::size_t sinks) : sink_bytes_(sinks), sink_records_(sinks) {
  // Room for a full batch at once: growing on the way costs copies and fresh pages per batch.
  bytes_.reserve(batch_bytes + 16 * 1024);
  items_.reserve(batch_bytes / record_overhead + 1);
}

record_batch::~record_batch() = default;

void record_batch::clear() noexcept {
  bytes_.clear();
  items_.clear();
  events_.clear();
  std::fill(sink_bytes_.begin(), sink_bytes_.end(), 0);
  std::fill(sink_records_.begin(), sink_records_.end(), 0);
  weight_ = 0;
  last_plugin_at_ = last_plugin_size_ = 0;
}

std::uint32_t record_batch::keep(std::string_view text) {
  const auto at = static_cast<std::uint32_t>(bytes_.size());
  bytes_.append(text);
  return at;
}

void record_batch::add(const record& r, const route& to) {
  item i;
  i.time = r.time;
  i.pid = r.pid;
  i.stream = r.stream;
  i.partial = r.partial;
  i.to = &to;
  if (r.stream == stream::event) {
    auto& e = events_.emplace_back();
    e.plugin = r.plugin;
    e.name = r.event;
    e.fields.reserve(r.fields.size());
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
    i.event = &e;
  } else {
    const bool same_plugin = !items_.empty() && std::string_view(bytes_.data() + last_plugin_at_,
                                                                 last_plugin_size_) == r.plugin;
    if (!same_plugin) {
      last_plugin_at_ = keep(r.plugin);
      last_plugin_size_ = static_cast<std::uint32_t>(r.plugin.size());
    }
    i.plugin_at = last_plugin_at_;
    i.plugin_size = last_plugin_size_;
    i.line_at = keep(r.line);
    i.line_size = static_cast<std::uint32_t>(r.line.size());
  }
  items_.push_back(i);
  const auto weight = r.line.size() + record_overhead;
  weight_ += weight;
  for (const auto s : to) {
    sink_bytes_[s] += weight;
    ++sink_records_[s];
  }
}

bool record_batch::goes_to(const item& i, std::size_t s) noexcept {
  return std::find(i.to->begin(), i.to->end(), s) != i.to->end();
}

record record_batch::view(const item& i) const noexcept {
  record r;
  r.time = i.time;
  r.pid = i.pid;
  r.stream = i.stream;
  r.partial = i.partial;
  if (i.event) {
    r.plugin = i.event->plugin;
    r.event = i.event->name;
    r.fields = i.event->fields;
  } else {
    r.plugin = std::string_view(bytes_.data() + i.plugin_at, i.plugin_size);
    r.line = std::string_view(bytes_.data() + i.line_at, i.line_size);
  }
  return r;
}

void record_batch::count_per_plugin(
    std::size_t s, std::map<std::string, std::uint64_t, std::less<>>& counts) const {
  for (const auto& i : items_) {
    if (!goes_to(i, s)) continue;
    const auto plugin = view(i).plugin;
    auto it = counts.find(plugin);
    if (it == counts.end()) it = counts.emplace(std::string(plugin), 0).first;
    ++it->second;
  }
}

}  // namespace plughost::detail
