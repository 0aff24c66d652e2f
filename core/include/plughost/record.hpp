// What sinks receive: one record per line a plugin writes and per lifecycle event.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>

// Everything this header declares is part of libplughost's interface (docs/embedding.md).
#pragma GCC visibility push(default)

namespace plughost {

/// Which stream a record comes from.
enum class stream { out, err, event };

/// "stdout", "stderr" or "event", as in the jsonl records.
std::string_view to_string(stream s) noexcept;

/// One detail of an event, e.g. exit_code=0 or argv=[...]. Fields keep the order the core gives.
struct event_field {
  using value_type =
      std::variant<std::int64_t, double, std::string_view, std::span<const std::string>>;
  std::string_view key;
  value_type value;
};

/// A record is a view: every string it points to lives only for the duration of the
/// sink::write() call it is passed to. A sink that keeps anything must copy it.
struct record {
  std::chrono::system_clock::time_point time;
  std::string_view plugin;  ///< the plugin's name: its path relative to its location; empty
                            ///< for an event about plughost itself
  int pid = 0;              ///< 0 when no process exists (skipped, could not start)
  plughost::stream stream = plughost::stream::out;
  std::string_view line;   ///< stdout/stderr: the text, without its newline; may be any bytes
  bool partial = false;    ///< stdout/stderr: a piece of a line longer than 64 KiB, more follows
  std::string_view event;  ///< event: its name (started, exited, skipped, error, ...)
  std::span<const event_field> fields;  ///< event: its details
};

}  // namespace plughost

#pragma GCC visibility pop
