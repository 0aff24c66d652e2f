// The nearest of some names to a mistyped one, for "did you mean ...?".
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace plughost::detail {

/// The name of `valid` nearest to `key` (Levenshtein distance), if one is close enough: at most
/// 2 edits, or a third of its length.
std::optional<std::string> nearest_key(std::string_view key, const std::vector<std::string>& valid);

/// " (did you mean 'NEAREST'?)" when one is close enough, else "" (appended to an error).
std::string did_you_mean(std::string_view key, const std::vector<std::string>& valid);

}  // namespace plughost::detail
