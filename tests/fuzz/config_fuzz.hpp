// What the three configuration fuzzers check, whatever the format: any text either parses into a
// mapping or is refused with a plughost::error naming the source. Anything else escaping aborts
// (libFuzzer reports it as a crash), as do a sanitizer report, a hang or a memory blow-up.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/config_document.hpp"
#include "plughost/error.hpp"

namespace plughost::fuzz {

using detail::json;

/// A broken invariant is a crash, so that libFuzzer keeps the input.
inline void require(bool ok) {
  if (!ok) __builtin_trap();
}

inline int line_count(std::string_view text) {
  return 1 + static_cast<int>(std::count(text.begin(), text.end(), '\n'));
}

/// Every value's recorded position lies in the text (at most `budget` values are visited).
inline void check_positions(const detail::config_document& doc, const json& value,
                            const json::json_pointer& where, int lines, int& budget) {
  if (--budget < 0) return;
  for (const auto p : {doc.value_position(where), doc.key_position(where)}) {
    require(p.line >= 0 && p.line <= lines && p.column >= 0);
  }
  if (value.is_object()) {
    for (const auto& [key, child] : value.items()) {
      check_positions(doc, child, where / key, lines, budget);
    }
  } else if (value.is_array()) {
    for (std::size_t i = 0; i < value.size(); ++i) {
      check_positions(doc, value[i], where / i, lines, budget);
    }
  }
}

/// How deep `value` nests (a scalar: 0, the top mapping: 1).
inline int depth_of(const json& value) {
  int deepest = 0;
  if (value.is_structured()) {
    for (const auto& child : value) deepest = std::max(deepest, depth_of(child));
    return deepest + 1;
  }
  return 0;
}

/// Parses `text`; returns the document, or nothing when it was refused with a plughost::error.
inline std::optional<detail::config_document> parse_checked(std::string_view text,
                                                            detail::config_format format) {
  try {
    auto doc = detail::parse_config_text(text, format, "fuzz.cfg", "/fuzz");
    require(doc.root.is_object());
    require(depth_of(doc.root) <= detail::max_config_depth);
    int budget = 10'000;
    check_positions(doc, doc.root, json::json_pointer(), line_count(text), budget);
    // What plugins receive: the document as compact JSON (launch_settings.cpp does the same).
    const auto dumped = doc.root.dump(-1, ' ', false, json::error_handler_t::replace);
    require(!dumped.empty() && dumped.front() == '{');
    return doc;
  } catch (const config_error& e) {
    const std::string_view what = e.what();
    require(e.source() == "fuzz.cfg" && what.starts_with("fuzz.cfg:"));
    require(e.line() >= 0 && e.column() >= 0 && e.line() <= line_count(text));
    require(what.find('\n') == std::string_view::npos);  // "what() is one line"
  } catch (const plughost::error&) {
  }
  return std::nullopt;
}

}  // namespace plughost::fuzz
