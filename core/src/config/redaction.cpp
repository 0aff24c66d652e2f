// redact: keys removed from the copy of LMCache's configuration JSON a plugin receives, so that
// a token in extra_config reaches only the plugins that need it.
#include "config/redaction.hpp"

#include <fnmatch.h>

#include <string_view>

namespace plughost::detail {

namespace {

std::vector<std::string> split_dots(const std::string& pattern) {
  std::vector<std::string> parts;
  std::size_t at = 0;
  while (true) {
    const auto dot = pattern.find('.', at);
    parts.push_back(pattern.substr(at, dot - at));
    if (dot == std::string::npos) return parts;
    at = dot + 1;
  }
}

// Removes what `parts[depth..]` match below `node` (a mapping), naming each key removed.
void remove_matching(json& node, const std::vector<std::string>& parts, std::size_t depth,
                     const std::string& prefix, std::vector<std::string>& removed) {
  if (!node.is_object()) return;
  const bool last = depth + 1 == parts.size();
  std::vector<std::string> matched;
  for (const auto& [key, value] : node.items()) {
    if (::fnmatch(parts[depth].c_str(), key.c_str(), 0) == 0) matched.push_back(key);
  }
  for (const auto& key : matched) {
    const auto dotted = prefix.empty() ? key : prefix + "." + key;
    if (last) {
      node.erase(key);
      removed.push_back(dotted);
    } else {
      remove_matching(node[key], parts, depth + 1, dotted, removed);
    }
  }
}

}  // namespace

std::vector<std::string> remove_keys(json& document, const std::vector<std::string>& patterns) {
  std::vector<std::string> removed;
  for (const auto& pattern : patterns) {
    remove_matching(document, split_dots(pattern), 0, "", removed);
  }
  return removed;
}

std::optional<std::string> redacted_config(const std::string& text,
                                           const std::vector<std::string>& patterns,
                                           std::vector<std::string>* removed) {
  if (patterns.empty()) return std::nullopt;
  // plughost's own reader: it keeps what nlohmann::json alone would not (NaN, Infinity, integers
  // beyond 64 bits), so that what is left reaches the plugin as LMCache would write it.
  auto doc = parse_config_text(text, config_format::json_text, "(configuration JSON)", {});
  auto keys = remove_keys(doc.root, patterns);
  if (keys.empty()) return std::nullopt;
  if (removed) *removed = std::move(keys);
  return dump_for_plugins(doc.root, doc.exact_numbers);
}

}  // namespace plughost::detail
