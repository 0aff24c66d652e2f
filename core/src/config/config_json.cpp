// JSON → neutral tree, with nlohmann::json's own syntax errors turned into file:line:col.
#include <fmt/format.h>

#include <charconv>
#include <system_error>

#include "config/config_document.hpp"
#include "plughost/error.hpp"

namespace plughost::detail {

namespace {

// The length of the UTF-8 sequence at s[i], or 0 when it is not valid UTF-8.
std::size_t utf8_length(std::string_view s, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const auto c = byte(i);
  if (c < 0x80) return 1;
  std::size_t n = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  // Overlong three- and four-byte forms, surrogates and code points beyond U+10FFFF.
  if (n == 3 && ((c == 0xE0 && byte(i + 1) < 0xA0) || (c == 0xED && byte(i + 1) >= 0xA0))) {
    return 0;
  }
  if (n == 4 && ((c == 0xF0 && byte(i + 1) < 0x90) || (c == 0xF4 && byte(i + 1) >= 0x90))) {
    return 0;
  }
  return n;
}

// NaN, Infinity or -Infinity at text[i], or nothing.
std::string_view python_constant_at(std::string_view text, std::size_t i) {
  for (const std::string_view word : {"-Infinity", "Infinity", "NaN"}) {
    if (text.substr(i, word.size()) == word) return word;
  }
  return {};
}

// The value of the \uXXXX escape at text[i], or -1.
long unicode_escape_at(std::string_view text, std::size_t i) {
  if (text.substr(i, 2) != "\\u" || i + 6 > text.size()) return -1;
  long v = 0;
  for (std::size_t k = i + 2; k < i + 6; ++k) {
    const char c = text[k];
    const int d = c >= '0' && c <= '9'   ? c - '0'
                  : c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                         : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

// JSON as Python's json module writes it, made readable for nlohmann::json: NaN, Infinity and
// -Infinity (json.dumps writes them for float('nan') and float('inf'), LMCache's configuration
// has such defaults) become null; bytes that are not UTF-8 (os.fsencode of surrogate escapes)
// become '?', and lone surrogate escapes (\udcff: the same, with ensure_ascii) become \ufffd.
// The text keeps its length, except NaN (one more), so that error positions stay right. Only
// plughost's reading changes: JSON text is handed to plugins as it came.
std::string python_json_as_json(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (const auto n = utf8_length(text, i); n == 0) {
      out.push_back('?');
      ++i;
      continue;
    } else if (n > 1) {
      out.append(text.substr(i, n));
      i += n;
      continue;
    }
    if (in_string) {
      if (const auto u = unicode_escape_at(text, i); u >= 0xD800 && u <= 0xDFFF) {
        const auto low = unicode_escape_at(text, i + 6);
        if (u <= 0xDBFF && low >= 0xDC00 && low <= 0xDFFF) {  // a pair: one code point
          out.append(text.substr(i, 12));
          i += 12;
        } else {
          out += "\\ufffd";
          i += 6;
        }
        continue;
      }
      if (c == '\\' && i + 1 < text.size()) {
        out.append(text.substr(i, 2));
        i += 2;
        continue;
      }
      in_string = c != '"';
    } else if (c == '"') {
      in_string = true;
    } else if (const auto word = python_constant_at(text, i); !word.empty()) {
      out += "null";
      if (word.size() > 4) out.append(word.size() - 4, ' ');
      i += word.size();
      continue;
    }
    out.push_back(c);
    ++i;
  }
  return out;
}

// nlohmann::json and yaml-cpp (which finds the positions) recurse per level: a document nested
// deeper than max_config_depth is refused before either of them sees it.
void check_depth(const config_document& doc, std::string_view text) {
  int depth = 0, line = 1, column = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    ++column;
    if (c == '\n') {
      ++line;
      column = 0;
    }
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_config_depth) {
        throw config_error(doc.source, line, column,
                           fmt::format("nested deeper than {} levels", max_config_depth));
      }
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
}

// nlohmann::json's message as a config_error: "[json.exception.parse_error.101] parse error at
// line 2, column 5: <detail>" gives the position, "[json.exception.out_of_range.406] number
// overflow parsing '1e400'" none. Read by hand: the detail quotes the text read (a long string
// makes it long) and std::regex recurses once per character.
config_error json_error(const config_document& doc, std::string_view what) {
  if (const auto tag_end = what.find("] "); what.starts_with('[') && tag_end != what.npos) {
    what.remove_prefix(tag_end + 2);
  }
  const auto number = [](std::string_view& s, int& value) {
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    s.remove_prefix(static_cast<std::size_t>(end - s.data()));
    return ec == std::errc() && value >= 0;
  };
  const auto skip = [](std::string_view& s, std::string_view prefix) {
    if (!s.starts_with(prefix)) return false;
    s.remove_prefix(prefix.size());
    return true;
  };
  if (const auto at = what.find(" at line "); at != what.npos) {
    auto rest = what.substr(at);
    int line = 0, column = 0;
    if (skip(rest, " at line ") && number(rest, line) && skip(rest, ", column ") &&
        number(rest, column) && skip(rest, ": ")) {
      return config_error(doc.source, line, column, fmt::format("invalid JSON: {}", rest));
    }
  }
  return config_error(doc.source, fmt::format("invalid JSON: {}", what));
}

}  // namespace

void parse_json_into(config_document& doc, std::string_view raw) {
  const auto readable = python_json_as_json(raw);
  const std::string_view text = readable;
  check_depth(doc, text);
  try {
    doc.root = json::parse(text);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e400
    throw json_error(doc, e.what());
  }
  index_json_positions(doc, text);
}

}  // namespace plughost::detail
