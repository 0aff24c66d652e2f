// The file sink: formats with fmt, writes through rotating_file (spdlog's file_helper).
#include "file_sink.hpp"

#include <fmt/format.h>

#include <stdexcept>

#include "plughost/events.hpp"
#include "plughost/sink_helpers.hpp"

namespace plughost::sinks {

namespace {
constexpr std::string_view placeholder = "{plugin}";
// An unopenable per-plugin file is tried again after these (spdlog's open itself retries with
// sleeps, 50 ms in all: once per record would stall every plugin behind it).
constexpr std::chrono::seconds first_retry{1};
constexpr std::chrono::seconds longest_retry{60};
}  // namespace

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
  // The folder the configuration names, and below it what a plugin's name adds: that part is
  // created and opened without following links (open_log_file()).
  const auto cut = per_plugin_ ? path_.rfind('/', path_.find(placeholder)) : path_.rfind('/');
  const std::filesystem::path folder = cut == std::string::npos ? "." : path_.substr(0, cut + 1);
  std::string below = cut == std::string::npos ? path_ : path_.substr(cut + 1);
  if (!per_plugin_) {
    auto file = std::make_unique<rotating_file>(folder, below, max_size_, max_files_);
    return *files_.emplace(std::string(key), std::move(file)).first->second;
  }
  // Events about plughost itself (an empty plugin) go to "plughost".
  const std::string_view name = plugin.empty() ? std::string_view("plughost") : plugin;
  for (auto pos = below.find(placeholder); pos != std::string::npos;
       pos = below.find(placeholder, pos + name.size())) {
    below.replace(pos, placeholder.size(), name);
  }
  const auto now = std::chrono::steady_clock::now();
  const auto pending = retries_.find(key);
  if (pending != retries_.end() && now < pending->second.at) {
    throw std::runtime_error(
        fmt::format("{} (tried again in {}s)", pending->second.error,
                    std::chrono::ceil<std::chrono::seconds>(pending->second.at - now).count()));
  }
  try {
    auto file = std::make_unique<rotating_file>(folder, below, max_size_, max_files_);
    if (pending != retries_.end()) retries_.erase(pending);
    return *files_.emplace(std::string(key), std::move(file)).first->second;
  } catch (const std::exception& e) {
    auto& r = retries_[std::string(key)];
    const auto delay = r.next_delay.count() > 0 ? r.next_delay : first_retry;
    r = {now + delay, std::min(delay * 2, longest_retry), e.what()};
    throw;
  }
}

void file_sink::close_file_of(std::string_view plugin) {
  const auto it = files_.find(plugin);
  if (it == files_.end()) return;
  if (prefix_file_ == it->second.get()) {
    prefix_file_ = nullptr;
    prefix_.clear();
  }
  it->second->flush();
  files_.erase(it);
}

std::string file_sink::format_line(const record& r, std::string_view timestamp) {
  const auto pid = r.pid > 0 ? fmt::format("[{}]", r.pid) : std::string();
  const auto plugin = visible_name(shown_plugin(r));
  if (r.stream == stream::event) {
    return fmt::format("{} {}{} event: {}\n", timestamp, plugin, pid, describe_event(r));
  }
  std::string out = fmt::format("{} {}{} {}{}: ", timestamp, plugin, pid, to_string(r.stream),
                                r.partial ? "(partial)" : "");
  append_visible(out, r.line);
  out.push_back('\n');
  return out;
}

const std::string& file_sink::prefix_for(const record& r) {
  if (batch_.same_batch(r) && !prefix_.empty() && prefix_file_) return prefix_;
  prefix_file_ = &file_for(r.plugin);
  record without_text = r;
  without_text.line = {};
  prefix_ = format_line(without_text, format_timestamp(r.time));
  prefix_.pop_back();  // its newline
  return prefix_;
}

void file_sink::write(const record& r) {
  if (r.stream == stream::event) {
    file_for(r.plugin).write(format_line(r, format_timestamp(r.time)));
    // Its run is over: a renamed or removed plugin must not keep its file open for ever.
    if (per_plugin_ && r.event == events::exited) close_file_of(r.plugin);
    return;
  }
  const auto& prefix = prefix_for(r);
  prefix_file_->write_line(prefix, r.line);  // visible: a CR or escape could forge other lines
}

// Every file is flushed even when one fails; the failures are added up.
void file_sink::flush() {
  std::uint64_t lost = 0;
  std::string first_error;
  for (auto& [name, file] : files_) {
    try {
      file->flush();
    } catch (const sink_error& e) {
      lost += e.lost();
      if (first_error.empty()) first_error = e.what();
    } catch (const std::exception& e) {
      if (first_error.empty()) first_error = e.what();
    }
  }
  if (!first_error.empty()) throw sink_error(first_error, lost);
}

}  // namespace plughost::sinks
