// Who am I: role, worker id and worker count from flags, then environment, then defaults.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "environment.hpp"
#include "plughost/config.hpp"

namespace plughost::detail {

/// Resolves SPEC.md §1. Throws usage_error naming the flag or variable when a worker id or count
/// is not a non-negative integer.
identity resolve_identity(const launch_options& options, const environment_block& env);

/// Parses a non-negative decimal integer (ASCII digits only, no sign, no blanks).
std::optional<std::uint64_t> parse_count(std::string_view text) noexcept;

}  // namespace plughost::detail
