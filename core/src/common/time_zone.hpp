// A time zone as the system's tz database has it (/usr/share/zoneinfo, tzdata), for schedules
// (docs/running.md, "Schedules"): the offset from UTC at any instant, from the zone's TZif file
// (its transitions, then the POSIX TZ rule at its end for the years after them). libstdc++ 12
// has no std::chrono tz database, and changing TZ for localtime_r would change it for every
// thread of the process.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace plughost::detail {

class time_zone {
 public:
  /// UTC.
  time_zone() = default;
  /// The zone named `name` ("Europe/Paris", "UTC") from `folder` (TZDIR, else
  /// /usr/share/zoneinfo); nullopt, and `error` saying why, when there is none.
  static std::optional<time_zone> load(std::string_view name, std::string& error,
                                       const std::string& folder = {});
  /// A zone from a POSIX TZ rule ("CET-1CEST,M3.5.0,M10.5.0/3"); nullopt when it is not one.
  static std::optional<time_zone> from_rule(std::string_view rule);

  /// Seconds to add to a UTC time (seconds since the epoch) to get the local time there.
  std::int64_t offset_at(std::int64_t utc) const;
  const std::string& name() const noexcept { return name_; }

 private:
  struct rule {  // POSIX TZ: standard time, and daylight saving time between two dates
    std::int64_t std_offset = 0, dst_offset = 0;  // seconds east of UTC
    bool has_dst = false;
    struct date {
      char kind = 'M';  // 'J': day 1-365 without Feb 29; 'D': day 0-365; 'M': month.week.day
      int day = 0, week = 0, month = 0;
      std::int64_t time = 7200;  // local seconds after midnight
    } start, end;
  };
  static std::optional<rule> parse_rule(std::string_view text);
  static std::int64_t rule_offset(const rule& r, std::int64_t utc);
  static std::int64_t transition(const rule::date& d, int year, std::int64_t offset);

  std::string name_ = "UTC";
  std::vector<std::int64_t> transitions_;  // UTC seconds, increasing
  std::vector<std::int64_t> offsets_;      // in effect from each transition on
  std::int64_t before_ = 0;                // before the first transition
  std::optional<rule> after_;              // after the last one
};

}  // namespace plughost::detail
