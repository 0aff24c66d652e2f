// Fan-out of records to every sink, isolating failures: a failing sink is reported
// (rate-limited) and never stops the others.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "plughost/sink.hpp"

namespace plughost::detail {

struct named_sink {
  std::string name;   ///< how routes refer to it: its name: or its type
  std::string label;  ///< how messages refer to it: "jsonl (/var/log/p.jsonl)"
  std::shared_ptr<sink> impl;
};

class record_dispatch {
 public:
  /// The sinks one plugin's records go to (indices into the sinks).
  using route = std::vector<std::size_t>;

  /// `routes`: plugin name → names of the sinks its records go to; other plugins go to all.
  /// Names that match no sink are ignored (the caller validated them).
  explicit record_dispatch(std::vector<named_sink> sinks,
                           const std::map<std::string, std::vector<std::string>>& routes = {});

  /// The route of a plugin's records. The reference stays valid while this object lives.
  const route& route_for(std::string_view plugin) const;

  /// Hands `r` to the sinks of its plugin. Never throws.
  void write(const record& r) noexcept { write(r, route_for(r.plugin)); }
  /// Hands `r` to the sinks of `to` (from route_for(), looked up once per plugin). Never throws.
  void write(const record& r, const route& to) noexcept;
  /// Flushes every sink. Never throws.
  void flush() noexcept;

  /// Builds and writes an event record stamped now.
  void event(std::string_view plugin, int pid, std::string_view name,
             std::span<const event_field> fields) noexcept;

 private:
  struct sink_entry {
    named_sink sink;
    std::chrono::steady_clock::time_point last_report{};
    std::size_t suppressed = 0;
    bool failed_before = false;
  };
  void report(sink_entry& s, std::string_view call, const char* what) noexcept;
  std::vector<sink_entry> sinks_;
  route all_;
  std::map<std::string, route, std::less<>> routes_;
};

}  // namespace plughost::detail
