// The output pump for one pipe: readiness on the event loop → non-blocking reads → lines →
// records → sinks. One pump per stream of each plugin; all of them on the one loop thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstdint>
#include <functional>
#include <string>

#include "output/line_splitter.hpp"
#include "output/record_dispatch.hpp"
#include "plughost/record.hpp"

namespace plughost::detail {

/// What a plugin wrote to one of its streams, in all its runs (the loop thread counts).
struct stream_totals {
  std::uint64_t lines = 0;  ///< records: a line longer than the limit counts once per piece
  std::uint64_t bytes = 0;  ///< as read from the pipe, newlines included
};

class output_pump final : private record_dispatch::room_waiter {
 public:
  /// Takes ownership of `fd` (the read end of a plugin's stdout or stderr pipe). `on_closed`
  /// runs once, after end of file (or a read error, or close()).
  output_pump(const boost::asio::any_io_executor& executor, int fd, std::string plugin, int pid,
              stream which, record_dispatch& out, std::function<void()> on_closed,
              stream_totals* totals = nullptr);
  ~output_pump();
  output_pump(const output_pump&) = delete;
  output_pump& operator=(const output_pump&) = delete;

  /// Starts waiting for output.
  void start();

  /// Reads, now, everything the pipe holds at this moment (what a plugin wrote before it
  /// exited is in the pipe by then), so that it is delivered before the exit event.
  void drain_now();

  /// At the exit of the plugin's main process: reads now what the pipe holds and returns true
  /// when the plugin's `block` sinks have room (as drain_now); otherwise returns false and
  /// calls `drained` (once, on the loop) when what the pipe holds now has been read, as room
  /// comes, or the pipe closed: a full queue grows by nothing at an exit.
  bool drain_or_wait(std::function<void()> drained);

  /// Stops reading: what is buffered without a newline becomes a last line. For a pipe that a
  /// process outside the plugin's process group holds open after shutdown.
  void close();

  bool is_open() const noexcept { return open_; }

  /// Each line (a piece of a long one too) is shown to `watch` after its record is written,
  /// until `watch` returns true (docs/health.md, ready_when.log). Empty: none.
  void watch_lines(std::function<bool(std::string_view)> watch) { watch_ = std::move(watch); }

 private:
  void arm();
  void on_readable();
  void on_room() override { arm(); }
  // Reads up to `budget` bytes (`until_full`: or until a `block` sink of its route is full);
  // closes the pump at end of file. Returns false when closed.
  bool read_some(std::size_t budget, bool until_full = false);
  void emit(std::string_view line, bool partial, std::chrono::system_clock::time_point now);
  void close_with_eof();
  // n bytes were read: counts them off a drain_or_wait() mark.
  void passed(std::size_t n);

  boost::asio::posix::stream_descriptor pipe_;
  std::string plugin_;
  int pid_;
  stream stream_;
  record_dispatch& out_;
  const record_dispatch::route& route_;  // this plugin's sinks, looked up once
  std::function<void()> on_closed_;
  stream_totals* totals_;  // may be null
  line_splitter splitter_;
  bool open_ = true;
  bool waiting_ = false;       // for readiness
  bool holding_back_ = false;  // for room in the queue of a `block` sink
  // drain_or_wait(): bytes still to read before `drained_` is called.
  std::size_t drain_mark_ = 0;
  std::size_t last_read_ = 0;  // by the latest read_some()
  std::function<void()> drained_;
  std::function<bool(std::string_view)> watch_;
};

}  // namespace plughost::detail
