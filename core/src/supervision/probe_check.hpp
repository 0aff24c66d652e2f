// One probe of a plugin's run (docs/health.md) on the event loop: a TCP connection, or an HTTP
// GET whose answer must be 200 to 399, within the probe's timeout; or a command, run as a process
// group of its own that gets SIGKILL at the timeout (supervisor_health.cpp starts it; this only
// waits for its end). Its outcome is said once, unless it was abandoned first.
#pragma once

#include <sys/types.h>

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <memory>
#include <string>

#include "supervision/plugin_policy.hpp"
#include "supervision/spawn.hpp"

namespace plughost::detail {

class probe_check {
 public:
  /// passed, and why not.
  using outcome = std::function<void(bool passed, std::string message)>;

  /// Begins a tcp or http probe.
  static std::shared_ptr<probe_check> connect(const boost::asio::any_io_executor& executor,
                                              const probe_spec& spec, outcome done);
  /// Waits for an exec probe's process (a group leader) through its pidfd: exit 0 passes; at
  /// the timeout, SIGKILL to its group. `exit_of` reaps it (the supervisor may have already).
  /// Its pipes are held open, unread, until it ends (what it writes does not end it with
  /// SIGPIPE; a probe writing more than a pipe holds waits, and its timeout ends it).
  static std::shared_ptr<probe_check> wait_for(const boost::asio::any_io_executor& executor,
                                               const probe_spec& spec, const spawned& process,
                                               std::function<int(pid_t)> exit_of, outcome done);

  virtual ~probe_check() = default;
  /// No outcome will be said; what it holds (a connection, a process group) is let go.
  virtual void abandon() = 0;
};

}  // namespace plughost::detail
