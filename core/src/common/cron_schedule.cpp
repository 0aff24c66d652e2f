// Cron schedules (cron_schedule.hpp).
#include "common/cron_schedule.hpp"

#include <fmt/format.h>

#include <array>
#include <cctype>
#include <sstream>
#include <vector>

namespace plughost::detail {

namespace {

constexpr std::array<std::string_view, 12> month_names{"jan", "feb", "mar", "apr", "may", "jun",
                                                       "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr std::array<std::string_view, 7> day_names{"sun", "mon", "tue", "wed",
                                                    "thu", "fri", "sat"};

struct field_kind {
  const char* what;
  unsigned lo, hi;
  const std::string_view* names;  // lo's name first; null: numbers only
  std::size_t name_count;
};

// A number, or a name of `kind`.
std::optional<unsigned> value_of(std::string_view text, const field_kind& kind) {
  if (text.empty()) return std::nullopt;
  if (kind.names && std::isalpha(static_cast<unsigned char>(text[0]))) {
    std::string lower;
    for (const char c : text)
      lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (std::size_t i = 0; i < kind.name_count; ++i) {
      if (lower == kind.names[i]) return kind.lo + static_cast<unsigned>(i);
    }
    return std::nullopt;
  }
  unsigned v = 0;
  for (const char c : text) {
    if (c < '0' || c > '9' || v > 1000) return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  return v;
}

// One field: `*`, values, ranges and steps, comma-separated, onto `bits` (a bit per value).
template <std::size_t N>
std::string read_field(std::string_view text, const field_kind& kind, std::bitset<N>& bits) {
  const auto bad = [&](std::string_view item, const std::string& why) {
    return fmt::format("{} field '{}': {}", kind.what, item, why);
  };
  const unsigned top = std::string_view(kind.what) == "day-of-week" ? 7 : kind.hi;
  while (!text.empty()) {
    const auto comma = text.find(',');
    const auto item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    if (item.empty()) return bad(item, "an empty item");
    auto range = item;
    unsigned step = 1;
    if (const auto slash = item.find('/'); slash != std::string_view::npos) {
      const auto s = value_of(item.substr(slash + 1), {kind.what, 0, 0, nullptr, 0});
      if (!s || *s == 0) return bad(item, "a step must be a number from 1");
      step = *s;
      range = item.substr(0, slash);
    }
    unsigned from = kind.lo, to = top == 7 ? 6 : kind.hi;
    if (range != "*") {
      const auto dash = range.find('-');
      const auto a = value_of(range.substr(0, dash), kind);
      const auto b = dash == std::string_view::npos ? a : value_of(range.substr(dash + 1), kind);
      if (!a || !b) return bad(item, "expected *, a number, a name or a range such as 1-5");
      if (*a < kind.lo || *b > top) {
        return bad(item, fmt::format("values go from {} to {}", kind.lo, top));
      }
      if (*a > *b) return bad(item, "a range goes from the lower value to the higher");
      from = *a;
      to = dash == std::string_view::npos && item.find('/') != std::string_view::npos ? top : *b;
    }
    for (unsigned v = from; v <= to; v += step) bits.set(v % (top == 7 ? 7 : N));
  }
  return {};
}

}  // namespace

std::optional<cron_schedule> cron_schedule::parse(std::string_view text, std::string& error) {
  static const std::pair<std::string_view, std::string_view> names[] = {
      {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
      {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
      {"@hourly", "0 * * * *"}};
  cron_schedule c;
  c.text_ = std::string(text);
  std::string expanded(text);
  if (!text.empty() && text.front() == '@') {
    expanded.clear();
    for (const auto& [name, fields] : names) {
      if (text == name) expanded = fields;
    }
    if (expanded.empty()) {
      error = fmt::format(
          "unknown schedule '{}' (@yearly, @monthly, @weekly, @daily, @hourly; "
          "for a run at start, run_at_start: true)",
          text);
      return std::nullopt;
    }
  }
  std::istringstream in(expanded);
  std::vector<std::string> fields{std::istream_iterator<std::string>(in), {}};
  if (fields.size() != 5 && fields.size() != 6) {
    error = fmt::format(
        "expected 5 fields (minute hour day-of-month month day-of-week), or 6 "
        "with seconds first, got {}",
        fields.size());
    return std::nullopt;
  }
  if (fields.size() == 5) fields.insert(fields.begin(), "0");
  const field_kind kinds[] = {{"second", 0, 59, nullptr, 0},
                              {"minute", 0, 59, nullptr, 0},
                              {"hour", 0, 23, nullptr, 0},
                              {"day-of-month", 1, 31, nullptr, 0},
                              {"month", 1, 12, month_names.data(), month_names.size()},
                              {"day-of-week", 0, 6, day_names.data(), day_names.size()}};
  for (const auto& e :
       {read_field(fields[0], kinds[0], c.seconds_), read_field(fields[1], kinds[1], c.minutes_),
        read_field(fields[2], kinds[2], c.hours_), read_field(fields[3], kinds[3], c.mdays_),
        read_field(fields[4], kinds[4], c.months_), read_field(fields[5], kinds[5], c.wdays_)}) {
    if (!e.empty()) {
      error = e;
      return std::nullopt;
    }
  }
  c.any_mday_ = fields[3].front() == '*';
  c.any_wday_ = fields[5].front() == '*';
  return c;
}

bool cron_schedule::fires_on(std::int64_t days, unsigned month, unsigned mday) const {
  if (!months_[month]) return false;
  const auto wday = static_cast<std::size_t>(((days % 7) + 11) % 7);  // 1970-01-01: Thursday
  if (any_mday_ || any_wday_) return (any_mday_ || mdays_[mday]) && (any_wday_ || wdays_[wday]);
  return mdays_[mday] || wdays_[wday];  // both restricted: either, as crontab(5) says
}

// The first second of the local day beginning at `day_start_local` that fires after
// `after_utc`, as a UTC second.
std::optional<std::int64_t> cron_schedule::first_in_day(std::int64_t day_start_local,
                                                        std::int64_t after_utc,
                                                        const time_zone& zone) const {
  // No clock change moves local time by more than 3 hours: earlier local times are over.
  const auto earliest = after_utc + zone.offset_at(after_utc) - 3 * 3600;
  for (std::size_t h = 0; h < 24; ++h) {
    const auto hour = day_start_local + static_cast<std::int64_t>(h) * 3600;
    if (!hours_[h] || hour + 3599 < earliest) continue;
    for (std::size_t m = 0; m < 60; ++m) {
      const auto minute = hour + static_cast<std::int64_t>(m) * 60;
      if (!minutes_[m] || minute + 59 < earliest) continue;
      for (std::size_t s = 0; s < 60; ++s) {
        if (!seconds_[s]) continue;
        const auto local = minute + static_cast<std::int64_t>(s);
        // Its UTC times: the offset of a day before and of a day after, where they agree.
        const auto before = zone.offset_at(local - 86400), later = zone.offset_at(local + 86400);
        std::optional<std::int64_t> first;
        for (const auto o : {before, later}) {
          const auto utc = local - o;
          if (zone.offset_at(utc) == o && (!first || utc < *first)) first = utc;
        }
        if (!first) first = local - before;  // skipped by the clock: right after the change
        if (*first > after_utc) return first;
      }
    }
  }
  return std::nullopt;
}

std::optional<std::int64_t> cron_schedule::next_after(std::int64_t utc,
                                                      const time_zone& zone) const {
  const auto local = utc + zone.offset_at(utc);
  const auto today = (local >= 0 ? local : local - 86399) / 86400;
  for (std::int64_t day = today - 1; day <= today + 8 * 366; ++day) {
    // The civil date of `day` (H. Hinnant's civil_from_days).
    const auto z = day + 719468;
    const auto era = (z >= 0 ? z : z - 146096) / 146097;
    const auto doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned mday = doy - (153 * mp + 2) / 5 + 1;
    const unsigned month = mp < 10 ? mp + 3 : mp - 9;
    if (!fires_on(day, month, mday)) continue;
    if (auto at = first_in_day(day * 86400, utc, zone)) return at;
  }
  return std::nullopt;
}

}  // namespace plughost::detail
