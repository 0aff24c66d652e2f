// What each plugin receives: its environment (docs/running.md) and the fingerprint that tells a
// reload whether the plugin changed.
#pragma once

#include <atomic>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/environment.hpp"
#include "config/launch_settings.hpp"
#include "supervision/supervision_port.hpp"

namespace plughost::detail {

/// Set in every plugin's environment to the pid of the plughost that started it.
inline constexpr std::string_view host_pid_variable = "PLUGHOST_HOST_PID";

/// The environment every plugin gets, before its name and its runner's variables: the host's,
/// with LMCache's variables (both spellings) and PLUGHOST_HOST_PID set.
environment_block plugin_environment(const environment_block& host,
                                     const launch_settings& settings);

/// A plughost never starts itself, directly or through a plugin of its own (for example a
/// launcher script of plughost found again in the folders it reads): it would start itself
/// again, without end. Throws usage_error when `host` is a plugin's environment.
void refuse_nesting(const environment_block& host);

/// A `plughost run` that LMCache's launcher started as one of its plugins (LMCache's variables
/// set; a plughost's plugin was refused by refuse_nesting already) runs only what --location
/// names: LMCache's own locations (its configuration file, its JSON, its variables) hold the
/// plugins LMCache starts itself, and every one of them would run twice. Throws usage_error.
void refuse_doubling(const environment_block& host, const launch_settings& settings);

/// What a plugin's isolation (docs/isolation.md) does to its environment, on top of its name
/// and its runner's variables: env_remove (plughost's own variables are kept), the GPU
/// variables (gpu: none or LIST), USER, LOGNAME and HOME of its user, its env (which wins), and
/// `redacted` (redacted_config() of its configuration) as each configuration variable the
/// shared entries hold.
void add_isolation_entries(const plugin_isolation& iso, const std::vector<std::string>& shared,
                           const std::optional<std::string>& redacted,
                           plugin_environment_entries& environment);

/// A stable text of `iso`, for the fingerprint: a reload restarts a plugin whose isolation
/// changed.
std::string isolation_text(const plugin_isolation& iso);
/// A short fingerprint of a text (16 hex digits of FNV-1a).
std::string text_fingerprint(std::string_view text);

/// Changes when the plugin's file (its bytes) or its argv changes.
/// `abandon` (may be null) true: throws std::runtime_error (a reload given up: plughost stops).
std::string plugin_fingerprint(const std::filesystem::path& file,
                               const std::vector<std::string>& argv,
                               const std::atomic<bool>* abandon = nullptr);

}  // namespace plughost::detail
