// Durations, sizes and typo suggestions.
#include "config/setting_values.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace plughost::detail {
namespace {

using namespace std::chrono_literals;

TEST(durations, numbers_are_seconds_and_strings_may_carry_a_unit) {
  EXPECT_EQ(parse_duration(json(5)), 5s);
  EXPECT_EQ(parse_duration(json(0.5)), 500ms);
  EXPECT_EQ(parse_duration(json("500ms")), 500ms);
  EXPECT_EQ(parse_duration(json("2s")), 2s);
  EXPECT_EQ(parse_duration(json("1m")), 60s);
  EXPECT_EQ(parse_duration(json("1h")), 3600s);
  EXPECT_EQ(parse_duration(json("1.5")), 1500ms);
  EXPECT_EQ(parse_duration(json(" 3 s ")), 3s);
  EXPECT_EQ(parse_duration(json(0)), 0s);
}

TEST(durations, anything_else_is_refused) {
  for (const auto& bad : {json(-1), json("-1s"), json("5 parsecs"), json("s"), json(""), json(true),
                          json::array(), json("1e3"), json("1.2.3s")}) {
    EXPECT_FALSE(parse_duration(bad)) << bad.dump();
  }
}

TEST(durations, too_large_ones_say_so) {
  EXPECT_FALSE(parse_duration(json(2e9)));
  EXPECT_EQ(duration_error(json(2e9)),
            "too large: a duration is at most 1000000000 s (about 31 years)");
  EXPECT_EQ(duration_error(json("40000000h")),
            "too large: a duration is at most 1000000000 s (about 31 years)");
  EXPECT_EQ(duration_error(json("5 parsecs")), duration_expected);
  EXPECT_EQ(duration_error(json(std::nan(""))), duration_expected);
}

// The message validate_settings() gives for `value` under a one-key table of `type`.
std::string check(setting_type type, const json& value) {
  const setting_spec table[] = {{.key = "k", .type = type}};
  config_document doc;
  doc.source = "c.yaml";
  try {
    validate_settings(table, json{{"k", value}}, doc, json::json_pointer(), "t");
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(setting_types, counts_are_whole_numbers_of_zero_or_more) {
  EXPECT_EQ(check(setting_type::count, 0), "(no error)");
  EXPECT_EQ(check(setting_type::count, 7), "(no error)");
  EXPECT_EQ(check(setting_type::count, -1),
            "c.yaml: k in t: expected a whole number, 0 or more, got the number -1");
  EXPECT_NE(check(setting_type::count, 1.5).find("expected a whole number"), std::string::npos);
  EXPECT_EQ(check(setting_type::integer, -1), "(no error)");
}

TEST(setting_types, a_path_with_a_nul_is_refused) {
  EXPECT_EQ(check(setting_type::path, "logs/a.log"), "(no error)");
  EXPECT_NE(
      check(setting_type::path, std::string("logs\0/../../etc/x", 17)).find("expected a path"),
      std::string::npos);
}

TEST(setting_types, numbers_are_finite) {
  EXPECT_EQ(check(setting_type::number, 0.5), "(no error)");
  for (const double bad : {std::nan(""), HUGE_VAL, -HUGE_VAL}) {
    EXPECT_NE(check(setting_type::number, bad).find("expected a finite number"), std::string::npos)
        << bad;
  }
  // Named as written in YAML, not as JSON prints them (null).
  EXPECT_EQ(check(setting_type::count, std::nan("")),
            "c.yaml: k in t: expected a whole number, 0 or more, got not a number (.nan)");
  EXPECT_EQ(check(setting_type::duration, HUGE_VAL).substr(0, 21), "c.yaml: k in t: expec");
  EXPECT_NE(check(setting_type::duration, HUGE_VAL).find("got infinity (.inf)"), std::string::npos);
  EXPECT_NE(check(setting_type::number, -HUGE_VAL).find("got minus infinity (-.inf)"),
            std::string::npos);
}

TEST(sizes, bytes_or_a_unit) {
  EXPECT_EQ(parse_size(json(65536)), 65536);
  EXPECT_EQ(parse_size(json("64KiB")), 65536);
  EXPECT_EQ(parse_size(json("10MiB")), 10 * 1024 * 1024);
  EXPECT_EQ(parse_size(json("1GiB")), 1024LL * 1024 * 1024);
  EXPECT_EQ(parse_size(json("2KB")), 2000);
  EXPECT_EQ(parse_size(json("1.5KiB")), 1536);
  EXPECT_EQ(parse_size(json("12 B")), 12);
  for (const auto& bad : {json(-1), json(1.5), json("10 parsecs"), json("0.3B"), json("KiB")}) {
    EXPECT_FALSE(parse_size(bad)) << bad.dump();
  }
}

TEST(suggestions, a_close_key_is_suggested_a_far_one_is_not) {
  const std::vector<std::string> keys{"stop_timeout", "sinks"};
  EXPECT_EQ(nearest_key("stop_timout", keys), "stop_timeout");
  EXPECT_EQ(nearest_key("sink", keys), "sinks");
  EXPECT_EQ(nearest_key("colour", keys), std::nullopt);
  EXPECT_EQ(unknown_key_message("sink", "plughost", keys),
            "unknown key 'sink' in plughost (did you mean 'sinks'?)");
}

}  // namespace
}  // namespace plughost::detail
