// What sinks receive: one record per line a plugin writes and per lifecycle event.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>

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

/// How human-readable sinks name a record's plugin: its name, or "(plughost)" for the events
/// about plughost itself (`lost`), whose plugin is empty.
inline std::string_view shown_plugin(const record& r) noexcept {
  return r.plugin.empty() ? std::string_view("(plughost)") : r.plugin;
}

/// For sinks that build the text every line of a read batch shares (time, plugin, pid, stream)
/// once per batch instead of once per line: tells whether a record belongs to the same batch as
/// the previous one given to it. Not thread-safe (each sink is called from one thread).
class batch_tracker {
 public:
  /// True when `r` has the time, plugin, pid, stream and partial flag of the record of the
  /// previous call; then remembers `r`'s.
  bool same_batch(const record& r);

 private:
  bool any_ = false;
  std::chrono::system_clock::time_point time_{};
  std::string plugin_;
  const char* plugin_data_ = nullptr;  // a pump hands over the same string for every line
  int pid_ = 0;
  plughost::stream stream_ = plughost::stream::event;
  bool partial_ = false;
};

/// "2026-11-25T12:00:00.123456Z": UTC, microseconds, independent of locale and time zone.
std::string format_timestamp(std::chrono::system_clock::time_point t);

/// Appends `text` to `out` with its control characters made visible, for human-readable output:
/// a plugin's output or file name must not forge lines of another plugin or drive a terminal.
/// CR becomes "\r", ESC "\e", every other byte below 0x20 but tab, and DEL, "\xNN"; a C1
/// control (U+0080 to U+009F, which terminals act on as they do on ESC sequences) "\uNNNN"; a
/// byte that is not part of well-formed UTF-8 "\xNN". The rest (UTF-8 included) is copied as
/// it is. JSON output escapes by its own rules instead.
void append_visible(std::string& out, std::string_view text);

/// `text` with its control characters made visible (append_visible).
std::string visible(std::string_view text);

/// Whether `text` has a character append_visible() would change (for a fast path).
bool has_control_characters(std::string_view text) noexcept;

/// A one-line human description of an event record, e.g. "exited with code 0",
/// "started (pid 4242): /usr/bin/bash /srv/plugins/all_plugin.sh". Used by the human sinks so
/// that they all say the same thing. Its control characters are made visible (append_visible).
std::string describe_event(const record& r);

}  // namespace plughost
