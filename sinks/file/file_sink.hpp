// Human-readable records in files: "<time> <plugin>[<pid>] <stream>: <text>", one file for all
// plugins or one per plugin ("{plugin}" in the path), each with lossless size-based rotation.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "plughost/sink.hpp"
#include "plughost/sink_helpers.hpp"
#include "rotating_file.hpp"

namespace plughost::sinks {

class file_sink : public sink {
 public:
  /// `path` may contain "{plugin}", replaced by each plugin's name (folders are created). Such
  /// a file is closed at its plugin's `exited` event (opened again if more comes), and a file
  /// that cannot be opened is tried again only after a delay (1 s, doubling up to a minute):
  /// meanwhile that plugin's records fail at once. The single-file form opens its file now and
  /// throws when it cannot.
  file_sink(std::string path, std::int64_t max_size, std::int64_t max_files);

  void write(const record& r) override;
  void flush() override;

  /// One line of the file for a record, with its newline.
  static std::string format_line(const record& r, std::string_view timestamp);

 private:
  rotating_file& file_for(std::string_view plugin);
  void close_file_of(std::string_view plugin);
  // "<time> <plugin>[<pid>] <stream>: ": the same for every line of one plugin's read batch.
  const std::string& prefix_for(const record& r);

  std::string path_;
  bool per_plugin_;
  std::int64_t max_size_;
  std::int64_t max_files_;
  std::map<std::string, std::unique_ptr<rotating_file>, std::less<>> files_;
  // Per-plugin files that could not be opened: when to try again, and the delay after that.
  struct retry {
    std::chrono::steady_clock::time_point at;
    std::chrono::seconds next_delay;
    std::string error;
  };
  std::map<std::string, retry, std::less<>> retries_;
  batch_tracker batch_;
  std::string prefix_;
  rotating_file* prefix_file_ = nullptr;
};

}  // namespace plughost::sinks
