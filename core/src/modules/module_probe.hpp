// Loading a module file in a child process, so that one whose code crashes, exits or hangs while
// it loads (an initializer that aborts, say) is a failure to report, not the end of plughost.
#pragma once

#include <chrono>
#include <filesystem>
#include <vector>

#include "modules/module_loader.hpp"

namespace plughost::detail {

struct probe_result {
  std::vector<module_summary> modules;
  std::vector<module_failure> failures;  ///< the file's, as load_module_file() says them
};

/// How long a child may take to load one file before it is killed and the file is a failure.
inline constexpr std::chrono::seconds probe_timeout{10};

/// Loads `file` (load_module_file) in a child process, forked from this one, which reports back
/// on a pipe what summarize() says of each module, and exits.
/// A child killed by a signal is a failure "crashed while loading (SIGSEGV)", one that exits
/// before it is done "exited with status 3 while loading", one still busy after `timeout` is
/// killed: "was still loading after 10 s (killed)". The child's standard input and output are
/// /dev/null (a module's initializer must not write into plughost's output); its standard error is
/// plughost's. Never throws. Fork from a single-threaded process: in the child, only this thread
/// exists.
probe_result probe_module_file(const std::filesystem::path& file,
                               std::chrono::milliseconds timeout = probe_timeout);

}  // namespace plughost::detail
