// plughost's own diagnostics (warnings, errors), on standard error: "plughost: warning: ...".
#pragma once

#include <spdlog/logger.h>

namespace plughost::detail {

/// The shared logger. Thread-safe.
spdlog::logger& log();

}  // namespace plughost::detail
