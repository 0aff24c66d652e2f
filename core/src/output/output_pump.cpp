// Pipe reading for plugin output. Reads are done by the pump itself (wait for readiness, then
// read(2) until the pipe is empty), so no byte is ever held inside Asio: at a plugin's exit the
// pump knows exactly what has been delivered, and the exit event comes after the last line.
#include "output/output_pump.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

#include "common/log.hpp"
#include "plughost/sink_helpers.hpp"

namespace plughost::detail {

namespace {
constexpr std::size_t read_chunk = 64 * 1024;
// Per wake-up, so that one chatty plugin cannot starve the others on the loop.
constexpr std::size_t fair_share = 4 * read_chunk;
}  // namespace

output_pump::output_pump(const boost::asio::any_io_executor& executor, int fd, std::string plugin,
                         int pid, stream which, record_dispatch& out,
                         std::function<void()> on_closed, stream_totals* totals)
    : pipe_(executor, fd),
      plugin_(std::move(plugin)),
      pid_(pid),
      stream_(which),
      out_(out),
      route_(out.route_for(plugin_)),
      on_closed_(std::move(on_closed)),
      totals_(totals) {
  boost::system::error_code ec;
  pipe_.non_blocking(true, ec);
}

output_pump::~output_pump() {
  out_.cancel_wait(*this);
}

void output_pump::start() {
  arm();
}

void output_pump::arm() {
  holding_back_ = false;
  if (!open_ || waiting_) return;
  waiting_ = true;
  pipe_.async_wait(boost::asio::posix::descriptor_base::wait_read,
                   [this](const boost::system::error_code& ec) {
                     // Aborted: the pump closed its pipe, or is gone. Touch nothing of it.
                     if (ec != boost::asio::error::operation_aborted) on_readable();
                   });
}

void output_pump::on_readable() {
  waiting_ = false;
  if (!open_) return;
  // A full `block` sink: nothing is read (the pipe keeps it) until there is room.
  if (!out_.accepting(route_, plugin_) && out_.wait_for_room(*this, route_, plugin_)) {
    holding_back_ = true;
    return;
  }
  if (read_some(fair_share, /*until_full=*/true)) {
    // A `block` sink whose queue is full holds this plugin back: the pipe fills, the plugin
    // waits in write(). Only this plugin: the loop, signals and other plugins go on.
    if (out_.accepting(route_, plugin_) || !out_.wait_for_room(*this, route_, plugin_)) {
      arm();
    } else {
      holding_back_ = true;
    }
  }
  out_.flush();
}

void output_pump::drain_now() {
  if (!open_) return;
  int available = 0;
  if (::ioctl(pipe_.native_handle(), FIONREAD, &available) != 0 || available < 0) available = 0;
  // One byte more than is there: that last read sees end of file when no other process holds
  // the pipe, so that a last line without a newline also comes before the exit event.
  read_some(static_cast<std::size_t>(available) + 1);
}

bool output_pump::drain_or_wait(std::function<void()> drained) {
  if (!open_) return true;
  int available = 0;
  if (::ioctl(pipe_.native_handle(), FIONREAD, &available) != 0 || available < 0) available = 0;
  auto left = static_cast<std::size_t>(available);
  if (out_.accepting(route_, plugin_)) {
    // As drain_now(), but only while there is room: one byte more sees the end of the pipe.
    read_some(left + 1, /*until_full=*/true);
    left -= std::min(left, last_read_);
  }
  if (!open_ || left == 0) return true;
  drain_mark_ = left;
  drained_ = std::move(drained);
  // Waiting for readiness or for room already, as a pump always is between its handlers;
  // otherwise (it filled the queue just now) for room.
  if (!holding_back_ && !waiting_) {
    if (out_.wait_for_room(*this, route_, plugin_)) {
      holding_back_ = true;
    } else {
      arm();
    }
  }
  return false;
}

void output_pump::passed(std::size_t n) {
  if (!drained_) return;
  drain_mark_ -= std::min(drain_mark_, n);
  if (drain_mark_ == 0) std::exchange(drained_, nullptr)();
}

bool output_pump::read_some(std::size_t budget, bool until_full) {
  const auto now = std::chrono::system_clock::now();  // one timestamp per batch
  std::size_t& total = last_read_;
  total = 0;
  while (total < budget) {
    if (until_full && total > 0 && !out_.accepting(route_, plugin_)) return true;
    const auto read_buffer = out_.read_buffer();
    const auto want = std::min(read_buffer.size(), budget - total);
    const auto n = ::read(pipe_.native_handle(), read_buffer.data(), want);
    if (n > 0) {
      total += static_cast<std::size_t>(n);
      if (totals_) totals_->bytes += static_cast<std::uint64_t>(n);
      splitter_.feed(std::string_view(read_buffer.data(), static_cast<std::size_t>(n)),
                     [&](std::string_view line, bool partial) { emit(line, partial, now); });
      passed(static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) {
      close_with_eof();
      return false;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
    log().error("reading the {} of plugin {} failed: {}", to_string(stream_), visible_name(plugin_),
                std::strerror(errno));
    close_with_eof();
    return false;
  }
  return true;
}

void output_pump::emit(std::string_view line, bool partial,
                       std::chrono::system_clock::time_point now) {
  record r;
  r.time = now;
  r.plugin = plugin_;
  r.pid = pid_;
  r.stream = stream_;
  r.line = line;
  r.partial = partial;
  if (totals_) ++totals_->lines;
  out_.write(r, route_);
  if (watch_ && watch_(line)) watch_ = nullptr;
}

void output_pump::close() {
  if (!open_) return;
  drain_now();
  if (open_) close_with_eof();
}

void output_pump::close_with_eof() {
  const auto now = std::chrono::system_clock::now();
  splitter_.finish([&](std::string_view line, bool partial) { emit(line, partial, now); });
  open_ = false;
  if (holding_back_) out_.cancel_wait(*this);
  boost::system::error_code ec;
  pipe_.close(ec);  // cancels a pending wait; its handler sees operation_aborted
  out_.flush();
  if (drained_) std::exchange(drained_, nullptr)();
  if (on_closed_) on_closed_();
}

}  // namespace plughost::detail
