// Durations, sizes, typo suggestions and table-driven validation of settings.
#include "config/setting_values.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "plughost/error.hpp"

namespace plughost::detail {

namespace {

// "<number><unit>" with optional blanks between; returns the number and the unit.
std::optional<std::pair<double, std::string>> split_number_unit(std::string_view s) {
  auto trim = [](std::string_view t) {
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
    return t;
  };
  s = trim(s);
  std::size_t i = 0;
  while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) ++i;
  if (i == 0) return std::nullopt;
  double number = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + i, number);
  if (ec != std::errc() || end != s.data() + i) return std::nullopt;
  return std::make_pair(number, std::string(trim(s.substr(i))));
}

std::optional<double> non_negative_number(const json& v) {
  if (!v.is_number()) return std::nullopt;
  const double d = v.get<double>();
  if (!std::isfinite(d) || d < 0) return std::nullopt;
  return d;
}

std::string duration_too_large() {
  return fmt::format("too large: a duration is at most {:.0f} s (about 31 years)",
                     max_duration_seconds);
}

}  // namespace

namespace {

// A duration in seconds, whatever its size; nullopt when it is not a duration.
std::optional<double> duration_seconds(const json& v) {
  double seconds = 0;
  if (const auto n = non_negative_number(v)) {
    seconds = *n;
  } else if (v.is_string()) {
    const auto parts = split_number_unit(v.get_ref<const std::string&>());
    if (!parts) return std::nullopt;
    const auto& [number, unit] = *parts;
    if (unit == "ms") {
      seconds = number / 1000;
    } else if (unit.empty() || unit == "s") {
      seconds = number;
    } else if (unit == "m") {
      seconds = number * 60;
    } else if (unit == "h") {
      seconds = number * 3600;
    } else {
      return std::nullopt;
    }
  } else {
    return std::nullopt;
  }
  if (!std::isfinite(seconds)) return std::nullopt;
  return seconds;
}

}  // namespace

std::optional<std::chrono::nanoseconds> parse_duration(const json& v) {
  const auto seconds = duration_seconds(v);
  if (!seconds || *seconds > max_duration_seconds) return std::nullopt;
  return std::chrono::nanoseconds(static_cast<std::int64_t>(std::llround(*seconds * 1e9)));
}

std::string duration_error(const json& v) {
  if (duration_seconds(v)) return duration_too_large();
  return std::string(duration_expected);
}

void check_duration_option(std::string_view what, std::chrono::nanoseconds d) {
  const double seconds = std::chrono::duration<double>(d).count();
  if (d.count() < 0) {
    throw usage_error(fmt::format("{}: a duration cannot be negative, got {} s", what, seconds));
  }
  if (d > max_duration) {
    throw usage_error(fmt::format("{}: {}, got {} s", what, duration_too_large(), seconds));
  }
}

std::optional<std::int64_t> parse_size(const json& v) {
  double bytes = 0;
  if (v.is_number_integer() || v.is_number_unsigned()) {
    const auto n = non_negative_number(v);
    if (!n) return std::nullopt;
    bytes = *n;
  } else if (v.is_string()) {
    const auto parts = split_number_unit(v.get_ref<const std::string&>());
    if (!parts) return std::nullopt;
    const auto& [number, unit] = *parts;
    static const std::pair<std::string_view, double> units[] = {{"", 1},
                                                                {"B", 1},
                                                                {"KiB", 1024.0},
                                                                {"MiB", 1024.0 * 1024},
                                                                {"GiB", 1024.0 * 1024 * 1024},
                                                                {"KB", 1e3},
                                                                {"MB", 1e6},
                                                                {"GB", 1e9}};
    const auto it = std::find_if(std::begin(units), std::end(units),
                                 [&](const auto& u) { return u.first == unit; });
    if (it == std::end(units)) return std::nullopt;
    bytes = number * it->second;
  } else {
    return std::nullopt;
  }
  if (bytes > 9e18 || bytes != std::floor(bytes)) return std::nullopt;
  return static_cast<std::int64_t>(bytes);
}

std::string unknown_key_message(std::string_view key, std::string_view where,
                                const std::vector<std::string>& valid) {
  if (const auto near = nearest_key(key, valid)) {
    return fmt::format("unknown key '{}' in {} (did you mean '{}'?)", key, where, *near);
  }
  return fmt::format("unknown key '{}' in {} (expected one of: {})", key, where,
                     fmt::join(valid, ", "));
}

