// The jsonl sink. Output lines take a fast path: a cached prefix, then the text copied as it is
// when it is printable ASCII without quotes or backslashes (most log lines); anything else is
// escaped by nlohmann::json, which also replaces invalid UTF-8. Events go through
// nlohmann::ordered_json. Writes are batched per flush, whole records only.
#include "jsonl_sink.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <system_error>
#include <type_traits>

#include "plughost/sink_helpers.hpp"

namespace plughost::sinks {

namespace {
constexpr std::size_t flush_threshold = 256 * 1024;
using ordered = nlohmann::ordered_json;

// Bytes that JSON (as nlohmann::json writes it, ensure_ascii off) copies as they are, and that
// need no UTF-8 check: printable ASCII and DEL, except '"' and '\'.
constexpr std::array<bool, 256> plain_bytes = [] {
  std::array<bool, 256> t{};
  for (int c = 0x20; c <= 0x7f; ++c) t[static_cast<std::size_t>(c)] = c != '"' && c != '\\';
  return t;
}();

bool is_plain(std::string_view s) noexcept {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return plain_bytes[static_cast<unsigned char>(c)]; });
}

char* put(char* to, std::string_view s) noexcept {
  std::memcpy(to, s.data(), s.size());
  return to + s.size();
}
}  // namespace

jsonl_sink::jsonl_sink(const std::string& path,
                       const std::vector<std::pair<std::string, std::string>>& labels) {
  for (const auto& [name, value] : labels) {
    labels_ += ',';
    append_json_string(labels_, name);
    labels_ += ':';
    append_json_string(labels_, value);
  }
  // "-": standard output, for a program that reads the records from plughost's stdout.
  if (path == "-") {
    fd_ = ::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "cannot use stdout");
  } else {
    const std::filesystem::path p(path);
    fd_ = open_log_file(p.parent_path(), p.filename(), /*create_folder=*/false);
  }
  buffer_.reserve(flush_threshold + 64 * 1024);
}

jsonl_sink::~jsonl_sink() {
  try {
    flush();
  } catch (...) {  // nowhere left to report it
  }
  ::close(fd_);
}

void jsonl_sink::append_json_string(std::string& out, std::string_view s) {
  if (is_plain(s)) {
    out.push_back('"');
    out.append(s);
    out.push_back('"');
    return;
  }
  out += ordered(s).dump(-1, ' ', false, ordered::error_handler_t::replace);
}

std::string jsonl_sink::to_json_line(const record& r, std::string_view timestamp) {
  return record_to_json(r, timestamp);
}

const std::string& jsonl_sink::prefix_for(const record& r) {
  if (batch_.same_batch(r) && !prefix_.empty()) return prefix_;
  prefix_ = "{\"ts\":\"";
  prefix_ += format_timestamp(r.time);
  prefix_ += "\",\"plugin\":";
  append_json_string(prefix_, r.plugin);
  prefix_ += r.pid > 0 ? fmt::format(",\"pid\":{}", r.pid) : std::string(",\"pid\":null");
  prefix_ += ",\"stream\":\"";
  prefix_ += to_string(r.stream);
  prefix_ += "\",\"line\":";
  return prefix_;
}

void jsonl_sink::write(const record& r) {
  auto& text = buffer_.text();
  if (r.stream == stream::event) {
    text += to_json_line(r, format_timestamp(r.time));
    text.insert(text.size() - 1, labels_);  // before the closing brace
  } else if (!r.partial && is_plain(r.line)) {
    // Most lines: sized once, copied three times (prefix, text, labels) with no escaping.
    const auto& prefix = prefix_for(r);
    const auto at = text.size();
    text.resize(at + prefix.size() + r.line.size() + labels_.size() + 3);
    char* to = put(text.data() + at, prefix);
    *to++ = '"';
    to = put(to, r.line);
    *to++ = '"';
    to = put(to, labels_);
    *to = '}';
  } else {
    text += prefix_for(r);
    append_json_string(text, r.line);
    if (r.partial) text += ",\"partial\":true";
    text += labels_;
    text += '}';
  }
  text += '\n';
  buffer_.end_record();
  if (buffer_.size() >= flush_threshold) flush();
}

void jsonl_sink::flush() {
  if (!buffer_.empty()) buffer_.write_to(fd_);
}

}  // namespace plughost::sinks
