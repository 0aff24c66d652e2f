// A POSIX extended regular expression (as grep -E) that lines are matched against: glibc's
// regexec, whose memory and time do not grow with recursion on long lines as std::regex's do
// (a plugin's line may be 64 KiB).
#pragma once

#include <regex.h>

#include <memory>
#include <string>
#include <string_view>

namespace plughost::detail {

class line_pattern {
 public:
  /// Compiles `pattern`; error() says why when it cannot.
  explicit line_pattern(const std::string& pattern);
  ~line_pattern();
  line_pattern(const line_pattern&) = delete;
  line_pattern& operator=(const line_pattern&) = delete;

  bool valid() const noexcept { return valid_; }
  const std::string& error() const noexcept { return error_; }
  /// Whether `line` has a match (false for an invalid pattern).
  bool matches(std::string_view line) const;

 private:
  regex_t compiled_{};
  bool valid_ = false;
  std::string error_;
};

}  // namespace plughost::detail
