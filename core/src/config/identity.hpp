// Who am I: role, worker id and worker count from flags, then environment, then defaults.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/environment.hpp"
#include "plughost/config.hpp"

namespace plughost::detail {

/// Resolves the identity: the options, then LMCACHE_RUNTIME_PLUGIN_*, then LMCACHE_PLUGIN_*,
/// then the defaults (no role, worker 0 of 1). Throws usage_error naming the variable when a
/// worker id is not an integer or a worker count not a positive integer (the variables are
/// parsed as the flags are, by parse_worker_id_option() and parse_worker_count_option()), and
/// when the options' worker count is 0.
identity resolve_identity(const launch_options& options, const environment_block& env);

/// Parses a non-negative decimal integer (ASCII digits only, no sign, no blanks).
std::optional<std::uint64_t> parse_count(std::string_view text) noexcept;

/// Parses a decimal integer: an optional '-', then ASCII digits (no '+', no blanks).
std::optional<std::int64_t> parse_integer(std::string_view text) noexcept;

}  // namespace plughost::detail
