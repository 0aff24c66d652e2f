// The supervisor: starts plugins as child processes and runs one small state machine per plugin
// (running → exited) plus the shared stop sequence (SIGTERM → stop timeout → SIGKILL → drain),
// all on one event-loop thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "record_dispatch.hpp"

namespace plughost::detail {

/// One plugin to start: its name (for records), argv and complete environment.
struct launch_item {
  std::string name;
  std::vector<std::string> argv;         ///< argv[0] is the program to execute
  std::vector<std::string> environment;  ///< NAME=VALUE entries
};

struct supervisor_options {
  std::chrono::nanoseconds stop_timeout = std::chrono::seconds(5);
  bool handle_signals = false;  ///< SIGTERM/SIGINT stop the plugins; a second one kills them
};

class supervisor {
 public:
  supervisor(record_dispatch& out, supervisor_options options);
  ~supervisor();
  supervisor(const supervisor&) = delete;
  supervisor& operator=(const supervisor&) = delete;

  /// Starts every item and supervises until no plugin is left running and every plugin's
  /// process group is gone (or stop() was called and the stop sequence ended). Returns true
  /// when every plugin ended with code 0 or was stopped by the supervisor; false when one
  /// failed or could not start. Runs the event loop on the calling thread; call once.
  bool run(std::vector<launch_item> items);

  /// Starts the stop sequence. Thread-safe; before run(), run() returns without starting.
  void stop() noexcept;

 private:
  class impl;
  std::unique_ptr<impl> impl_;
};

/// "SIGTERM" for 15; "SIG<n>" for a signal without a name.
std::string signal_name(int signal);

}  // namespace plughost::detail
