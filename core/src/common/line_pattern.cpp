// Matching lines against a POSIX extended regular expression (glibc's regcomp, regexec).
#include "common/line_pattern.hpp"

namespace plughost::detail {

line_pattern::line_pattern(const std::string& pattern) {
  const int rc = ::regcomp(&compiled_, pattern.c_str(), REG_EXTENDED | REG_NOSUB);
  valid_ = rc == 0;
  if (!valid_) {
    char text[256];
    ::regerror(rc, &compiled_, text, sizeof text);
    error_ = text;
  }
}

line_pattern::~line_pattern() {
  if (valid_) ::regfree(&compiled_);
}

bool line_pattern::matches(std::string_view line) const {
  if (!valid_) return false;
  // regexec() reads up to a NUL: the line is copied, with any NUL in it cutting it there.
  const std::string text(line);
  return ::regexec(&compiled_, text.c_str(), 0, nullptr, 0) == 0;
}

}  // namespace plughost::detail
