// Matching lines against a POSIX extended regular expression (glibc's regcomp, regexec).
#include "common/line_pattern.hpp"

namespace plughost::detail {

line_pattern::line_pattern(const std::string& pattern) {
  for (std::size_t i = 0; i + 1 < pattern.size(); ++i) {
    if (pattern[i] != '\\') continue;
    if (pattern[i + 1] >= '1' && pattern[i + 1] <= '9') {
      error_ = "backreferences (\\1 to \\9) are not allowed: their matching time has no bound";
      return;
    }
    ++i;  // an escaped character
  }
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
  line = line.substr(0, max_matched);
  if (line.ends_with('\r')) line.remove_suffix(1);  // a line ended by CRLF
  // REG_STARTEND (glibc, BSD): the bounds come in pmatch[0], so a NUL in the line is a
  // character like any other, and the line need not be copied to end it with one.
  regmatch_t bounds{0, static_cast<regoff_t>(line.size())};
  return ::regexec(&compiled_, line.data(), 1, &bounds, REG_STARTEND) == 0;
}

}  // namespace plughost::detail
