// Whether a plugin's environment and command line fit what Linux's execve() accepts: said
// before anything starts (or a reload applies), not as a bare "Argument list too long" from
// every plugin.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "supervision/supervision_port.hpp"

namespace plughost::detail {

/// Linux's limit on one argv or environment string, its NUL included (MAX_ARG_STRLEN).
inline constexpr std::size_t max_exec_string = 32 * 4096;

/// What execve() accepts in all, as Linux computes it for a program started now: a quarter
/// of the stack limit (RLIMIT_STACK, `ulimit -s`), at most 6 MiB, at least 128 KiB (ARG_MAX).
std::size_t exec_size_limit();

/// What an exec of `argv` with `environment` takes against that limit: each string's bytes and
/// its NUL, and a pointer to each.
std::size_t exec_size(const std::vector<std::string>& argv,
                      const std::vector<std::string>& environment);

/// Empty when every item can be started (with the run's mark the supervisor adds); else one
/// line naming the first plugin that cannot (and how many others), its size and the limit, and
/// the largest parts of it.
std::string exec_size_problem(const std::vector<launch_item>& items, std::size_t limit);

}  // namespace plughost::detail
