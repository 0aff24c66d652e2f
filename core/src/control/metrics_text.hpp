// The text the metrics endpoint serves: /metrics in Prometheus' text format (version 0.0.4) and
// the /healthz verdict, from a launcher status and /proc. No HTTP here (metrics_server).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>

#include "control/process_stats.hpp"
#include "plughost/launcher.hpp"

namespace plughost::detail {

/// The /metrics text for a status; `usage` by process group (a plugin's pid).
std::string metrics_text(const launcher_status& s, const std::map<pid_t, group_usage>& usage);

/// /healthz: whether plughost is healthy now (its plugins' phase is starting or running, and the
/// event loop answered within the last few seconds), and why not.
bool healthy(const launcher_status& s, std::chrono::system_clock::time_point now, std::string& why);

/// /readyz: whether plughost is ready (healthy, start-up over, and every plugin marked
/// `required` ready), and why not (naming the plugins it waits for).
bool ready(const launcher_status& s, std::chrono::system_clock::time_point now, std::string& why);

}  // namespace plughost::detail
