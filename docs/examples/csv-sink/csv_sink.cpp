// The csv sink: one quoted row per record, using only the module API's helpers.
#include "csv_sink.hpp"

#include <filesystem>
#include <stdexcept>

#include "plughost/sink_helpers.hpp"

namespace example {

namespace {
// A field in double quotes, quotes doubled (RFC 4180).
std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  return out + '"';
}
}  // namespace

csv_sink::csv_sink(const std::string& path, bool header) {
  std::error_code ec;
  const bool fresh =
      !std::filesystem::exists(path, ec) || std::filesystem::file_size(path, ec) == 0;
  out_.open(path, std::ios::app | std::ios::binary);
  if (!out_) throw std::runtime_error("cannot open " + path);
  if (header && fresh) out_ << "time,plugin,pid,stream,text\n";
}

void csv_sink::write(const plughost::record& r) {
  const std::string text =
      r.stream == plughost::stream::event ? plughost::describe_event(r) : std::string(r.line);
  out_ << plughost::format_timestamp(r.time) << ',' << quoted(r.plugin) << ','
       << (r.pid > 0 ? std::to_string(r.pid) : std::string()) << ','
       << plughost::to_string(r.stream) << ',' << quoted(text) << '\n';
  if (!out_) throw std::runtime_error("write failed");
}

void csv_sink::flush() {
  out_.flush();
  if (!out_) throw std::runtime_error("flush failed");
}

}  // namespace example
