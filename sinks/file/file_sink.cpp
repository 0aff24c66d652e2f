// The file sink: formats with fmt, writes through rotating_file (spdlog's file_helper).
#include "file_sink.hpp"

#include <fmt/format.h>

namespace plughost::sinks {

namespace {
constexpr std::string_view placeholder = "{plugin}";
}

file_sink::file_sink(std::string path, std::int64_t max_size, std::int64_t max_files)
    : path_(std::move(path)),
      per_plugin_(path_.find(placeholder) != std::string::npos),
      max_size_(max_size),
      max_files_(max_files) {
  if (!per_plugin_) file_for("");  // a file that cannot be opened is a setup error
}

rotating_file& file_sink::file_for(std::string_view plugin) {
  const std::string_view key = per_plugin_ ? plugin : std::string_view();
  if (const auto it = files_.find(key); it != files_.end()) return *it->second;
  std::string path = path_;
  if (per_plugin_) {
    for (auto pos = path.find(placeholder); pos != std::string::npos;
         pos = path.find(placeholder, pos + plugin.size())) {
      path.replace(pos, placeholder.size(), plugin);
    }
  }
  auto file = std::make_unique<rotating_file>(path, max_size_, max_files_);
  return *files_.emplace(std::string(key), std::move(file)).first->second;
}

std::string file_sink::format_line(const record& r, std::string_view timestamp) {
  std::string out;
  const auto pid = r.pid > 0 ? fmt::format("[{}]", r.pid) : std::string();
  if (r.stream == stream::event) {
    out = fmt::format("{} {}{} event: {}\n", timestamp, r.plugin, pid, describe_event(r));
  } else {
    out = fmt::format("{} {}{} {}{}: ", timestamp, r.plugin, pid, to_string(r.stream),
                      r.partial ? "(partial)" : "");
    out.append(r.line).push_back('\n');
  }
  return out;
}

void file_sink::write(const record& r) {
  if (last_timestamp_.empty() || r.time != last_time_) {
    last_time_ = r.time;
    last_timestamp_ = format_timestamp(r.time);
  }
  file_for(r.plugin).write(format_line(r, last_timestamp_));
}

void file_sink::flush() {
  for (auto& [name, file] : files_) file->flush();
}

}  // namespace plughost::sinks
