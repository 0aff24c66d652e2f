// YAML → neutral tree. Plain scalars are typed the way LMCache's own loader (PyYAML, YAML 1.1)
// types them, so plugins receive the same JSON from plughost as from LMCache.
#include <fmt/format.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <regex>

#include "config/config_document.hpp"
#include "plughost/error.hpp"

namespace plughost::detail {

namespace {

source_position position_of(const YAML::Mark& m) {
  if (m.line < 0 || m.column < 0) return {};
  return {m.line + 1, m.column + 1};
}

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

// Sign and digits of a YAML 1.1 integer → json (int64, or uint64 / double when larger).
json to_integer(const std::string& text) {
  std::string s = without_underscores(text);
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.erase(0, 1);
  }
  long double magnitude = 0;
  if (s.find(':') != std::string::npos) {
    magnitude = sexagesimal(s);
  } else {
    int base = 10;
    std::size_t skip = 0;
    if (s.rfind("0b", 0) == 0) {
      base = 2;
      skip = 2;
    } else if (s.rfind("0x", 0) == 0) {
      base = 16;
      skip = 2;
    } else if (s.size() > 1 && s[0] == '0') {
      base = 8;
      skip = 1;
    }
    for (std::size_t i = skip; i < s.size(); ++i) {
      const char c = s[i];
      const int digit = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
      magnitude = magnitude * base + digit;
    }
  }
  if (!negative &&
      magnitude <= static_cast<long double>(std::numeric_limits<std::int64_t>::max())) {
    return static_cast<std::int64_t>(magnitude);
  }
  if (negative &&
      magnitude <= static_cast<long double>(std::numeric_limits<std::int64_t>::max()) + 1) {
    return static_cast<std::int64_t>(-magnitude);
  }
  if (!negative &&
      magnitude <= static_cast<long double>(std::numeric_limits<std::uint64_t>::max())) {
    return static_cast<std::uint64_t>(magnitude);
  }
  return static_cast<double>(negative ? -magnitude : magnitude);
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

json plain_scalar(const std::string& s) {
  if (s.size() > max_typed_scalar) return s;
  if (is_null_word(s)) return nullptr;
  if (std::regex_match(s, bool_re())) {
    const char c = s[0];
    return c == 'y' || c == 'Y' || c == 't' || c == 'T' ||
           (s.size() == 2 && (c == 'o' || c == 'O'));
  }
  if (std::regex_match(s, int_re())) return to_integer(s);
  if (std::regex_match(s, float_re())) return to_float(s);
  return s;
}

json scalar(const YAML::Node& node) {
  const std::string& tag = node.Tag();
  const std::string& text = node.Scalar();
  if (tag == "?") return plain_scalar(text);
  if (tag == "tag:yaml.org,2002:null") return nullptr;
  if (tag == "tag:yaml.org,2002:bool" || tag == "tag:yaml.org,2002:int" ||
      tag == "tag:yaml.org,2002:float") {
    return plain_scalar(text);
  }
  return text;  // quoted ("!"), !!str, or a tag we do not interpret
}

class converter {
 public:
  explicit converter(config_document& doc) : doc_(doc) {}

  json convert(const YAML::Node& node, const json::json_pointer& where) {
    const auto at = position_of(node.Mark());
    doc_.record_value(where, at);
    // Aliases are shared in yaml-cpp's tree but copied here: count what the copy becomes.
    if (++values_ > max_config_values) {
      throw config_error(doc_.source, at.line, at.column,
                         fmt::format("the document expands to more than {} values (aliases "
                                     "repeated into each other?)",
                                     max_config_values));
    }
    if (depth_ >= max_config_depth) {
      throw config_error(doc_.source, at.line, at.column,
                         fmt::format("nested deeper than {} levels", max_config_depth));
    }
    ++depth_;
    struct leave {
      int& depth;
      ~leave() { --depth; }
    } on_return{depth_};
    switch (node.Type()) {
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        return nullptr;
      case YAML::NodeType::Scalar:
        count_bytes(node.Scalar().size(), at);
        return scalar(node);
      case YAML::NodeType::Sequence: {
        json out = json::array();
        std::size_t i = 0;
        for (const auto& item : node) {
          out.push_back(convert(item, where / i));
          ++i;
        }
        return out;
      }
      case YAML::NodeType::Map:
        return mapping(node, where);
    }
    return nullptr;
  }

