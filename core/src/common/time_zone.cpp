// Time zones from TZif files (RFC 8536) and POSIX TZ rules (time_zone.hpp).
#include "common/time_zone.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace plughost::detail {

namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

std::int64_t year_of(std::int64_t seconds) {
  auto z = (seconds >= 0 ? seconds : seconds - 86399) / 86400 + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2);
}

bool leap(std::int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

unsigned days_in(std::int64_t y, unsigned m) {
  static constexpr unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : days[m - 1];
}

// A POSIX TZ text, read from the front.
struct reader {
  std::string_view s;
  bool eat(char c) {
    if (s.empty() || s.front() != c) return false;
    s.remove_prefix(1);
    return true;
  }
  std::optional<int> number(int most) {
    int n = 0, digits = 0;
    while (!s.empty() && s.front() >= '0' && s.front() <= '9' && digits < 3) {
      n = n * 10 + (s.front() - '0');
      s.remove_prefix(1);
      ++digits;
    }
    if (digits == 0 || n > most) return std::nullopt;
    return n;
  }
  // A zone's name: letters, or anything but '>' between '<' and '>'.
  bool name() {
    if (eat('<')) {
      const auto end = s.find('>');
      if (end == std::string_view::npos || end == 0) return false;
      s.remove_prefix(end + 1);
      return true;
    }
    std::size_t n = 0;
    while (n < s.size() && ((s[n] >= 'A' && s[n] <= 'Z') || (s[n] >= 'a' && s[n] <= 'z'))) ++n;
    s.remove_prefix(n);
    return n >= 3;
  }
  // [+-]hh[:mm[:ss]] in seconds (hours up to `most`).
  std::optional<std::int64_t> clock(int most) {
    const bool minus = eat('-');
    if (!minus) eat('+');
    const auto h = number(most);
    if (!h) return std::nullopt;
    std::int64_t t = *h * 3600;
    if (eat(':')) {
      const auto m = number(59);
      if (!m) return std::nullopt;
      t += *m * 60;
      if (eat(':')) {
        const auto sec = number(59);
        if (!sec) return std::nullopt;
        t += *sec;
      }
    }
    return minus ? -t : t;
  }
};

}  // namespace

std::optional<time_zone::rule> time_zone::parse_rule(std::string_view text) {
  reader in{text};
  rule r;
  if (!in.name()) return std::nullopt;
  const auto std_off = in.clock(24);
  if (!std_off) return std::nullopt;
  r.std_offset = -*std_off;  // POSIX counts west of UTC
  if (in.s.empty()) return r;
  if (!in.name()) return std::nullopt;
  r.has_dst = true;
  r.dst_offset = r.std_offset + 3600;
  if (!in.s.empty() && in.s.front() != ',') {
    const auto dst_off = in.clock(24);
    if (!dst_off) return std::nullopt;
    r.dst_offset = -*dst_off;
  }
  const auto date = [&](rule::date& d) {
    if (!in.eat(',')) return false;
    if (in.eat('M')) {
      const int m = in.number(12).value_or(0);
      const int w = in.eat('.') ? in.number(5).value_or(0) : 0;
      const int day = in.eat('.') ? in.number(6).value_or(-1) : -1;
      if (m < 1 || w < 1 || day < 0) return false;
      d = {'M', day, w, m};
    } else {
      const bool julian = in.eat('J');
      const auto n = in.number(365);
      if (!n || (julian && *n < 1)) return false;
      d = {julian ? 'J' : 'D', *n, 0, 0};
    }
    if (in.eat('/')) {
      const auto t = in.clock(167);
      if (!t) return false;
      d.time = *t;
    }
    return true;
  };
  if (in.s.empty()) {  // POSIX's default: the United States' rule
    r.start = {'M', 0, 2, 3};
    r.end = {'M', 0, 1, 11};
    return r;
  }
  if (!date(r.start) || !date(r.end) || !in.s.empty()) return std::nullopt;
  return r;
}

// The UTC second at which `d` comes in `year`, the offset before it being `offset`.
std::int64_t time_zone::transition(const rule::date& d, int year, std::int64_t offset) {
  std::int64_t day = 0;
  if (d.kind == 'J') {
    day = days_from_civil(year, 1, 1) + d.day - 1 + (leap(year) && d.day >= 60 ? 1 : 0);
  } else if (d.kind == 'D') {
    day = days_from_civil(year, 1, 1) + d.day;
  } else {
    const auto first = days_from_civil(year, static_cast<unsigned>(d.month), 1);
    const auto weekday = (first + 4) % 7;  // 1970-01-01 was a Thursday
    auto mday = 1 + (d.day - weekday + 7) % 7 + (d.week - 1) * 7;
    while (mday > days_in(year, static_cast<unsigned>(d.month))) mday -= 7;  // week 5: the last
    day = first + mday - 1;
  }
  return day * 86400 + d.time - offset;
}

std::int64_t time_zone::rule_offset(const rule& r, std::int64_t utc) {
  if (!r.has_dst) return r.std_offset;
  const auto year = static_cast<int>(year_of(utc + r.std_offset));
  const auto start = transition(r.start, year, r.std_offset);
  const auto end = transition(r.end, year, r.dst_offset);
  const bool dst = start < end ? (utc >= start && utc < end) : !(utc >= end && utc < start);
  return dst ? r.dst_offset : r.std_offset;
}

