// One log file with size-based rotation that never loses a line: rotation is a resumable
// sequence (flush, fsync, shift name.N-1 → name.N … name → name.1, open a new name), and when a
// step fails the file keeps growing and rotation is retried later. spdlog's rotating_file_sink
// truncates the live file when a rename fails, so only its naming is used here; the file is a
// plain descriptor opened by open_log_file() (no symbolic link followed) and written whole
// records at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "plughost/sink.hpp"
#include "plughost/sink_helpers.hpp"

namespace plughost::sinks {

class rotating_file {
 public:
  /// Opens (creating folders and the file, appending) `folder`/`below` (open_log_file()).
  /// `max_size` 0: never rotate. `max_files`: how many rotated files (path.1 … path.N, spdlog's
  /// naming: x.1.log) are kept. Throws std::system_error or std::runtime_error when the file
  /// cannot be opened.
  rotating_file(std::filesystem::path folder, std::filesystem::path below, std::int64_t max_size,
                std::int64_t max_files);
  ~rotating_file();
  rotating_file(const rotating_file&) = delete;
  rotating_file& operator=(const rotating_file&) = delete;

  /// Appends `text` (one record: one or more whole lines), rotating first when it would go past
  /// max_size. Records are gathered in a buffer and written in blocks, each whole or not at all
  /// (record_buffer). Throws std::runtime_error when rotation failed; `text` is in the current
  /// file then, and rotation is retried after retry_interval. Throws sink_error when records
  /// could not be written (a full disk): they are dropped, never written twice.
  void write(std::string_view text);
  /// As write(prefix + text + "\n"), with `text`'s control characters made visible
  /// (plughost::append_visible), appended in place.
  void write_line(std::string_view prefix, std::string_view text);
  /// Writes the gathered lines to the file and flushes it.
  void flush();

  const std::string& path() const noexcept { return path_; }
  /// path.N as spdlog names it: "logs/a.log", 2 → "logs/a.2.log".
  static std::string rotated_name(const std::string& path, std::int64_t index);

  static constexpr auto retry_interval = std::chrono::seconds(1);

 private:
  void rotate();
  // Rotates when a record of about `length` bytes would go past max_size; what went wrong.
  std::string rotate_if_due(std::size_t length);
  // After a record of `length` bytes was appended to pending_.
  void end_record(std::size_t length, const std::string& rotation_error);

  std::filesystem::path folder_, below_;
  std::string path_;
  std::int64_t max_size_;
  std::int64_t max_files_;
  void write_pending();

  int fd_ = -1;
  std::int64_t size_ = 0;  // of the file, pending bytes included
  // Written with write(2) on the FILE's descriptor: stdio would keep, and write again, what a
  // full disk refused. The FILE itself never buffers anything.
  record_buffer pending_;
  std::chrono::steady_clock::time_point next_attempt_{};
};

}  // namespace plughost::sinks
