// Time zones read from the system's tz database: each offset checked against glibc's own
// reading of the same zone (localtime_r with TZ set, this test being single-threaded there),
// across a century of instants, DST changes and the years past a file's last transition.
#include "common/time_zone.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <time.h>

#include <random>

namespace plughost::detail {
namespace {

// glibc's offset of `zone` at `utc`.
std::int64_t glibc_offset(const std::string& zone, std::int64_t utc) {
  const char* old = ::getenv("TZ");
  const std::string saved = old ? old : "";
  ::setenv("TZ", zone.c_str(), 1);
  ::tzset();
  const auto t = static_cast<time_t>(utc);
  struct tm local {};
  ::localtime_r(&t, &local);
  if (old) {
    ::setenv("TZ", saved.c_str(), 1);
  } else {
    ::unsetenv("TZ");
  }
  ::tzset();
  return local.tm_gmtoff;
}

time_zone zone(const std::string& name) {
  std::string error;
  auto z = time_zone::load(name, error);
  EXPECT_TRUE(z) << error;
  return z.value_or(time_zone());
}

TEST(time_zone, offsets_agree_with_glibc_over_a_century_of_instants) {
  std::mt19937_64 random(7);
  std::uniform_int_distribution<std::int64_t> instant(-631152000, 3471292800);  // 1950-2080
  for (const std::string name :
       {"Europe/Paris", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "Asia/Dubai",
        "America/Sao_Paulo", "Pacific/Chatham", "Australia/Lord_Howe", "Africa/Casablanca",
        "America/St_Johns", "Europe/London", "Pacific/Kiritimati"}) {
    const auto z = zone(name);
    for (int i = 0; i < 400; ++i) {
      const auto t = instant(random);
      ASSERT_EQ(z.offset_at(t), glibc_offset(name, t)) << name << " at " << t;
    }
  }
}

TEST(time_zone, the_changes_of_a_year_come_at_their_second) {
  const auto paris = zone("Europe/Paris");
  EXPECT_EQ(paris.offset_at(1774745999), 3600);  // 2026-03-29T00:59:59Z
  EXPECT_EQ(paris.offset_at(1774746000), 7200);  // 01:00:00Z: 02:00 CET is 03:00 CEST
  EXPECT_EQ(paris.offset_at(1792889999), 7200);  // 2026-10-25T00:59:59Z
  EXPECT_EQ(paris.offset_at(1792890000), 3600);
  const auto sydney = zone("Australia/Sydney");    // the southern summer spans the new year
  EXPECT_EQ(sydney.offset_at(1768478400), 39600);  // 2026-01-15
  EXPECT_EQ(sydney.offset_at(1784116800), 36000);  // 2026-07-15
  EXPECT_EQ(zone("Europe/Paris").offset_at(4118115600), 7200);  // 2100-07-01: the rule
  EXPECT_EQ(zone("UTC").offset_at(1784116800), 0);
  EXPECT_EQ(time_zone().offset_at(0), 0);
}

TEST(time_zone, posix_rules_are_read_as_posix_writes_them) {
  const auto cet = time_zone::from_rule("CET-1CEST,M3.5.0,M10.5.0/3");
  ASSERT_TRUE(cet);
  EXPECT_EQ(cet->offset_at(1774745999), 3600);
  EXPECT_EQ(cet->offset_at(1774746000), 7200);
  const auto plus = time_zone::from_rule("<+0330>-3:30");
  ASSERT_TRUE(plus);
  EXPECT_EQ(plus->offset_at(0), 12600);
  const auto julian = time_zone::from_rule("XST5XDT,J60/2,J300/2");  // day 60 is March 1st
  ASSERT_TRUE(julian);
  EXPECT_EQ(julian->offset_at(1772323200 + 7 * 3600), -4 * 3600);  // 2026-03-01T07:00Z
  EXPECT_EQ(julian->offset_at(1772323200 + 6 * 3600), -5 * 3600);
  for (const auto* bad : {"", "C-1", "CET", "CET-25", "CET-1CEST,M13.1.0,M10.5.0", "<+03-3",
                          "CET-1CEST,M3.5.0", "CET-1CEST,M3.5.0,M10.5.0/200"}) {
    EXPECT_FALSE(time_zone::from_rule(bad)) << bad;
  }
}

TEST(time_zone, a_name_that_is_no_zone_says_so) {
  std::string error;
  EXPECT_FALSE(time_zone::load("Europe/Nowhere", error));
  EXPECT_EQ(error,
            "no time zone named 'Europe/Nowhere' in /usr/share/zoneinfo (an Area/City name such "
            "as Europe/Paris; is tzdata installed?)");
  for (const auto* bad : {"../../etc/passwd", "/etc/localtime", "Europe/Paris\n", "", "Europe"}) {
    EXPECT_FALSE(time_zone::load(bad, error)) << bad;
  }
  EXPECT_FALSE(time_zone::load("leapseconds", error));  // a file of the folder, not a zone
  EXPECT_NE(error.find("is not a time zone file"), std::string::npos) << error;
}

}  // namespace
}  // namespace plughost::detail