std::optional<time_zone> time_zone::from_rule(std::string_view text) {
  auto r = parse_rule(text);
  if (!r) return std::nullopt;
  time_zone z;
  z.name_ = std::string(text);
  z.after_ = std::move(r);
  return z;
}

namespace {

// A TZif file's bytes, read from the front; false once they run out.
struct bytes {
  std::string_view s;
  bool ok = true;
  std::int64_t integer(std::size_t size) {
    if (s.size() < size) {
      ok = false;
      return 0;
    }
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < size; ++i) v = v << 8 | static_cast<unsigned char>(s[i]);
    s.remove_prefix(size);
    if (size == 4) return static_cast<std::int32_t>(static_cast<std::uint32_t>(v));
    return static_cast<std::int64_t>(v);
  }
  void skip(std::size_t n) {
    if (s.size() < n) ok = false;
    s.remove_prefix(std::min(n, s.size()));
  }
};

struct tzif_counts {
  std::size_t isut = 0, isstd = 0, leap = 0, time = 0, type = 0, chars = 0;
};

tzif_counts header(bytes& in) {
  if (in.s.substr(0, 4) != "TZif") in.ok = false;
  in.skip(20);
  tzif_counts c;
  for (auto* n : {&c.isut, &c.isstd, &c.leap, &c.time, &c.type, &c.chars}) {
    *n = static_cast<std::size_t>(in.integer(4));
  }
  if (c.type == 0 || c.time > 100000 || c.type > 256) in.ok = false;
  return c;
}

// The bytes of zone `name`'s file, or nullopt and why not.
std::optional<std::string> zone_file(std::string_view name, const std::string& folder,
                                     std::string& path, std::string& error) {
  const bool plain = !name.empty() && name.front() != '/' && name.find("..") == name.npos &&
                     name.find_first_not_of(
                         "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                         "0123456789_+-/") == name.npos;
  const char* tzdir = std::getenv("TZDIR");
  const std::string base = !folder.empty()   ? folder
                           : tzdir && *tzdir ? tzdir
                                             : "/usr/share/zoneinfo";
  path = fmt::format("{}/{}", base, name);
  std::error_code ec;
  const bool regular = std::filesystem::is_regular_file(path, ec);
  std::ifstream file;
  if (plain && regular) file.open(path, std::ios::binary);
  if (!plain || !regular || !file) {
    error = fmt::format(
        "no time zone named '{}' in {} (an Area/City name such as Europe/Paris; "
        "is tzdata installed?)",
        name, base);
    return std::nullopt;
  }
  std::string text(256 * 1024, '\0');  // the largest zone files are about 4 KiB
  file.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(file.gcount()));
  return text;
}

}  // namespace

std::optional<time_zone> time_zone::load(std::string_view name, std::string& error,
                                         const std::string& folder) {
  if (name == "UTC" || name == "Etc/UTC") return time_zone();
  std::string path;
  const auto read = zone_file(name, folder, path, error);
  if (!read) return std::nullopt;
  const auto& text = *read;
  bytes in{text};
  auto c = header(in);
  const char version = text.size() > 4 ? text[4] : 0;
  std::size_t width = 4;
  if (version >= '2' && in.ok) {  // the 64-bit data after the 32-bit block
    in.skip(c.time * 5 + c.type * 6 + c.chars + c.leap * 8 + c.isstd + c.isut);
    c = header(in);
    width = 8;
  }
  time_zone z;
  z.name_ = std::string(name);
  for (std::size_t i = 0; i < c.time && in.ok; ++i) z.transitions_.push_back(in.integer(width));
  std::vector<std::size_t> kinds;
  for (std::size_t i = 0; i < c.time && in.ok; ++i) {
    kinds.push_back(static_cast<std::size_t>(in.integer(1)));
  }
  std::vector<std::int64_t> utoffs;
  for (std::size_t i = 0; i < c.type && in.ok; ++i) {
    utoffs.push_back(in.integer(4));
    in.skip(2);
  }
  in.skip(c.chars + c.leap * (width + 4) + c.isstd + c.isut);
  for (const auto k : kinds) {
    if (k >= utoffs.size()) in.ok = false;
    z.offsets_.push_back(in.ok ? utoffs[k] : 0);
  }
  if (in.ok && !utoffs.empty()) z.before_ = utoffs.front();
  if (in.ok && width == 8 && in.s.size() > 2 && in.s.front() == '\n') {
    const auto rule_text = in.s.substr(1, in.s.find('\n', 1) - 1);
    if (!rule_text.empty()) z.after_ = parse_rule(rule_text);
  }
  if (!in.ok || !std::is_sorted(z.transitions_.begin(), z.transitions_.end())) {
    error = fmt::format("{} is not a time zone file (TZif) plughost can read", path);
    return std::nullopt;
  }
  return z;
}

std::int64_t time_zone::offset_at(std::int64_t utc) const {
  if (transitions_.empty() || utc < transitions_.front()) {
    return transitions_.empty() && after_ ? rule_offset(*after_, utc) : before_;
  }
  const auto at = std::upper_bound(transitions_.begin(), transitions_.end(), utc) - 1;
  if (at == transitions_.end() - 1 && after_) return rule_offset(*after_, utc);
  return offsets_[static_cast<std::size_t>(at - transitions_.begin())];
}

}  // namespace plughost::detail
