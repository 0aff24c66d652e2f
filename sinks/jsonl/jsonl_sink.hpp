// Records as JSON Lines: exactly the record objects of docs/running.md, one per line, appended to a
// file.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "plughost/sink.hpp"
#include "plughost/sink_helpers.hpp"

namespace plughost::sinks {

class jsonl_sink : public sink {
 public:
  /// Opens (creates, appends to) `path`. Throws std::system_error when it cannot. `labels` are
  /// added to every object, after its other fields, as "NAME":"VALUE".
  explicit jsonl_sink(const std::string& path,
                      const std::vector<std::pair<std::string, std::string>>& labels = {});
  ~jsonl_sink() override;
  jsonl_sink(const jsonl_sink&) = delete;
  jsonl_sink& operator=(const jsonl_sink&) = delete;

  void write(const record& r) override;
  void flush() override;

  /// The JSON object for one record, without newline, as nlohmann::json writes it. Invalid
  /// UTF-8 becomes U+FFFD. write() produces the same bytes, faster for output lines.
  static std::string to_json_line(const record& r, std::string_view timestamp);

  /// Appends `s` as a JSON string (quoted, escaped; invalid UTF-8 → U+FFFD) to `out`.
  static void append_json_string(std::string& out, std::string_view s);

 private:
  // Everything of an output record before its line's text: it only changes with the batch's
  // time, the plugin and the stream, so it is built once per batch, not per line.
  const std::string& prefix_for(const record& r);

  int fd_ = -1;
  record_buffer buffer_;  // whole records: a full disk tears no line
  batch_tracker batch_;
  std::string prefix_;
  std::string labels_;  // ,"NAME":"VALUE"... ; empty without labels
};

}  // namespace plughost::sinks
