// Record fan-out with per-sink failure isolation and rate-limited failure reports.
#include "output/record_dispatch.hpp"

#include <algorithm>

#include "common/log.hpp"

namespace plughost::detail {

namespace {
constexpr auto report_interval = std::chrono::seconds(10);
}

record_dispatch::record_dispatch(std::vector<named_sink> sinks,
                                 const std::map<std::string, std::vector<std::string>>& routes) {
  for (auto& s : sinks) sinks_.push_back(sink_entry{std::move(s)});
  for (std::size_t i = 0; i < sinks_.size(); ++i) all_.push_back(i);
  for (const auto& [plugin, names] : routes) {
    route r;
    for (std::size_t i = 0; i < sinks_.size(); ++i) {
      if (std::find(names.begin(), names.end(), sinks_[i].sink.name) != names.end()) r.push_back(i);
    }
    routes_.emplace(plugin, std::move(r));
  }
}

const record_dispatch::route& record_dispatch::route_for(std::string_view plugin) const {
  const auto it = routes_.find(plugin);
  return it == routes_.end() ? all_ : it->second;
}

void record_dispatch::report(sink_entry& s, std::string_view call, const char* what) noexcept {
  try {
    const auto now = std::chrono::steady_clock::now();
    if (s.failed_before && now - s.last_report < report_interval) {
      ++s.suppressed;
      return;
    }
    if (s.suppressed > 0) {
      log().error("sink {} failed in {}: {} ({} more failures not shown)", s.sink.label, call, what,
                  s.suppressed);
    } else {
      log().error("sink {} failed in {}: {}", s.sink.label, call, what);
    }
    s.failed_before = true;
    s.last_report = now;
    s.suppressed = 0;
  } catch (...) {
  }
}

void record_dispatch::write(const record& r, const route& to) noexcept {
  for (const auto i : to) {
    auto& s = sinks_[i];
    try {
      s.sink.impl->write(r);
    } catch (const std::exception& e) {
      report(s, "write", e.what());
    } catch (...) {
      report(s, "write", "unknown exception");
    }
  }
}

void record_dispatch::flush() noexcept {
  for (auto& s : sinks_) {
    try {
      s.sink.impl->flush();
    } catch (const std::exception& e) {
      report(s, "flush", e.what());
    } catch (...) {
      report(s, "flush", "unknown exception");
    }
  }
}

void record_dispatch::event(std::string_view plugin, int pid, std::string_view name,
                            std::span<const event_field> fields) noexcept {
  record r;
  r.time = std::chrono::system_clock::now();
  r.plugin = plugin;
  r.pid = pid;
  r.stream = stream::event;
  r.event = name;
  r.fields = fields;
  write(r);
}

}  // namespace plughost::detail
