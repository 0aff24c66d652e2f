// Everything the launcher needs to know before it looks for plugins, resolved once from the
// command line, the environment, the configuration and the defaults (SPEC.md §1, §2, §7).
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "config_document.hpp"
#include "environment.hpp"
#include "module_registry.hpp"
#include "plughost/config.hpp"
#include "plughost/module.hpp"

namespace plughost::detail {

/// A sink to open: its module, its validated settings and how messages name it.
struct sink_request {
  const module_descriptor* module = nullptr;
  settings values;
  std::string label;  ///< "jsonl (/var/log/plugins.jsonl)"
};

struct launch_settings {
  identity who;
  std::vector<std::filesystem::path> locations;  ///< absolute, in order
  std::chrono::nanoseconds stop_timeout{};
  std::vector<sink_request> sinks;
  /// The whole configuration document as compact JSON, runtime_plugin_locations as in effect:
  /// what plugins receive in LMCACHE_RUNTIME_PLUGIN_CONFIG.
  std::string plugin_config_json;
  std::vector<std::string> warnings;
};

/// Resolves the settings. Throws usage_error (bad flag or identity value, no locations at all)
/// or config_error (unreadable or invalid configuration, unknown sink or setting).
launch_settings resolve_settings(const launch_options& options, const environment_block& env,
                                 const module_registry& modules);

/// Parses one sink given in short form, "type" or "type:VALUE" (VALUE fills the sink's
/// shorthand setting). `doc` and `where` locate it for errors; relative paths are taken
/// against doc.base_dir.
sink_request parse_sink_shorthand(const std::string& spec, const module_registry& modules,
                                  const config_document& doc, const json::json_pointer& where);

}  // namespace plughost::detail
