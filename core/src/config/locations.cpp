// Where plugins are looked for: --location, LMCache's environment spellings, or the document's
// runtime_plugin_locations (or its deprecated alias), in LMCache's order of precedence.
#include <fmt/format.h>

#include "config/lmcache_environment.hpp"
#include "config/settings_parts.hpp"
#include "plughost/error.hpp"

namespace plughost::detail {

namespace fs = std::filesystem;

namespace {

// runtime_plugin_locations of a document, or its deprecated alias plugin_locations (LMCache
// still maps it): with both, the one written last wins, as in LMCache, which applies a file's
// keys in order. `key` says which one was used; empty when neither is set.
std::vector<fs::path> locations_from(const config_document& doc, std::string& key,
                                     std::vector<std::string>& warnings) {
  const auto has = [&](const char* k) {
    const auto it = doc.root.find(k);
    return it != doc.root.end() && !it->is_null();
  };
  const bool current = has("runtime_plugin_locations");
  const bool alias = has("plugin_locations");
  key = current ? "runtime_plugin_locations" : "";
  if (alias) {
    const auto alias_at = doc.key_position(json::json_pointer("/plugin_locations"));
    const auto at = [](source_position p) { return std::pair(p.line, p.column); };
    const auto where =
        alias_at.line > 0 ? fmt::format(":{}:{}", alias_at.line, alias_at.column) : std::string();
    if (!current) {
      warnings.push_back(
          fmt::format("{}{}: plugin_locations is deprecated, use runtime_plugin_locations instead",
                      doc.source, where));
      key = "plugin_locations";
    } else {
      if (at(alias_at) > at(doc.key_position(json::json_pointer("/runtime_plugin_locations")))) {
        key = "plugin_locations";
      }
      warnings.push_back(fmt::format(
          "{}{}: runtime_plugin_locations and its deprecated alias plugin_locations are both set: "
          "the one written last ({}) wins, as in LMCache",
          doc.source, where, key));
    }
  }
  if (key.empty()) return {};
  const auto* value = &doc.root[key];
  return paths_from({value, &doc, json::json_pointer("/" + key)}, key);
}

}  // namespace

std::vector<fs::path> resolve_locations(const launch_options& options, const environment_block& env,
                                        const configuration& config, launch_settings& out) {
  const auto cwd = fs::current_path();
  const auto absolute = [&](const fs::path& p) { return normal_path(cwd, p); };
  std::vector<fs::path> locations;
  if (!options.locations.empty()) {
    for (const auto& loc : options.locations) {
      // Not the working directory: an unset variable in --location="$DIR" must not run it all.
      if (loc.empty()) throw usage_error("--location: expected a file or folder, got ''");
      locations.push_back(absolute(loc));
    }
    out.locations_from = "--location";
    return locations;
  }
  if (const auto from_env = lmcache_env_locations(env, out.warnings)) {
    // LMCache takes the value as one path, so a list written here names a folder that does not
    // exist: say why.
    if (from_env->text.find_first_of(",[") != std::string::npos) {
      out.warnings.push_back(fmt::format(
          "{} is read as one path, as LMCache reads it: '{}' (list several locations in the "
          "configuration file instead)",
          from_env->variable, from_env->text));
    }
    if (!from_env->text.empty()) locations.push_back(absolute(fs::path(from_env->text)));
    out.locations_from = from_env->variable;
    if (locations.empty()) {
      out.warnings.push_back(fmt::format("{} is empty: no plugins to run", from_env->variable));
    }
    return locations;
  }
  if (config.user) {
    std::string key;
    locations = locations_from(*config.user, key, out.warnings);
    out.locations_from =
        fmt::format("{} ({})", config.user->source, key.empty() ? "runtime_plugin_locations" : key);
    if (locations.empty()) {
      out.warnings.push_back(fmt::format("{} lists no runtime_plugin_locations: no plugins to run",
                                         config.user->source));
    }
    return locations;
  }
  throw usage_error(
      "no plugin locations: give --location PATH or --config FILE (or set LMCACHE_CONFIG_FILE "
      "or LMCACHE_RUNTIME_PLUGIN_LOCATIONS)");
}

}  // namespace plughost::detail
