// Fan-out of records to every sink, isolating failures: a failing sink is reported
// (rate-limited) and never stops the others.
#pragma once

#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "plughost/sink.hpp"

namespace plughost::detail {

struct named_sink {
  std::string name;  ///< how messages refer to it: "jsonl (/var/log/p.jsonl)"
  std::unique_ptr<sink> impl;
};

class record_dispatch {
 public:
  explicit record_dispatch(std::vector<named_sink> sinks);

  /// Hands `r` to every sink. Never throws.
  void write(const record& r) noexcept;
  /// Flushes every sink. Never throws.
  void flush() noexcept;

  /// Builds and writes an event record stamped now.
  void event(std::string_view plugin, int pid, std::string_view name,
             std::span<const event_field> fields) noexcept;

 private:
  struct slot {
    named_sink sink;
    std::chrono::steady_clock::time_point last_report{};
    std::size_t suppressed = 0;
    bool failed_before = false;
  };
  void report(slot& s, std::string_view call, const char* what) noexcept;
  std::vector<slot> slots_;
};

}  // namespace plughost::detail
