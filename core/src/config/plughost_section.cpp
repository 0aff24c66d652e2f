// The `plughost:` sections of the configuration documents: which one sets a key, and paths.
#include <fmt/format.h>

#include "config/setting_values.hpp"
#include "config/settings_parts.hpp"

namespace plughost::detail {

namespace fs = std::filesystem;

fs::path normal_path(const fs::path& base, const fs::path& p) {
  auto out = (p.is_relative() ? base / p : p).lexically_normal();
  if (!out.has_filename() && out.has_relative_path()) out = out.parent_path();
  return out;
}

const json* plughost_section(const config_document& doc) {
  const auto it = doc.root.find("plughost");
  return it == doc.root.end() || it->is_null() ? nullptr : &*it;
}

std::vector<const config_document*> plughost_documents(const configuration& config) {
  std::vector<const config_document*> out;
  if (config.settings) out.push_back(&*config.settings);
  if (config.user) out.push_back(&*config.user);
  out.push_back(&config.defaults);
  return out;
}

picked pick(const configuration& config, const std::string& key) {
  for (const config_document* doc : plughost_documents(config)) {
    if (const json* section = plughost_section(*doc)) {
      if (const auto it = section->find(key); it != section->end() && !it->is_null()) {
        return {&*it, doc, json::json_pointer("/plughost") / key};
      }
    }
  }
  return {};
}

std::vector<fs::path> paths_from(const picked& p, const std::string& what) {
  std::vector<fs::path> out;
  if (!p.value) return out;
  const auto& v = *p.value;
  if (!v.is_array()) {
    p.doc->fail_at_value(p.where,
                         fmt::format("{} must be a list of paths, got {}", what, describe_type(v)));
  }
  for (std::size_t i = 0; i < v.size(); ++i) {
    // A NUL would cut the path short where the system reads it: "a\0/../b" would name "b".
    if (!v[i].is_string() || v[i].get_ref<const std::string&>().empty() ||
        v[i].get_ref<const std::string&>().find('\0') != std::string::npos) {
      p.doc->fail_at_value(
          p.where / i, fmt::format("{}[{}] must be a path, got {}", what, i, describe_type(v[i])));
    }
    fs::path path(v[i].get<std::string>());
    out.push_back(normal_path(p.doc->base_dir, path));
  }
  return out;
}

}  // namespace plughost::detail