 private:
  // Like the values, the bytes of keys and strings: one alias of a long string, repeated.
  void count_bytes(std::size_t n, source_position at) {
    bytes_ += n;
    if (bytes_ > max_config_expanded_bytes) {
      throw config_error(doc_.source, at.line, at.column,
                         fmt::format("the document expands to more than {} MiB of keys and "
                                     "values (aliases repeated into each other?)",
                                     max_config_expanded_bytes / (1024 * 1024)));
    }
  }

  json mapping(const YAML::Node& node, const json::json_pointer& where) {
    json out = json::object();
    std::vector<YAML::Node> merges;
    for (const auto& kv : node) {
      if (!kv.first.IsScalar()) {
        throw config_error(doc_.source, position_of(kv.first.Mark()).line,
                           position_of(kv.first.Mark()).column,
                           "expected a plain key, got a list or mapping as a key");
      }
      const std::string key = kv.first.Scalar();
      if (key == "<<" && kv.first.Tag() == "?") {  // YAML 1.1 merge key, as PyYAML supports it
        merges.push_back(kv.second);
        continue;
      }
      const auto child = where / key;
      const auto key_pos = position_of(kv.first.Mark());
      count_bytes(key.size(), key_pos);
      doc_.record_key(child, key_pos);
      out[key] = convert(kv.second, child);
      if (kv.second.IsNull()) doc_.record_value(child, key_pos);  // an empty value has no mark
    }
    for (const auto& merge : merges) {
      const auto add = [&](const YAML::Node& source) {
        if (!source.IsMap()) {
          const auto p = position_of(source.Mark());
          throw config_error(doc_.source, p.line, p.column,
                             "expected a mapping or a list of mappings after the merge key <<");
        }
        for (const auto& kv : source) {
          const std::string key = kv.first.Scalar();
          if (out.contains(key)) continue;
          count_bytes(key.size(), position_of(kv.first.Mark()));
          out[key] = convert(kv.second, where / key);
        }
      };
      if (merge.IsSequence()) {
        for (const auto& m : merge) add(m);
      } else {
        add(merge);
      }
    }
    return out;
  }

  config_document& doc_;
  std::size_t values_ = 0;
  std::size_t bytes_ = 0;
  int depth_ = 0;
};

}  // namespace

void parse_yaml_into(config_document& doc, std::string_view text) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::DeepRecursion& e) {  // its message is yaml-cpp's "bad file"
    const auto p = position_of(e.mark);
    throw config_error(doc.source, p.line, p.column,
                       fmt::format("nested deeper than {} levels", max_config_depth));
  } catch (const YAML::ParserException& e) {
    const auto p = position_of(e.mark);
    if (p.line > 0) throw config_error(doc.source, p.line, p.column, "invalid YAML: " + e.msg);
    throw config_error(doc.source, "invalid YAML: " + e.msg);
  }
  doc.root = converter(doc).convert(root, json::json_pointer());
}

// JSON text is also YAML; parsing it again with yaml-cpp gives the positions that
// nlohmann::json does not keep. Best effort: without them, errors name only the file.
void index_json_positions(config_document& doc, std::string_view text) {
  try {
    config_document positions;
    positions.source = doc.source;
    converter(positions).convert(YAML::Load(std::string(text)), json::json_pointer());
    doc.take_positions(std::move(positions));
  } catch (const std::exception&) {
  }
}

}  // namespace plughost::detail
