// The read end of a FIFO that a sink of plughost writes into, read by nobody until drain():
// a consumer of plughost's output that hangs.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "test_support.hpp"

namespace plughost::test {

class stalled_reader {
 public:
  explicit stalled_reader(fs::path path) : path_(std::move(path)) {
    if (::mkfifo(path_.c_str(), 0600) != 0) throw std::runtime_error("mkfifo");
    fd_ = ::open(path_.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd_ < 0) throw std::runtime_error("open fifo");
  }
  ~stalled_reader() {
    stop_ = true;
    if (reader_.joinable()) reader_.join();
    ::close(fd_);
  }
  const fs::path& path() const { return path_; }

  /// Starts reading, in the background, until end of file.
  void drain() {
    reader_ = std::thread([this] {
      char buffer[65536];
      bool writer_seen = false;
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        const auto n = ::read(fd_, buffer, sizeof buffer);
        if (n > 0) {
          writer_seen = true;
          const std::lock_guard lock(mutex_);
          text_.append(buffer, static_cast<std::size_t>(n));
        } else if (n == 0 && writer_seen) {
          break;  // every writer has closed it
        } else if (n == 0) {
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
      }
      done_ = true;
    });
  }
  bool done() const { return done_; }
  std::string text() const {
    const std::lock_guard lock(mutex_);
    return text_;
  }

 private:
  fs::path path_;
  int fd_ = -1;
  std::thread reader_;
  std::atomic<bool> stop_{false}, done_{false};
  mutable std::mutex mutex_;
  std::string text_;
};

}  // namespace plughost::test
