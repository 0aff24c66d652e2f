// YAML 1.1 scalars typed as PyYAML's SafeLoader types them (yaml_scalars.hpp): its resolvers'
// regular expressions, and Python's int() and float() on the text.
#include "config/yaml_scalars.hpp"

#include <boost/multiprecision/cpp_int.hpp>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <regex>

namespace plughost::detail {

namespace {

// YAML 1.1 implicit types (the resolver PyYAML's SafeLoader uses).
const std::regex& bool_re() {
  static const std::regex re(
      "yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF");
  return re;
}
const std::regex& int_re() {
  static const std::regex re(
      "[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|"
      "[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+");
  return re;
}
const std::regex& float_re() {
  static const std::regex re(
      "[-+]?(?:[0-9][0-9_]*)\\.[0-9_]*(?:[eE][-+][0-9]+)?|\\.[0-9_]+(?:[eE][-+][0-9]+)?|"
      "[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\\.[0-9_]*|[-+]?\\.(?:inf|Inf|INF)|\\.(?:nan|NaN|NAN)");
  return re;
}

bool is_null_word(const std::string& s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

std::string without_underscores(std::string s) {
  std::erase(s, '_');
  return s;
}

// YAML 1.1 base 60, without sign: "1:30" == 90, "1:30.5" == 90.5. strtold, not stold: a part
// too large for a long double is infinite (as Python's float() makes it), not an exception.
long double sexagesimal(const std::string& s) {
  long double value = 0;
  std::size_t start = 0;
  while (true) {
    const auto colon = s.find(':', start);
    value = value * 60 + std::strtold(s.substr(start, colon - start).c_str(), nullptr);
    if (colon == std::string::npos) return value;
    start = colon + 1;
  }
}

// A YAML 1.1 integer as Python's int() makes it: exact, whatever its size.
boost::multiprecision::cpp_int exact_integer(const std::string& text) {
  using boost::multiprecision::cpp_int;
  std::string s = without_underscores(text);
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.erase(0, 1);
  }
  const auto digits = [](const std::string& part, int base) {
    cpp_int value = 0;
    for (const char c : part) {
      const int digit = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
      value = value * base + digit;
    }
    return value;
  };
  cpp_int magnitude = 0;
  if (s.find(':') != std::string::npos) {
    std::size_t start = 0;
    while (true) {
      const auto colon = s.find(':', start);
      magnitude = magnitude * 60 + digits(s.substr(start, colon - start), 10);
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
  } else if (s.rfind("0b", 0) == 0) {
    magnitude = digits(s.substr(2), 2);
  } else if (s.rfind("0x", 0) == 0) {
    magnitude = digits(s.substr(2), 16);
  } else if (s.size() > 1 && s[0] == '0') {
    magnitude = digits(s.substr(1), 8);
  } else {
    magnitude = digits(s, 10);
  }
  if (negative) magnitude = -magnitude;
  return magnitude;
}

typed to_integer(const std::string& text) {
  const auto value = exact_integer(text);
  if (value >= std::numeric_limits<std::int64_t>::min() &&
      value <= std::numeric_limits<std::int64_t>::max()) {
    return {value.convert_to<std::int64_t>(), {}};
  }
  if (value > 0 && value <= std::numeric_limits<std::uint64_t>::max()) {
    return {value.convert_to<std::uint64_t>(), {}};
  }
  // As a double for plughost's own settings (plugins get the digits): near and beyond a
  // double's range, shifted first (Boost's conversion aborts where it would round up to
  // infinity), so that it becomes infinite as Python's float() of it would.
  const boost::multiprecision::cpp_int magnitude = abs(value);
  const auto bits = static_cast<int>(msb(magnitude));
  const int shift = bits < 1000 ? 0 : bits - 900;
  const double approximate =
      (value < 0 ? -1.0 : 1.0) *
      std::ldexp(boost::multiprecision::cpp_int(magnitude >> shift).convert_to<double>(), shift);
  return {approximate, value.str()};
}

json to_float(const std::string& text) {
  std::string s = without_underscores(text);
  if (s.find("inf") != std::string::npos || s.find("Inf") != std::string::npos ||
      s.find("INF") != std::string::npos) {
    return s[0] == '-' ? -std::numeric_limits<double>::infinity()
                       : std::numeric_limits<double>::infinity();
  }
  if (s.find("nan") != std::string::npos || s.find("NaN") != std::string::npos ||
      s.find("NAN") != std::string::npos) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  if (s.find(':') != std::string::npos) {
    const bool negative = s[0] == '-';
    if (s[0] == '-' || s[0] == '+') s.erase(0, 1);
    const auto value = static_cast<double>(sexagesimal(s));
    return negative ? -value : value;
  }
  return std::strtod(s.c_str(), nullptr);  // 1e999: inf, 1e-999: 0, as Python's float()
}

// libstdc++'s std::regex recurses once per character it matches, so a long enough scalar would
// overflow the stack. No null, boolean or number worth reading is this long: longer plain scalars
// stay strings.
constexpr std::size_t max_typed_scalar = 1024;

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

typed plain_scalar(const std::string& s) {
  if (s.size() > max_typed_scalar) return {s, {}};
  if (is_null_word(s)) return {nullptr, {}};
  if (std::regex_match(s, bool_re())) {
    const char c = s[0];
    return {
        c == 'y' || c == 'Y' || c == 't' || c == 'T' || (s.size() == 2 && (c == 'o' || c == 'O')),
        {}};
  }
  if (std::regex_match(s, int_re())) return to_integer(s);
  if (std::regex_match(s, float_re())) return {to_float(s), {}};
  return {s, {}};
}

std::optional<bool> explicit_bool(const std::string& text) {
  const auto word = lower(text);
  if (word == "yes" || word == "true" || word == "on") return true;
  if (word == "no" || word == "false" || word == "off") return false;
  return std::nullopt;
}

std::optional<typed> explicit_integer(const std::string& text) {
  if (!std::regex_match(text, int_re())) return std::nullopt;
  return to_integer(text);
}

std::optional<double> explicit_float(const std::string& text) {
  const std::string s = lower(without_underscores(text));
  const bool signed_ = !s.empty() && (s[0] == '-' || s[0] == '+');
  const std::string magnitude = signed_ ? s.substr(1) : s;
  const double sign = signed_ && s[0] == '-' ? -1.0 : 1.0;
  if (magnitude == ".inf") return sign * std::numeric_limits<double>::infinity();
  if (magnitude == ".nan") return std::numeric_limits<double>::quiet_NaN();
  if (s.find(':') != std::string::npos) {
    if (!std::regex_match(s, std::regex("[-+]?[0-9]+(?::[0-9]+)*(?:\\.[0-9]*)?"))) return {};
    return sign * static_cast<double>(sexagesimal(magnitude));
  }
  // strtod also reads hexadecimal, which float() does not.
  if (s.empty() || s.find('x') != std::string::npos) return {};
  char* end = nullptr;
  const double value = std::strtod(s.c_str(), &end);
  while (*end == ' ' || *end == '\t') ++end;
  if (end == s.c_str() || *end != '\0') return {};
  return value;
}

std::string key_text(const typed& key) {
  const auto& v = key.value;
  if (v.is_string()) return v.get<std::string>();
  if (key.exact) return *key.exact;
  if (v.is_null()) return "null";
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number_float()) return python_float_text(v.get<double>());
  return v.dump();
}

}  // namespace plughost::detail
