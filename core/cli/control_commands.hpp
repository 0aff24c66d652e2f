// The commands that talk to a running plughost through its control socket: status, start,
// stop, restart, reload, logs.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace plughost::cli {

/// Adds the control commands to `app`; returns their names, and sets `run` to what runs the
/// one the command line chose (it returns the exit code).
std::vector<std::string> add_control_commands(CLI::App& app, std::function<int()>& run);

}  // namespace plughost::cli
