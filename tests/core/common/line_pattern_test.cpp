// Lines matched against a POSIX extended regular expression (ready_when.log): what is matched of
// a line, and the patterns refused because their matching time has no bound.
#include "common/line_pattern.hpp"

#include <gtest/gtest.h>

#include <string>

namespace plughost::detail {
namespace {

using namespace std::string_literals;

TEST(line_pattern, matches_as_grep_e_within_the_first_kibibyte_of_a_line) {
  const line_pattern p("listening on port [0-9]+$");
  ASSERT_TRUE(p.valid()) << p.error();
  EXPECT_TRUE(p.matches("server listening on port 8080"));
  EXPECT_TRUE(p.matches("server listening on port 8080\r")) << "a CRLF line";
  EXPECT_TRUE(p.matches("x\0y listening on port 80"s)) << "a NUL is a character like any other";
  EXPECT_FALSE(p.matches("listening on port eighty"));
  const std::string padding(line_pattern::max_matched - 30, ' ');
  EXPECT_TRUE(p.matches(padding + "listening on port 1"));
  EXPECT_FALSE(p.matches(std::string(line_pattern::max_matched, ' ') + "listening on port 1"))
      << "beyond the bytes matched";
}

TEST(line_pattern, backreferences_and_invalid_patterns_are_refused_with_why) {
  const line_pattern back("^(a+)+\\1$");
  EXPECT_FALSE(back.valid());
  EXPECT_EQ(back.error(),
            "backreferences (\\1 to \\9) are not allowed: their matching time has no bound");
  EXPECT_TRUE(line_pattern("a\\\\1").valid()) << "an escaped backslash, then a 1";
  const line_pattern bad("a(b");
  EXPECT_FALSE(bad.valid());
  EXPECT_EQ(bad.error(), "Unmatched ( or \\(");
  EXPECT_FALSE(bad.matches("a(b"));
}

// A pathological pattern on a long line takes as long as on its first kibibyte: a plugin cannot
// hold up the event loop with its lines. (Only against a hang: a generous bound.)
TEST(line_pattern, a_quadratic_pattern_on_a_64_kib_line_is_bounded_by_the_bytes_matched) {
  const line_pattern p("a.*b.*c");
  const std::string line(64 * 1024, 'a');
  const auto began = std::chrono::steady_clock::now();
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(p.matches(line));
  EXPECT_LT(std::chrono::steady_clock::now() - began, std::chrono::seconds(5));
}

}  // namespace
}  // namespace plughost::detail
