// The sink interface: turns records into output somewhere. A sink knows nothing of processes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "plughost/record.hpp"

namespace plughost {

/// Threading: each sink has a writer thread of its own, and the core calls the sink from that
/// thread only, never concurrently, so implementations need no locks (they must not assume it
/// is the thread that created them). A sink that blocks delays only itself: the core queues
/// its records (bounded, with the sink's overflow policy) and goes on. Ownership: the core owns
/// every sink it creates and destroys it after the last flush().
class sink {
 public:
  virtual ~sink() = default;

  /// Consumes one record, in the order records were produced. May buffer.
  /// Throws (any std::exception) when the record cannot be written; the core reports the
  /// failure, rate-limited, counts the record as lost and keeps feeding this and every other
  /// sink. A sink_error says how many records were lost instead.
  virtual void write(const record& r) = 0;

  /// Makes buffered output visible. Called when the sink's queue runs empty and before the
  /// core returns. Throws like write(); an exception other than sink_error counts every record
  /// given since the last successful flush() as lost.
  virtual void flush() = 0;
};

/// What a sink throws to say exactly how many records a failure lost (e.g. a buffered sink
/// that discards the records it could not write, and keeps the ones it could).
class __attribute__((visibility("default"))) sink_error : public std::runtime_error {
 public:
  sink_error(const std::string& what, std::uint64_t lost);
  ~sink_error() override;
  std::uint64_t lost() const noexcept { return lost_; }

 private:
  std::uint64_t lost_;
};

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
/// and plughost's (a link there could be anyone's). Running as root, `folder` and every folder
/// below it must belong to root, and not be writable by others unless it has the sticky bit (as
/// /tmp). Returns a descriptor (close-on-exec, O_APPEND; the caller closes it). Throws
/// std::system_error or std::runtime_error naming the path and what is wrong.
int open_log_file(const std::filesystem::path& folder, const std::filesystem::path& below,
                  bool create_folder);

/// Writes all of `data` to `fd`, retrying after EINTR and short writes and waiting while a
/// non-blocking descriptor is full. Throws std::system_error on failure. For sinks.
void write_fully(int fd, std::string_view data);

}  // namespace plughost
