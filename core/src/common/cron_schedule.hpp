// A cron schedule (docs/running.md, "Schedules"): five fields, minute hour day-of-month month
// day-of-week, as crontab(5) has them (lists, ranges, steps, names of months and days, 7 for
// Sunday, a day matching either day field when both are restricted), the @hourly-style names,
// and, before the minute, an optional sixth field for seconds. When it next fires after an
// instant, in a time zone: a local time that a clock change skips fires right after the change;
// one it repeats fires once, the first time.
#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/time_zone.hpp"

namespace plughost::detail {

class cron_schedule {
 public:
  /// The schedule in `text`; nullopt, and `error` saying what is wrong, when it is not one.
  static std::optional<cron_schedule> parse(std::string_view text, std::string& error);

  /// The first second after `utc` (seconds since the epoch) at which it fires, in `zone`;
  /// nullopt when it never does (February 30th) within the next 8 years.
  std::optional<std::int64_t> next_after(std::int64_t utc, const time_zone& zone) const;

  const std::string& text() const noexcept { return text_; }

 private:
  bool fires_on(std::int64_t days, unsigned month, unsigned mday) const;
  std::optional<std::int64_t> first_in_day(std::int64_t day_start_local, std::int64_t after_utc,
                                           const time_zone& zone) const;

  std::string text_;
  std::bitset<60> seconds_, minutes_;
  std::bitset<24> hours_;
  std::bitset<32> mdays_;   // 1-31
  std::bitset<13> months_;  // 1-12
  std::bitset<7> wdays_;    // 0 (Sunday) - 6
  bool any_mday_ = true, any_wday_ = true;
};

}  // namespace plughost::detail
