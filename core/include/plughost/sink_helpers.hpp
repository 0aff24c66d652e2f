// Helpers for sinks: text for humans (time stamps, event descriptions, control characters made
// visible) and files written safely (whole records or none, links in shared folders not
// followed). Not every module needs them, so they live apart from the interfaces every module
// compiles against (sink.hpp, runner.hpp, module.hpp); they are part of the module API all the
// same, defined in libplughost, and change only with module_abi_version (docs/modules.md).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "plughost/record.hpp"
#include "plughost/sink.hpp"

// Everything this header declares is part of libplughost's interface (docs/embedding.md).
#pragma GCC visibility push(default)

namespace plughost {

// ---- text for humans ----------------------------------------------------------------------

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

/// Appends a name (a plugin's, a sink's, a file's) as plughost shows names: as append_visible(),
/// and a backslash doubled ("\\"). Two names never look the same: a file named with a newline
/// shows "a\x0ab.sh", one named with the four characters \x0a "a\\x0ab.sh". What it gives is
/// left as it is by append_visible(), so a message holding a name can be made visible whole.
/// Plugins' lines keep append_visible(): their backslashes (JSON's \", Windows paths) stay single.
void append_visible_name(std::string& out, std::string_view name);

/// `name` as append_visible_name() shows it.
std::string visible_name(std::string_view name);

/// Whether `text` has a character append_visible() would change (for a fast path).
bool has_control_characters(std::string_view text) noexcept;

/// A one-line human description of an event record, e.g. "exited with code 0",
/// "started (pid 4242): /usr/bin/bash /srv/plugins/all_plugin.sh". Used by the human sinks so
/// that they all say the same thing. Its control characters are made visible (append_visible).
std::string describe_event(const record& r);

/// A record as one JSON object, without a newline: ts (format_timestamp, or `timestamp` when
/// given), plugin, pid (null when 0), stream, then line (and partial: true) or event and its
/// fields. What the jsonl sink writes and `plughost logs --json` prints. Invalid UTF-8 is
/// replaced (U+FFFD).
std::string record_to_json(const record& r, std::string_view timestamp = {});

/// A sink's `labels` setting ["NAME=VALUE", ...] as pairs, in order. NAME is letters, digits and
/// '_' (starting with a letter or '_'). Throws std::invalid_argument naming the bad entry.
/// Placeholders in VALUE ({host}, {role}...) were replaced by the core already.
std::vector<std::pair<std::string, std::string>> parse_labels(
    const std::vector<std::string>& entries);

// ---- files -------------------------------------------------------------------------------

/// Records gathered as bytes, to be written to a descriptor whole or not at all: what a
/// buffered sink needs so that a failure (a full disk) neither tears a line nor writes a record
/// twice. Append one record's bytes to text(), then call end_record().
class record_buffer {
 public:
  std::string& text() noexcept { return text_; }
  void end_record() { ends_.push_back(text_.size()); }
  bool empty() const noexcept { return text_.empty(); }
  std::size_t size() const noexcept { return text_.size(); }
  void reserve(std::size_t bytes) { text_.reserve(bytes); }

  /// Writes every record to `fd` (retrying after EINTR and short writes, waiting while a
  /// non-blocking descriptor is full) and empties the buffer, whatever happens. On a failure,
  /// a record written in part is cut off again when `fd` is a regular file (ftruncate), so the
  /// file ends with a whole record; the records not written are dropped, never written twice,
  /// and a sink_error says how many.
  void write_to(int fd);

 private:
  std::string text_;
  std::vector<std::size_t> ends_;  // where each record ends in text_
};

/// Opens a log file for appending so that a symbolic link planted in a shared log folder cannot
/// redirect the output: `folder` is the folder the configuration names (created when missing
/// and `create_folder`; links in it are the operator's and followed), `below` the rest of the
/// path, relative and without "." or "..". Each folder of `below` is created (0755) or entered
/// without following a symbolic link; the file is opened without following one (O_NOFOLLOW)
/// when the folder holding it may be written by its group, others, or a user other than root
/// and plughost's (a link there could be anyone's): such a link is refused as "<path> is a
/// symbolic link in a folder others can write; refusing to follow it". Running as root,
/// `folder` and every folder below it must belong to root, and not be writable by others unless
/// it has the sticky bit (as /tmp); the path to `folder` from / is checked as a secure path (as
/// a plugin location's); and the file must be root's and not writable by its group or others
/// (one it creates gets no such bit). Returns a descriptor (close-on-exec, O_APPEND; the caller
/// closes it). Throws std::system_error or std::runtime_error naming the path and what is wrong.
int open_log_file(const std::filesystem::path& folder, const std::filesystem::path& below,
                  bool create_folder);

/// Writes all of `data` to `fd`, retrying after EINTR and short writes and waiting while a
/// non-blocking descriptor is full. Throws std::system_error on failure. For sinks.
void write_fully(int fd, std::string_view data);

}  // namespace plughost

#pragma GCC visibility pop
