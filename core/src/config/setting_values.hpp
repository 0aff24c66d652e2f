// Checking configured values against a settings table (the core's own and every module's).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/nearest.hpp"
#include "config/config_document.hpp"
#include "plughost/config.hpp"
#include "plughost/module.hpp"

namespace plughost::detail {

/// A duration: a non-negative number of seconds (0.5) or a string "<number><unit>" with unit
/// ms, s, m or h ("500ms", "2s", "1m"); a string without a unit means seconds.
std::optional<std::chrono::nanoseconds> parse_duration(const json& v);
inline constexpr std::string_view duration_expected =
    "expected a duration such as 5, 0.5, 500ms, 2s or 1m";
/// The longest duration accepted (plughost::max_duration), in seconds.
inline constexpr double max_duration_seconds = static_cast<double>(max_duration.count());
/// Why `v` is not a duration: too large, or not a duration at all (duration_expected).
std::string duration_error(const json& v);
/// A typed duration of launch_options (`what`: "launch_options.stop_timeout"), as a text one
/// is checked: throws usage_error when it is negative or longer than max_duration.
void check_duration_option(std::string_view what, std::chrono::nanoseconds d);

/// A size: a non-negative number of bytes or a string with unit B, KiB, MiB, GiB, KB, MB, GB.
std::optional<std::int64_t> parse_size(const json& v);
inline constexpr std::string_view size_expected = "expected a size such as 65536, 64KiB or 10MiB";

/// "unknown key 'x' in <where> (did you mean 'y'?)" or "... (expected one of: a, b)".
std::string unknown_key_message(std::string_view key, std::string_view where,
                                const std::vector<std::string>& valid);

/// Checks `object` (the mapping at `where` in `doc`) against `table` and returns the typed
/// values, defaults filled in (unless `fill_defaults` is false: then only what is written, for
/// layering). Keys in `extra_keys` are allowed and left to the caller.
/// `what` names the mapping in messages ("plughost", "sink 'jsonl'").
/// Throws config_error at the offending key or value.
settings validate_settings(std::span<const setting_spec> table, const json& object,
                           const config_document& doc, const json::json_pointer& where,
                           std::string_view what, const std::vector<std::string>& extra_keys = {},
                           bool fill_defaults = true);

}  // namespace plughost::detail
