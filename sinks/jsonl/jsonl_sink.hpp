// Records as JSON Lines: exactly the objects of SPEC.md §6, one per line, appended to a file.
#pragma once

#include <chrono>
#include <string>

#include "plughost/sink.hpp"

namespace plughost::sinks {

class jsonl_sink : public sink {
 public:
  /// Opens (creates, appends to) `path`. Throws std::system_error when it cannot.
  explicit jsonl_sink(const std::string& path);
  ~jsonl_sink() override;
  jsonl_sink(const jsonl_sink&) = delete;
  jsonl_sink& operator=(const jsonl_sink&) = delete;

  void write(const record& r) override;
  void flush() override;

  /// The JSON object for one record, without newline. Invalid UTF-8 becomes U+FFFD.
  static std::string to_json_line(const record& r, std::string_view timestamp);

 private:
  int fd_ = -1;
  std::string buffer_;
  std::chrono::system_clock::time_point last_time_{};
  std::string last_timestamp_;
};

}  // namespace plughost::sinks
