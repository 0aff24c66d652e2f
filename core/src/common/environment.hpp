// An environment as an ordered list of NAME=VALUE entries with lookup and replacement.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace plughost::detail {

class environment_block {
 public:
  environment_block() = default;
  /// From NAME=VALUE entries; an entry without '=' is kept as a name with an empty value.
  /// A repeated name keeps its first position and last value.
  explicit environment_block(const std::vector<std::string>& entries);

  /// This process's environment (environ).
  static environment_block current();

  std::optional<std::string_view> get(std::string_view name) const;
  /// Replaces the value in place, or appends the variable.
  void set(std::string_view name, std::string_view value);
  /// Removes the variable, if present.
  void unset(std::string_view name);

  /// NAME=VALUE entries in order, ready for execve.
  const std::vector<std::string>& entries() const noexcept { return entries_; }

 private:
  std::vector<std::string> entries_;
  std::unordered_map<std::string, std::size_t> index_;
};

}  // namespace plughost::detail
