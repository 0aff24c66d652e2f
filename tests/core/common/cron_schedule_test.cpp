// Cron schedules: when they fire (in UTC and in zones with clock changes: a skipped local time
// fires right after the change, a repeated one once), and the schedules refused, with why.
#include "common/cron_schedule.hpp"

#include <gtest/gtest.h>

namespace plughost::detail {
namespace {

cron_schedule schedule(const std::string& text) {
  std::string error;
  auto c = cron_schedule::parse(text, error);
  EXPECT_TRUE(c) << text << ": " << error;
  return c.value_or(cron_schedule());
}

time_zone zone(const std::string& name) {
  std::string error;
  auto z = time_zone::load(name, error);
  EXPECT_TRUE(z) << error;
  return z.value_or(time_zone());
}

const time_zone utc;

// The times it fires after `from`, `n` of them.
std::vector<std::int64_t> firings(const cron_schedule& c, std::int64_t from, int n,
                                  const time_zone& z = utc) {
  std::vector<std::int64_t> out;
  for (int i = 0; i < n; ++i) {
    const auto next = c.next_after(from, z);
    if (!next) break;
    out.push_back(from = *next);
  }
  return out;
}

constexpr std::int64_t tuesday = 1796688433;  // 2026-12-08T00:07:13Z

TEST(cron_schedule, steps_ranges_lists_and_names_fire_when_crontab_says) {
  EXPECT_EQ(firings(schedule("*/15 * * * *"), tuesday, 3),
            (std::vector<std::int64_t>{1796688900, 1796689800, 1796690700}));
  EXPECT_EQ(firings(schedule("*/1 * * * *"), tuesday, 2),
            (std::vector<std::int64_t>{1796688480, 1796688540}));
  EXPECT_EQ(firings(schedule("@hourly"), tuesday, 1), (std::vector<std::int64_t>{1796691600}));
  EXPECT_EQ(firings(schedule("0 8 * * MON-fri"), 1796976000, 1),  // after Friday 08:00
            (std::vector<std::int64_t>{1797235200}));             // Monday 08:00
  EXPECT_EQ(firings(schedule("0 0 * * 7"), tuesday, 1), firings(schedule("@weekly"), tuesday, 1));
  EXPECT_EQ(firings(schedule("5,10-12/2 * * * *"), tuesday, 3),
            (std::vector<std::int64_t>{1796688600, 1796688720, 1796691900}));
  EXPECT_EQ(firings(schedule("*/2 * * * * *"), tuesday, 2),  // seconds first
            (std::vector<std::int64_t>{1796688434, 1796688436}));
  EXPECT_EQ(firings(schedule("0 0 1 jan *"), tuesday, 1), (std::vector<std::int64_t>{1798761600}));
}

// Both day fields restricted: a day that matches either fires (the 13th, and every Monday).
TEST(cron_schedule, a_day_matching_either_day_field_fires) {
  EXPECT_EQ(firings(schedule("0 0 13 * mon"), 1793923200, 3),  // after Friday 2026-11-06
            (std::vector<std::int64_t>{1794182400, 1794528000, 1794787200}));
  EXPECT_EQ(firings(schedule("0 0 13 * *"), 1793923200, 1),
            (std::vector<std::int64_t>{1794528000}));
  EXPECT_FALSE(schedule("0 0 30 2 *").next_after(tuesday, utc));  // never
}

// 02:30 in Paris: skipped on 2026-03-29 (fires at 03:30 CEST, right after the change),
// repeated on 2026-10-25 (fires once, the first time, 00:30Z).
TEST(cron_schedule, local_times_a_clock_change_skips_or_repeats_fire_once) {
  const auto paris = zone("Europe/Paris");
  const auto c = schedule("30 2 * * *");
  EXPECT_EQ(firings(c, 1774661400 + 3600, 2, paris),  // after 2026-03-28T02:30 CET
            (std::vector<std::int64_t>{1774747800, 1774747800 + 86400 - 3600}));
  EXPECT_EQ(firings(c, 1792888200 - 3600, 2, paris),
            (std::vector<std::int64_t>{1792888200, 1792978200}));
  // In Paris, 09:00 on weekdays is 08:00Z in winter.
  EXPECT_EQ(firings(schedule("0 9 * * 1-5"), 1796976000, 1, paris),
            (std::vector<std::int64_t>{1797235200}));
}

TEST(cron_schedule, schedules_that_are_not_ones_say_why) {
  const auto refused = [](const std::string& text) {
    std::string error;
    EXPECT_FALSE(cron_schedule::parse(text, error)) << text;
    return error;
  };
  EXPECT_EQ(refused("61 * * * *"), "minute field '61': values go from 0 to 59");
  EXPECT_EQ(refused("* * *"),
            "expected 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds "
            "first, got 3");
  EXPECT_EQ(refused("@reboot"),
            "unknown schedule '@reboot' (@yearly, @monthly, @weekly, @daily, @hourly; for a run "
            "at start, run_at_start: true)");
  EXPECT_EQ(refused("*/0 * * * *"), "minute field '*/0': a step must be a number from 1");
  EXPECT_EQ(refused("5-1 * * * *"),
            "minute field '5-1': a range goes from the lower value to the higher");
  EXPECT_EQ(refused("mon * * * *"),
            "minute field 'mon': expected *, a number, a name or a range such as 1-5");
  EXPECT_EQ(refused("* * 0 * *"), "day-of-month field '0': values go from 1 to 31");
  EXPECT_EQ(refused("* * * * 8"), "day-of-week field '8': values go from 0 to 7");
  EXPECT_EQ(refused("1,,2 * * * *"), "minute field '': an empty item");
  EXPECT_EQ(refused(""),
            "expected 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds "
            "first, got 0");
}

}  // namespace
}  // namespace plughost::detail
