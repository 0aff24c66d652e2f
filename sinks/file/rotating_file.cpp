// Resumable, lossless size-based rotation, named as spdlog names rotated files.
#include "rotating_file.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>

#include "plughost/record.hpp"
#include "plughost/sink_helpers.hpp"

namespace plughost::sinks {

namespace {
constexpr std::size_t write_buffer = 64 * 1024;
}

rotating_file::rotating_file(std::filesystem::path folder, std::filesystem::path below,
                             std::int64_t max_size, std::int64_t max_files)
    : folder_(std::move(folder)),
      below_(std::move(below)),
      path_((folder_ / below_).string()),
      max_size_(max_size),
      max_files_(max_files < 1 ? 1 : max_files),
      fd_(open_log_file(folder_, below_, /*create_folder=*/true)) {
  struct stat st {};
  if (::fstat(fd_, &st) == 0) size_ = static_cast<std::int64_t>(st.st_size);
}

rotating_file::~rotating_file() {
  try {
    write_pending();
  } catch (...) {  // nowhere left to report it
  }
  ::close(fd_);
}

std::string rotating_file::rotated_name(const std::string& path, std::int64_t index) {
  return spdlog::sinks::rotating_file_sink_st::calc_filename(path, static_cast<std::size_t>(index));
}

std::string rotating_file::rotate_if_due(std::size_t length) {
  if (max_size_ > 0 && size_ > 0 && size_ + static_cast<std::int64_t>(length) > max_size_ &&
      std::chrono::steady_clock::now() >= next_attempt_) {
    try {
      rotate();
    } catch (const std::exception& e) {
      next_attempt_ = std::chrono::steady_clock::now() + retry_interval;
      return e.what();
    }
  }
  return {};
}

void rotating_file::end_record(std::size_t length, const std::string& rotation_error) {
  pending_.end_record();
  size_ += static_cast<std::int64_t>(length);
  if (pending_.size() >= write_buffer) write_pending();
  if (!rotation_error.empty()) {
    throw std::runtime_error(
        fmt::format("rotating {} failed: {}; the line was written to the "
                    "current file, rotation will be retried",
                    path_, rotation_error));
  }
}

void rotating_file::write(std::string_view text) {
  const auto rotation_error = rotate_if_due(text.size());
  pending_.text().append(text);
  end_record(text.size(), rotation_error);
}

void rotating_file::write_line(std::string_view prefix, std::string_view text) {
  const auto rotation_error = rotate_if_due(prefix.size() + text.size() + 1);
  auto& out = pending_.text();
  const auto before = out.size();
  out.append(prefix);
  append_visible(out, text);
  out.push_back('\n');
  end_record(out.size() - before, rotation_error);
}

void rotating_file::write_pending() {
  if (pending_.empty()) return;
  try {
    pending_.write_to(fd_);
  } catch (...) {
    struct stat st {};  // what was dropped is not in the file: count only what is
    if (::fstat(fd_, &st) == 0) size_ = static_cast<std::int64_t>(st.st_size);
    throw;
  }
}

void rotating_file::flush() {
  write_pending();
}

void rotating_file::rotate() {
  namespace fs = std::filesystem;
  // 1. Everything written so far is on disk before the file changes its name.
  write_pending();
  if (::fsync(fd_) != 0) {
    throw std::system_error(errno, std::generic_category(), "fsync " + path_);
  }
  // 2. Shift the rotated files, oldest first. A step that already happened is skipped, so a
  //    sequence interrupted by a failure resumes where it stopped on the next attempt. The open
  //    handle follows its file through renames: lines keep going to the same file meanwhile.
  for (auto i = max_files_ - 1; i >= 1; --i) {
    const auto from = rotated_name(path_, i);
    std::error_code ec;
    if (!fs::exists(from, ec)) continue;
    fs::rename(from, rotated_name(path_, i + 1), ec);  // replaces the oldest: max_files kept
    if (ec) throw std::system_error(ec, "rename " + from);
  }
  std::error_code ec;
  if (fs::exists(path_, ec)) {  // not yet renamed by an interrupted attempt
    fs::rename(path_, rotated_name(path_, 1), ec);
    if (ec) throw std::system_error(ec, "rename " + path_);
  }
  // 3. A new, empty file under the name; the old one is closed only once the new one is open.
  const int fresh = open_log_file(folder_, below_, /*create_folder=*/true);
  ::close(fd_);
  fd_ = fresh;
  size_ = 0;
}

}  // namespace plughost::sinks
