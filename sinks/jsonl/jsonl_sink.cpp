// The jsonl sink: nlohmann::json formats each record; writes are batched per flush.
#include "jsonl_sink.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>
#include <system_error>
#include <type_traits>

namespace plughost::sinks {

namespace {
constexpr std::size_t flush_threshold = 256 * 1024;
using ordered = nlohmann::ordered_json;
}  // namespace

jsonl_sink::jsonl_sink(const std::string& path) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "cannot open " + path);
}

jsonl_sink::~jsonl_sink() {
  try {
    flush();
  } catch (...) {  // nowhere left to report it
  }
  ::close(fd_);
}

std::string jsonl_sink::to_json_line(const record& r, std::string_view timestamp) {
  ordered j;
  j["ts"] = timestamp;
  j["plugin"] = r.plugin;
  j["pid"] = r.pid > 0 ? ordered(r.pid) : ordered(nullptr);
  j["stream"] = to_string(r.stream);
  if (r.stream == stream::event) {
    j["event"] = r.event;
    for (const auto& f : r.fields) {
      std::visit(
          [&](const auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::span<const std::string>>) {
              j[std::string(f.key)] = ordered(std::vector<std::string>(v.begin(), v.end()));
            } else {
              j[std::string(f.key)] = v;
            }
          },
          f.value);
    }
  } else {
    j["line"] = r.line;
    if (r.partial) j["partial"] = true;
  }
  return j.dump(-1, ' ', false, ordered::error_handler_t::replace);
}

void jsonl_sink::write(const record& r) {
  if (last_timestamp_.empty() || r.time != last_time_) {  // records of one batch share a time
    last_time_ = r.time;
    last_timestamp_ = format_timestamp(r.time);
  }
  buffer_ += to_json_line(r, last_timestamp_);
  buffer_ += '\n';
  if (buffer_.size() >= flush_threshold) flush();
}

void jsonl_sink::flush() {
  if (buffer_.empty()) return;
  try {
    write_fully(fd_, buffer_);
  } catch (...) {
    buffer_.clear();
    throw;
  }
  buffer_.clear();
}

}  // namespace plughost::sinks
