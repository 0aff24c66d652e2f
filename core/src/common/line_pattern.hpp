// A POSIX extended regular expression (as grep -E) that lines are matched against: glibc's
// regexec, whose memory does not grow with recursion on long lines as std::regex's does. Its
// time grows with the length of a line (quadratically for `a.*b.*c`, worse with the
// backreferences POSIX allows): a line is matched on its first max_matched bytes, and a
// pattern with a backreference is refused, so that matching cannot hold up the event loop.
#pragma once

#include <regex.h>

#include <memory>
#include <string>
#include <string_view>

namespace plughost::detail {

class line_pattern {
 public:
  static constexpr std::size_t max_matched = 1024;

  /// Compiles `pattern`; error() says why when it cannot.
  explicit line_pattern(const std::string& pattern);
  ~line_pattern();
  line_pattern(const line_pattern&) = delete;
  line_pattern& operator=(const line_pattern&) = delete;

  bool valid() const noexcept { return valid_; }
  const std::string& error() const noexcept { return error_; }
  /// Whether `line` has a match in its first max_matched bytes (NULs included), without a
  /// final CR (false for an invalid pattern).
  bool matches(std::string_view line) const;

 private:
  regex_t compiled_{};
  bool valid_ = false;
  std::string error_;
};

}  // namespace plughost::detail
