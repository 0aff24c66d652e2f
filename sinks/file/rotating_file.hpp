// One log file with size-based rotation that never loses a line: rotation is a resumable
// sequence (flush, fsync, shift name.N-1 → name.N … name → name.1, open a new name), and when a
// step fails the file keeps growing and rotation is retried later. spdlog's rotating_file_sink
// truncates the live file when a rename fails, so only spdlog's file_helper is used here.
#pragma once

#include <spdlog/details/file_helper.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

#include "plughost/sink.hpp"

namespace plughost::sinks {

class rotating_file {
 public:
  /// Opens (creating folders and the file, appending) `path`. `max_size` 0: never rotate.
  /// `max_files`: how many rotated files (path.1 … path.N, spdlog's naming: x.1.log) are kept.
  /// Throws spdlog::spdlog_ex or std::system_error when the file cannot be opened.
  rotating_file(std::string path, std::int64_t max_size, std::int64_t max_files);

  /// Appends `text` (one record: one or more whole lines), rotating first when it would go past
  /// max_size. Records are gathered in a buffer and written in blocks, each whole or not at all
  /// (record_buffer). Throws std::runtime_error when rotation failed; `text` is in the current
  /// file then, and rotation is retried after retry_interval. Throws sink_error when records
  /// could not be written (a full disk): they are dropped, never written twice.
  void write(std::string_view text);
  /// Writes the gathered lines to the file and flushes it.
  void flush();

  const std::string& path() const noexcept { return path_; }
  /// path.N as spdlog names it: "logs/a.log", 2 → "logs/a.2.log".
  static std::string rotated_name(const std::string& path, std::int64_t index);

  static constexpr auto retry_interval = std::chrono::seconds(1);

 private:
  // spdlog's file_helper with the FILE* it opened (for fsync), at a stable address.
  struct open_file {
    explicit open_file(const std::string& path);
    spdlog::details::file_helper helper;
    std::FILE* handle = nullptr;
  };

  void rotate();

  std::string path_;
  std::int64_t max_size_;
  std::int64_t max_files_;
  void write_pending();

  std::unique_ptr<open_file> file_;
  std::int64_t size_ = 0;  // of the file, pending bytes included
  // Written with write(2) on the FILE's descriptor: stdio would keep, and write again, what a
  // full disk refused. The FILE itself never buffers anything.
  record_buffer pending_;
  std::chrono::steady_clock::time_point next_attempt_{};
};

}  // namespace plughost::sinks
