// plughost's own diagnostics (warnings, errors): on standard error, "plughost: warning: ...", or
// to the diagnostics handler of the launcher whose thread logs.
#pragma once

#include <spdlog/logger.h>

#include <memory>

#include "plughost/config.hpp"

namespace plughost::detail {

/// The logger of the launcher this thread works for (see log_scope), else the process's one on
/// standard error. Thread-safe.
spdlog::logger& log();

/// A logger that hands each message to `handler`; the standard-error one when it is empty.
std::shared_ptr<spdlog::logger> make_logger(const diagnostics_handler& handler);

/// What log() returns on this thread now, to hand to a thread that works for the same launcher.
std::shared_ptr<spdlog::logger> current_logger();

/// For its lifetime, log() on this thread is `logger`.
class log_scope {
 public:
  explicit log_scope(std::shared_ptr<spdlog::logger> logger);
  ~log_scope();
  log_scope(const log_scope&) = delete;
  log_scope& operator=(const log_scope&) = delete;

 private:
  std::shared_ptr<spdlog::logger> previous_;
};

}  // namespace plughost::detail
