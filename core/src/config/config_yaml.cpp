// YAML → neutral tree, read as LMCache's own loader (PyYAML's safe_load, YAML 1.1) reads it: the
// same encodings and characters, the same tags, plain scalars typed the same way, integers of
// any size (their exact digits kept for plugins), so that plugins receive the same JSON from
// plughost as from LMCache. What safe_load refuses is refused. How scalars are typed is
// yaml_scalars.cpp; here: the text's encoding and characters, tags, lists, mappings, limits.
#include <fmt/format.h>
#include <iconv.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "config/config_document.hpp"
#include "config/yaml_scalars.hpp"
#include "plughost/error.hpp"

namespace plughost::detail {

namespace {

source_position position_of(const YAML::Mark& m) {
  if (m.line < 0 || m.column < 0) return {};
  return {m.line + 1, m.column + 1};
}

constexpr std::string_view yaml_tag_prefix = "tag:yaml.org,2002:";

// "!!python/object:x" for tag:yaml.org,2002:python/object:x; other tags as written.
std::string shown_tag(const std::string& tag) {
  if (tag.rfind(yaml_tag_prefix, 0) == 0) return "!!" + tag.substr(yaml_tag_prefix.size());
  return tag;
}

constexpr std::string_view accepted_tags =
    "expected no tag, or one of !!str, !!int, !!float, !!bool, !!null, !!seq, !!map, !!omap and "
    "!!pairs";

// The bytes as UTF-8: UTF-16 with a byte order mark converted (PyYAML reads both), anything
// else taken as UTF-8.
std::string as_utf8(const config_document& doc, std::string_view text) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const bool utf16 = text.size() >= 2 &&
                     ((byte(0) == 0xFF && byte(1) == 0xFE) || (byte(0) == 0xFE && byte(1) == 0xFF));
  if (!utf16) return std::string(text);
  const iconv_t cd = ::iconv_open("UTF-8", "UTF-16");  // reads the byte order mark
  if (cd == reinterpret_cast<iconv_t>(-1)) {
    throw config_error(doc.source, "cannot read UTF-16: " + std::string(std::strerror(errno)));
  }
  std::string out(text.size() * 2 + 16, '\0');
  std::string in(text);
  char* from = in.data();
  std::size_t from_left = in.size();
  char* to = out.data();
  std::size_t to_left = out.size();
  const auto rc = ::iconv(cd, &from, &from_left, &to, &to_left);
  ::iconv_close(cd);
  if (rc == static_cast<std::size_t>(-1)) {
    throw config_error(doc.source,
                       fmt::format("not UTF-16 after its byte order mark (at byte {}): write the "
                                   "configuration in UTF-8, or UTF-16 with a byte order mark, as "
                                   "LMCache's reader (PyYAML) expects",
                                   in.size() - from_left));
  }
  out.resize(out.size() - to_left);
  return out;
}

// What PyYAML's reader lets through: tab, line feed, carriage return, and printable characters.
bool yaml_printable(char32_t c) {
  return c == 0x09 || c == 0x0A || c == 0x0D || (c >= 0x20 && c <= 0x7E) || c == 0x85 ||
         (c >= 0xA0 && c <= 0xD7FF) || (c >= 0xE000 && c <= 0xFFFD) ||
         (c >= 0x10000 && c <= 0x10FFFF);
}

// Refuses bytes that are not UTF-8 and characters PyYAML refuses, at their line and column.
void check_characters(const config_document& doc, const std::string& text) {
  int line = 1;
  int column = 1;
  for (std::size_t i = 0; i < text.size();) {
    const auto b = static_cast<unsigned char>(text[i]);
    std::size_t length = 1;
    char32_t c = b;
    if (b >= 0x80) {
      length = b >= 0xF0 && b <= 0xF4   ? 4
               : b >= 0xE0 && b <= 0xEF ? 3
               : b >= 0xC2 && b <= 0xDF ? 2
                                        : 0;
      c = b & (length == 4 ? 0x07 : length == 3 ? 0x0F : 0x1F);
      for (std::size_t k = 1; length > 0 && k < length; ++k) {
        const auto next = i + k < text.size() ? static_cast<unsigned char>(text[i + k]) : 0;
        if ((next & 0xC0) != 0x80) {
          length = 0;
          break;
        }
        c = (c << 6) | (next & 0x3F);
      }
      const char32_t least = length == 4 ? 0x10000 : length == 3 ? 0x800 : 0x80;
      if (length == 0 || c < least || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
        throw config_error(doc.source, line, column,
                           fmt::format("not UTF-8 (byte 0x{:02x}): write the configuration in "
                                       "UTF-8, or UTF-16 with a byte order mark, as LMCache's "
                                       "reader (PyYAML) expects",
                                       b));
      }
    }
    if (!yaml_printable(c)) {
      throw config_error(doc.source, line, column,
                         fmt::format("character U+{:04X} is not allowed in YAML (LMCache's reader, "
                                     "PyYAML, refuses it): only tab, line feed, carriage return "
                                     "and printable characters are",
                                     static_cast<std::uint32_t>(c)));
    }
    if (c == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
    i += length;
  }
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
                         fmt::format("the document expands to more than {} values (that "
                                     "large, or aliases repeated into each other?)",
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
      case YAML::NodeType::Scalar: {
        count_bytes(node.Scalar().size(), at);
        auto t = scalar(node, at);
        if (t.exact) doc_.exact_numbers[where.to_string()] = *t.exact;
        return std::move(t.value);
      }
      case YAML::NodeType::Sequence: {
        const auto tag = tag_of(node);
        if (tag == "omap" || tag == "pairs") return pairs(node, where);
        if (!tag.empty() && tag != "seq") refuse_tag(node, at, "a list");
        json out = json::array();
        std::size_t i = 0;
        for (const auto& item : node) {
          out.push_back(convert(item, where / i));
          ++i;
        }
        return out;
      }
      case YAML::NodeType::Map: {
        const auto tag = tag_of(node);
        if (!tag.empty() && tag != "map") refuse_tag(node, at, "a mapping");
        return mapping(node, where);
      }
    }
    return nullptr;
  }

 private:
  // "" for no tag ("?" plain, "!" quoted or non-specific), the name after tag:yaml.org,2002:
  // for YAML's own, else the tag as written.
  static std::string tag_of(const YAML::Node& node) {
    const std::string& tag = node.Tag();
    if (tag.empty() || tag == "?" || tag == "!") return "";
    if (tag.rfind(yaml_tag_prefix, 0) == 0) return tag.substr(yaml_tag_prefix.size());
    return tag;
  }

  [[noreturn]] void refuse_tag(const YAML::Node& node, source_position at,
                               std::string_view on) const {
    const auto tag = tag_of(node);
    if (tag == "binary" || tag == "timestamp" || tag == "set") {
      throw config_error(doc_.source, at.line, at.column,
                         fmt::format("the tag {} gives a value that LMCache cannot pass on to "
                                     "plugins as JSON (its to_json() would fail): {}",
                                     shown_tag(node.Tag()), accepted_tags));
    }
    const bool standard = tag == "str" || tag == "int" || tag == "float" || tag == "bool" ||
                          tag == "null" || tag == "seq" || tag == "map" || tag == "omap" ||
                          tag == "pairs";
    if (standard) {
      throw config_error(doc_.source, at.line, at.column,
                         fmt::format("the tag {} cannot be on {}", shown_tag(node.Tag()), on));
    }
    throw config_error(doc_.source, at.line, at.column,
                       fmt::format("the tag {} is not one that LMCache's reader (PyYAML's "
                                   "safe_load) accepts: {}",
                                   shown_tag(node.Tag()), accepted_tags));
  }

  [[noreturn]] void refuse_value(source_position at, const YAML::Node& node,
                                 std::string_view expected) const {
    throw config_error(doc_.source, at.line, at.column,
                       fmt::format("expected {} after {}, got '{}'", expected,
                                   shown_tag(node.Tag()), node.Scalar()));
  }

  // A scalar as safe_load constructs it, by its tag.
  typed scalar(const YAML::Node& node, source_position at) const {
    const std::string& text = node.Scalar();
    if (node.Tag() == "?") return plain_scalar(text);
    const auto tag = tag_of(node);
    if (tag.empty() || tag == "str") return {text, {}};  // quoted, "!", !!str
    if (tag == "null") return {nullptr, {}};
    if (tag == "bool") {
      if (const auto value = explicit_bool(text)) return {*value, {}};
      refuse_value(at, node, "yes, no, true, false, on or off");
    }
    if (tag == "int") {
      if (auto value = explicit_integer(text)) return std::move(*value);
      refuse_value(at, node, "an integer");
    }
    if (tag == "float") {
      const auto value = explicit_float(text);
      if (!value) refuse_value(at, node, "a number");
      return {*value, {}};
    }
    refuse_tag(node, at, "a scalar");
  }

  // !!omap and !!pairs: a list of one-key mappings, which safe_load makes a list of (key, value)
  // tuples, and json.dumps a list of two-item lists.
  json pairs(const YAML::Node& node, const json::json_pointer& where) {
    json out = json::array();
    std::size_t i = 0;
    for (const auto& item : node) {
      if (!item.IsMap() || item.size() != 1) {
        const auto p = position_of(item.Mark());
        throw config_error(
            doc_.source, p.line, p.column,
            fmt::format("expected a mapping of one key in {}", shown_tag(node.Tag())));
      }
      const auto kv = *item.begin();
      json pair = json::array();
      pair.push_back(convert(kv.first, where / i / 0));
      pair.push_back(convert(kv.second, where / i / 1));
      out.push_back(std::move(pair));
      ++i;
    }
    return out;
  }

  // Like the values, the bytes of keys and strings: one alias of a long string, repeated.
  void count_bytes(std::size_t n, source_position at) {
    bytes_ += n;
    if (bytes_ > max_config_expanded_bytes) {
      throw config_error(doc_.source, at.line, at.column,
                         fmt::format("the document expands to more than {} MiB of keys and "
                                     "values (that large, or aliases repeated into each other?)",
                                     max_config_expanded_bytes / (1024 * 1024)));
    }
  }

  // A key as plugins see it: typed as safe_load types it, then written as json.dumps writes a
  // key (yes: → "true", 010: → "8").
  std::string key_of(const YAML::Node& key) const {
    const auto at = position_of(key.Mark());
    if (key.IsNull()) return "null";  // ~ or nothing: None, which json.dumps writes so
    if (!key.IsScalar()) {
      const auto tag = tag_of(key);
      if (!tag.empty() && tag != "seq" && tag != "map") refuse_tag(key, at, "a key");
      throw config_error(doc_.source, at.line, at.column,
                         "expected a plain key, got a list or mapping as a key");
    }
    return key_text(scalar(key, at));
  }

  json mapping(const YAML::Node& node, const json::json_pointer& where) {
    json out = json::object();
    std::vector<YAML::Node> merges;
    for (const auto& kv : node) {
      if (kv.first.IsScalar() && kv.first.Scalar() == "<<" && kv.first.Tag() == "?") {
        merges.push_back(kv.second);  // YAML 1.1 merge key, as PyYAML supports it
        continue;
      }
      const std::string key = key_of(kv.first);
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
          const std::string key = key_of(kv.first);
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

void parse_yaml_into(config_document& doc, std::string_view bytes) {
  const auto text = as_utf8(doc, bytes);
  check_characters(doc, text);
  YAML::Node root;
  try {
    root = YAML::Load(text);
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