namespace {

std::vector<std::string_view> split_choices(std::string_view choices) {
  std::vector<std::string_view> out;
  while (!choices.empty()) {
    const auto bar = choices.find('|');
    out.push_back(choices.substr(0, bar));
    if (bar == std::string_view::npos) break;
    choices.remove_prefix(bar + 1);
  }
  return out;
}

// What a value that is not of `spec`'s type is: for a list of strings, the item that is not one
// (YAML reads a bare true, 8 or null as no string).
std::string got_for(const setting_spec& spec, const json& v) {
  if (spec.type == setting_type::string_list && v.is_array()) {
    for (const auto& item : v) {
      if (!item.is_string()) {
        return fmt::format("a list holding {} (quote it to make it a string)", describe_type(item));
      }
    }
  }
  return describe_type(v);
}

// Parses one value of `spec`'s type, or returns what was expected.
std::variant<settings::value, std::string> typed_value(const setting_spec& spec, const json& v,
                                                       const std::filesystem::path& base_dir) {
  switch (spec.type) {
    case setting_type::string:
      if (v.is_string()) return settings::value(v.get<std::string>());
      return std::string("expected a string");
    case setting_type::path: {
      if (!v.is_string() || v.get_ref<const std::string&>().empty() ||
          v.get_ref<const std::string&>().find('\0') != std::string::npos) {
        return std::string("expected a path");  // a NUL would cut it short
      }
      std::filesystem::path p(v.get<std::string>());
      if (p == "-") return settings::value(p.string());  // standard input or output, by custom
      if (p.is_relative()) p = base_dir / p;
      return settings::value(p.lexically_normal().string());
    }
    case setting_type::boolean:
      if (v.is_boolean()) return settings::value(v.get<bool>());
      return std::string("expected true or false");
    case setting_type::integer:
      if (v.is_number_integer()) return settings::value(v.get<std::int64_t>());
      return std::string("expected an integer");
    case setting_type::count:
      if (v.is_number_unsigned() || (v.is_number_integer() && v.get<std::int64_t>() >= 0)) {
        return settings::value(v.get<std::int64_t>());
      }
      return std::string("expected a whole number, 0 or more");
    case setting_type::number:
      if (v.is_number() && std::isfinite(v.get<double>())) return settings::value(v.get<double>());
      return std::string("expected a finite number");
    case setting_type::duration:
      if (const auto d = parse_duration(v)) return settings::value(*d);
      return duration_error(v);
    case setting_type::size:
      if (const auto s = parse_size(v)) return settings::value(*s);
      return std::string(size_expected);
    case setting_type::string_list: {
      if (!v.is_array()) return std::string("expected a list of strings");
      std::vector<std::string> items;
      for (const auto& item : v) {
        if (!item.is_string()) return std::string("expected a list of strings");
        items.push_back(item.get<std::string>());
      }
      return settings::value(std::move(items));
    }
    case setting_type::choice: {
      const auto options = split_choices(spec.choices);
      if (v.is_string() && std::find(options.begin(), options.end(),
                                     v.get_ref<const std::string&>()) != options.end()) {
        return settings::value(v.get<std::string>());
      }
      return fmt::format("expected one of {}", fmt::join(options, ", "));
    }
  }
  return std::string("unsupported setting type");
}

}  // namespace

settings validate_settings(std::span<const setting_spec> table, const json& object,
                           const config_document& doc, const json::json_pointer& where,
                           std::string_view what, const std::vector<std::string>& extra_keys,
                           bool fill_defaults) {
  if (!object.is_object()) {
    doc.fail_at_value(where, fmt::format("{} must be a mapping of settings, got {}", what,
                                         describe_type(object)));
  }
  std::vector<std::string> valid;
  for (const auto& spec : table) valid.emplace_back(spec.key);
  valid.insert(valid.end(), extra_keys.begin(), extra_keys.end());

  for (const auto& [key, value] : object.items()) {
    if (std::find(valid.begin(), valid.end(), key) == valid.end()) {
      doc.fail_at_key(where / key, unknown_key_message(key, what, valid));
    }
  }

  settings out;
  for (const auto& spec : table) {
    const std::string key(spec.key);
    if (const auto it = object.find(key); it != object.end() && !it->is_null()) {
      auto parsed = typed_value(spec, *it, doc.base_dir);
      if (auto* expected = std::get_if<std::string>(&parsed)) {
        doc.fail_at_value(where / key, fmt::format("{} in {}: {}, got {}", key, what, *expected,
                                                   got_for(spec, *it)));
      }
      out.set(key, std::get<settings::value>(std::move(parsed)));
    } else if (!fill_defaults) {
      continue;
    } else if (!spec.default_value.empty()) {
      // Defaults are written as configuration text would be: 5, true, "5s", "auto".
      auto default_json = json::parse(spec.default_value, nullptr, false);
      if (default_json.is_discarded()) default_json = std::string(spec.default_value);
      auto parsed = typed_value(spec, default_json, doc.base_dir);
      if (auto* v = std::get_if<settings::value>(&parsed)) {
        out.set(key, std::move(*v));
      } else {
        throw std::logic_error(fmt::format("bad default for setting {}.{}", what, key));
      }
    } else if (spec.required) {
      doc.fail_at_value(where, fmt::format("missing required setting '{}' in {}", key, what));
    }
  }
  return out;
}

}  // namespace plughost::detail

namespace plughost {

std::chrono::nanoseconds parse_duration_option(std::string_view option, std::string_view text) {
  const detail::json value = std::string(text);
  const auto d = detail::parse_duration(value);
  if (!d) {
    throw usage_error(fmt::format("{}: {}, got '{}'", option, detail::duration_error(value), text));
  }
  return *d;
}

}  // namespace plughost
