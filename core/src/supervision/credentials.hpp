// A run's credentials (docs/isolation.md): each file of its plugin's `credentials` copied into a
// folder of the run's own, which only the plugin's user may read and which goes with the run, as
// systemd's LoadCredential= does. Never in the environment.
#pragma once

#include <filesystem>
#include <string>

#include "supervision/isolation.hpp"

namespace plughost::detail {

/// The most a credential file may hold (as systemd's CREDENTIAL_SIZE_MAX).
inline constexpr std::size_t max_credential_bytes = 1024 * 1024;

/// Why `file` cannot be a credential's source, or empty: plughost reads it with its own
/// rights (root's) for a plugin that may have fewer, so it must be a regular file (not a
/// symbolic link, a FIFO, a device), owned by root or plughost's user, in a folder no other
/// user may change.
std::string credential_source_problem(const std::filesystem::path& file);

/// Makes `folder` (its parent `root` made if needed, mode 0711) with each credential as a file
/// of mode 0400, the folder of mode 0500, both owned by the plugin's user. An error text (the
/// credential's name and file, and why) when one cannot be copied; the folder is then removed.
std::string write_credentials(const std::filesystem::path& root,
                              const std::filesystem::path& folder,
                              const plugin_isolation& isolation);

/// Removes `folder` and what is in it.
void remove_credentials(const std::filesystem::path& folder);

}  // namespace plughost::detail
