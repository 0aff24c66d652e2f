// plughost.environment: variables set in every plugin's environment (docs/configuration.md).
// The defaults set PYTHONUNBUFFERED=1, as LMCache's launcher does for every plugin.
#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "config/settings_parts.hpp"

namespace plughost::detail {

namespace {

// What plughost itself gives every plugin: a setting cannot take their place, since plugins
// and plughost rely on them (the identity, the configuration, the marks of plughost's runs).
bool reserved(const std::string& name) {
  static const std::set<std::string> names = {"LMCACHE_RUNTIME_PLUGIN_ROLE",
                                              "LMCACHE_RUNTIME_PLUGIN_WORKER_ID",
                                              "LMCACHE_RUNTIME_PLUGIN_WORKER_COUNT",
                                              "LMCACHE_RUNTIME_PLUGIN_CONFIG",
                                              "LMCACHE_RUNTIME_PLUGIN_NAME",
                                              "LMCACHE_PLUGIN_ROLE",
                                              "LMCACHE_PLUGIN_WORKER_ID",
                                              "LMCACHE_PLUGIN_WORKER_COUNT",
                                              "LMCACHE_PLUGIN_CONFIG",
                                              "PLUGHOST_HOST_PID",
                                              "PLUGHOST_RUN"};
  return names.count(name) > 0;
}

}  // namespace

void check_variable_name(const config_document& doc, const json::json_pointer& where,
                         const std::string& name, const std::string& what) {
  if (name.empty() || name.find('=') != std::string::npos || name.find('\0') != std::string::npos) {
    doc.fail_at_key(where, fmt::format("{}: '{}' is not a variable name (it is empty, or holds "
                                       "'=' or a NUL)",
                                       what, name));
  }
  if (reserved(name)) {
    doc.fail_at_key(where, fmt::format("{}: {} is set by plughost for every plugin "
                                       "(docs/running.md) and cannot be configured",
                                       what, name));
  }
}

bool plughost_variable(const std::string& name) {
  return reserved(name);
}

std::vector<environment_variable> resolve_environment(const configuration& config) {
  std::vector<environment_variable> out;
  // Variable by variable, the first section that names it: the settings file's, the user's, then
  // the defaults' (so `environment: {X: "1"}` keeps the default PYTHONUNBUFFERED).
  for (const config_document* doc : plughost_documents(config)) {
    const json* section = plughost_section(*doc);
    if (!section) continue;
    const auto it = section->find("environment");
    if (it == section->end() || it->is_null()) continue;
    const auto where = json::json_pointer("/plughost/environment");
    if (!it->is_object()) {
      doc->fail_at_value(where, fmt::format("environment in plughost: expected a mapping of "
                                            "variable names to values, got {}",
                                            describe_type(*it)));
    }
    for (const auto& [name, value] : it->items()) {
      check_variable_name(*doc, where / name, name, "environment in plughost");
      environment_variable v{name, std::nullopt};
      if (value.is_string() &&
          value.get_ref<const std::string&>().find('\0') == std::string::npos) {
        v.value = value.get<std::string>();
      } else if (value.is_number_integer()) {
        v.value = value.dump();
      } else if (value.is_string()) {
        doc->fail_at_value(where / name, fmt::format("environment in plughost: {} holds a NUL "
                                                     "byte, which no environment variable can",
                                                     name));
      } else if (!value.is_null()) {
        doc->fail_at_value(where / name,
                           fmt::format("environment in plughost: {} expected a string (or ~ to "
                                       "leave the value plughost inherited), got {}",
                                       name, describe_type(value)));
      }
      if (std::none_of(out.begin(), out.end(), [&](const auto& o) { return o.name == name; })) {
        out.push_back(std::move(v));
      }
    }
  }
  return out;
}

}  // namespace plughost::detail
