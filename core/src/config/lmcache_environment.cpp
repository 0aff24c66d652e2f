// LMCACHE_<KEY> variables read as LMCache's config_base.py reads them (its _parse_quoted_string
// and the converters of runtime_plugin_locations and extra_config).
#include "config/lmcache_environment.hpp"

#include <fmt/format.h>

#include <charconv>

namespace plughost::detail {

namespace {

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

// `count` hex digits at body[i..]: the value, or nullopt.
std::optional<char32_t> hex_digits(std::string_view body, std::size_t i, std::size_t count) {
  if (i + count > body.size()) return std::nullopt;
  std::uint32_t v = 0;
  const auto* first = body.data() + i;
  const auto [end, ec] = std::from_chars(first, first + count, v, 16);
  if (ec != std::errc() || end != first + count || v > 0x10FFFF) return std::nullopt;
  return static_cast<char32_t>(v);
}

// Up to three octal digits from body[i]; `i` is left on the last.
char32_t octal_escape(std::string_view body, std::size_t& i) {
  char32_t v = 0;
  std::size_t n = 0;
  while (n < 3 && i < body.size() && body[i] >= '0' && body[i] <= '7') {
    v = v * 8 + static_cast<char32_t>(body[i] - '0');
    ++i;
    ++n;
  }
  --i;
  return v;
}

// The escape at body[i] (after its backslash), appended decoded; `i` is left on its last
// character. False where Python's ast.literal_eval would fail.
bool decode_escape(std::string_view body, std::size_t& i, std::string& out) {
  const char e = body[i];
  switch (e) {
    case '\n':
      break;  // a line continuation
    case '\\':
    case '\'':
    case '"':
      out.push_back(e);
      break;
    case 'a':
      out.push_back('\a');
      break;
    case 'b':
      out.push_back('\b');
      break;
    case 'f':
      out.push_back('\f');
      break;
    case 'n':
      out.push_back('\n');
      break;
    case 'r':
      out.push_back('\r');
      break;
    case 't':
      out.push_back('\t');
      break;
    case 'v':
      out.push_back('\v');
      break;
    case 'x':
    case 'u':
    case 'U': {
      const std::size_t count = e == 'x' ? 2 : e == 'u' ? 4 : 8;
      const auto v = hex_digits(body, i + 1, count);
      if (!v) return false;
      append_utf8(out, *v);
      i += count;
      break;
    }
    case 'N':
      return false;
    default:
      if (e >= '0' && e <= '7') {
        append_utf8(out, octal_escape(body, i));
      } else {  // an unknown escape stays as written
        out.push_back('\\');
        out.push_back(e);
      }
  }
  return true;
}

// The body of a Python string literal quoted with `quote` (quotes removed), decoded; nullopt
// where Python's ast.literal_eval would fail (an unescaped quote or line break inside, an escape
// it rejects). \N{NAME} is not decoded: the value then just loses its quotes, as for an error.
std::optional<std::string> python_string_body(std::string_view body, char quote) {
  std::string out;
  for (std::size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (c == quote || c == '\n' || c == '\r') return std::nullopt;
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (++i == body.size()) return std::nullopt;  // the closing quote was escaped
    if (!decode_escape(body, i, out)) return std::nullopt;
  }
  return out;
}

std::string_view trim_blanks(std::string_view s) {
  constexpr std::string_view blanks = " \t\n\r\v\f";
  const auto first = s.find_first_not_of(blanks);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(blanks) - first + 1);
}

}  // namespace

std::string lmcache_env_text(std::string_view raw) {
  const auto value = trim_blanks(raw);
  if (value.size() >= 2 && value.front() == value.back() &&
      (value.front() == '\'' || value.front() == '"')) {
    const auto body = value.substr(1, value.size() - 2);
    if (auto decoded = python_string_body(body, value.front())) return *decoded;
    return std::string(body);
  }
  return std::string(value);
}

std::optional<lmcache_env_value> lmcache_env_locations(const environment_block& env,
                                                       std::vector<std::string>& warnings) {
  constexpr std::string_view key = "LMCACHE_RUNTIME_PLUGIN_LOCATIONS";
  constexpr std::string_view alias = "LMCACHE_PLUGIN_LOCATIONS";
  const auto current = env.get(key);
  const auto deprecated = env.get(alias);
  if (deprecated) {
    warnings.push_back(
        current ? fmt::format("{} and its deprecated alias {} are both set: LMCache uses {}, and "
                              "so does plughost",
                              key, alias, alias)
                : fmt::format("{} is deprecated, use {} instead", alias, key));
    return lmcache_env_value{std::string(alias), lmcache_env_text(*deprecated)};
  }
  if (current) return lmcache_env_value{std::string(key), lmcache_env_text(*current)};
  return std::nullopt;
}

std::optional<json> lmcache_env_extra_config(const environment_block& env,
                                             std::vector<std::string>& warnings) {
  const auto raw = env.get("LMCACHE_EXTRA_CONFIG");
  if (!raw) return std::nullopt;
  const auto text = lmcache_env_text(*raw);
  if (text.empty()) return json(nullptr);
  auto parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    warnings.push_back(
        "LMCACHE_EXTRA_CONFIG is not valid JSON: extra_config keeps the configuration's value");
    return std::nullopt;
  }
  return parsed;
}

}  // namespace plughost::detail
