// Which running plughost a control command talks to: found as `run` finds its own socket (the
// configuration and identity), by --socket, or by --pid among the sockets of the default folders.
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "control_connection.hpp"
#include "plughost/launcher.hpp"

namespace plughost::cli {

/// The options every control command has to find its plughost.
struct finding_options {
  launch_options launch;
  // --worker-id's text: connect() parses it into launch as `run` does (not with --pid)
  std::optional<std::string> worker_id;
  std::optional<std::string> socket;
  std::optional<int> pid;  // --pid: the plughost with this pid, or the one serving this process
};

/// Adds --socket, --config, --settings, --role, --worker-id and --pid to `cmd`.
void add_finding_options(CLI::App& cmd, finding_options& o);

/// Connects to the plughost the options name. Throws unreachable_error when none answers,
/// usage_error when the options name none or several, or --worker-id is no integer.
control_connection connect(finding_options& o);

/// A plughost found by its socket: its status, or why it gave none.
struct found_run {
  std::filesystem::path socket;
  nlohmann::json status;  // null when it did not answer
  std::string error;
};

/// Asks the plughost at `socket` for its status; never throws.
found_run ask_status(const std::filesystem::path& socket);

/// Every socket in the default folders (this user's, and as root a service's), in name order;
/// `looked_in` gets the folders, for messages.
std::vector<std::filesystem::path> sockets_in_default_folders(const finding_options& o,
                                                              std::string& looked_in);

/// A run's role, worker id and a pid from its status, as shown ("?", "(none)" or "-" if absent).
std::string run_role(const nlohmann::json& status);
std::string run_worker(const nlohmann::json& status);
std::string pid_text(const nlohmann::json& status, const char* key);

}  // namespace plughost::cli
