// Resolution of identity, configuration source, locations, stop timeout and sinks.
#include "launch_settings.hpp"

#include <fmt/format.h>

#include "identity.hpp"
#include "installation.hpp"
#include "plughost/error.hpp"
#include "setting_values.hpp"

namespace plughost::detail {

namespace {

namespace fs = std::filesystem;

// The keys plughost reads under `plughost:`; `sinks` is a list handled on its own.
const setting_spec core_table[] = {
    {.key = "stop_timeout",
     .type = setting_type::duration,
     .description = "how long plugins get to exit after SIGTERM before SIGKILL"},
};
const std::vector<std::string> core_extra_keys = {"sinks"};

std::string sink_label(const module_descriptor& m, const settings& values) {
  for (const auto& spec : m.settings) {
    if (spec.shorthand && values.has(spec.key) && spec.type == setting_type::path) {
      return fmt::format("{} ({})", m.name, values.get_string(spec.key));
    }
  }
  return std::string(m.name);
}

const module_descriptor& sink_module(const std::string& type, const module_registry& modules,
                                     const config_document& doc, const json::json_pointer& where) {
  const auto* found = modules.find(module_kind::sink, type);
  if (!found) {
    doc.fail_at_value(where, fmt::format("unknown sink '{}' (expected one of: {})", type,
                                         fmt::join(modules.names(module_kind::sink), ", ")));
  }
  return *found->descriptor;
}

sink_request sink_from_mapping(const json& item, const module_registry& modules,
                               const config_document& doc, const json::json_pointer& where) {
  const auto type = item.find("type");
  if (type == item.end() || !type->is_string()) {
    doc.fail_at_value(where, "each sink needs a 'type' naming a sink module, e.g. {type: stdout}");
  }
  const auto& m = sink_module(type->get<std::string>(), modules, doc, where / "type");
  if (const auto name = item.find("name"); name != item.end() && !name->is_string()) {
    doc.fail_at_value(where / "name", "a sink's name must be a string");
  }
  auto values = validate_settings(m.settings, item, doc, where, fmt::format("sink '{}'", m.name),
                                  {"type", "name"});
  auto label = sink_label(m, values);
  return {&m, std::move(values), std::move(label)};
}

std::vector<sink_request> sinks_from_list(const json& list, const module_registry& modules,
                                          const config_document& doc,
                                          const json::json_pointer& where) {
  if (!list.is_array()) {
    doc.fail_at_value(
        where, fmt::format("plughost.sinks must be a list of sinks, got {}", describe_type(list)));
  }
  std::vector<sink_request> out;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const auto& item = list[i];
    if (item.is_string()) {
      out.push_back(parse_sink_shorthand(item.get<std::string>(), modules, doc, where / i));
    } else if (item.is_object()) {
      out.push_back(sink_from_mapping(item, modules, doc, where / i));
    } else {
      doc.fail_at_value(where / i, fmt::format("a sink must be a name such as stdout or a "
                                               "mapping such as {{type: jsonl, path: x}}, got {}",
                                               describe_type(item)));
    }
  }
  return out;
}

// The `plughost:` mapping of a document, validated; null when the document has none.
const json* plughost_section(const config_document& doc) {
  const auto it = doc.root.find("plughost");
  if (it == doc.root.end() || it->is_null()) return nullptr;
  validate_settings(core_table, *it, doc, json::json_pointer("/plughost"), "plughost",
                    core_extra_keys);
  return &*it;
}

std::optional<config_document> load_user_config(const launch_options& options,
                                                const environment_block& env) {
  if (options.config_file) return load_config_file(*options.config_file);
  if (const auto file = env.get("LMCACHE_CONFIG_FILE"); file && !file->empty()) {
    return load_config_file(fs::path(*file));
  }
  if (const auto text = env.get("LMCACHE_RUNTIME_PLUGIN_CONFIG"); text && !text->empty()) {
    return parse_config_text(*text, config_format::json_text, "LMCACHE_RUNTIME_PLUGIN_CONFIG",
                             fs::current_path());
  }
  return std::nullopt;
}

std::vector<fs::path> locations_from(const config_document& doc) {
  const auto it = doc.root.find("runtime_plugin_locations");
  if (it == doc.root.end() || it->is_null()) return {};
  const auto where = json::json_pointer("/runtime_plugin_locations");
  if (!it->is_array()) {
    doc.fail_at_value(where, fmt::format("runtime_plugin_locations must be a list of paths, got {}",
                                         describe_type(*it)));
  }
  std::vector<fs::path> out;
  for (std::size_t i = 0; i < it->size(); ++i) {
    const auto& item = (*it)[i];
    if (!item.is_string() || item.get_ref<const std::string&>().empty()) {
      doc.fail_at_value(where / i,
                        fmt::format("runtime_plugin_locations[{}] must be a path, got {}", i,
                                    describe_type(item)));
    }
    fs::path p(item.get<std::string>());
    out.push_back(p.is_relative() ? doc.base_dir / p : p);
  }
  return out;
}

}  // namespace

sink_request parse_sink_shorthand(const std::string& spec, const module_registry& modules,
                                  const config_document& doc, const json::json_pointer& where) {
  const auto colon = spec.find(':');
  const std::string type = spec.substr(0, colon);
  const auto& m = sink_module(type, modules, doc, where);
  json item = json::object();
  if (colon != std::string::npos) {
    const setting_spec* target = nullptr;
    for (const auto& s : m.settings) {
      if (s.shorthand) target = &s;
    }
    if (!target) {
      doc.fail_at_value(where, fmt::format("sink '{}' takes no value after ':' (got '{}')", type,
                                           spec.substr(colon + 1)));
    }
    item[std::string(target->key)] = spec.substr(colon + 1);
  }
  auto values = validate_settings(m.settings, item, doc, where, fmt::format("sink '{}'", m.name));
  auto label = sink_label(m, values);
  return {&m, std::move(values), std::move(label)};
}

launch_settings resolve_settings(const launch_options& options, const environment_block& env,
                                 const module_registry& modules) {
  launch_settings out;
  out.who = resolve_identity(options, env);
  if (out.who.worker_count > 0 && out.who.worker_id >= out.who.worker_count) {
    out.warnings.push_back(fmt::format("worker id {} is not below the worker count {}",
                                       out.who.worker_id, out.who.worker_count));
  }

  std::string defaults_source;
  const auto defaults_text = default_config_text(defaults_source);
  const auto defaults =
      parse_config_text(defaults_text, config_format::yaml, defaults_source, fs::current_path());
  auto user = load_user_config(options, env);

  // Locations: --location replaces the configuration's (relative to the working directory).
  const auto cwd = fs::current_path();
  if (!options.locations.empty()) {
    for (const auto& loc : options.locations)
      out.locations.push_back(loc.is_relative() ? cwd / loc : loc);
  } else if (user) {
    out.locations = locations_from(*user);
    if (out.locations.empty()) {
      out.warnings.push_back(
          fmt::format("{} lists no runtime_plugin_locations: no plugins to run", user->source));
    }
  } else {
    throw usage_error(
        "no plugin locations: give --location PATH or --config FILE (or set LMCACHE_CONFIG_FILE)");
  }
  for (auto& loc : out.locations) loc = loc.lexically_normal();

  // plughost's own settings: the user's key where set, else the default's.
  const json* user_section = user ? plughost_section(*user) : nullptr;
  const json* default_section = plughost_section(defaults);
  auto pick = [&](const char* key) -> std::pair<const json*, const config_document*> {
    if (user_section && user_section->contains(key) && !(*user_section)[key].is_null()) {
      return {&(*user_section)[key], &*user};
    }
    if (default_section && default_section->contains(key))
      return {&(*default_section)[key], &defaults};
    return {nullptr, nullptr};
  };

  if (options.stop_timeout) {
    const auto d = parse_duration(json(*options.stop_timeout));
    if (!d) {
      throw usage_error(
          fmt::format("--stop-timeout: {}, got '{}'", duration_expected, *options.stop_timeout));
    }
    out.stop_timeout = *d;
  } else if (const auto [value, doc] = pick("stop_timeout"); value) {
    out.stop_timeout = *parse_duration(*value);  // validated with the section
  } else {
    out.stop_timeout = std::chrono::seconds(5);
  }

  if (!options.sinks.empty()) {
    config_document flags;
    flags.source = "--sink";
    flags.base_dir = cwd;
    for (const auto& spec : options.sinks) {
      out.sinks.push_back(parse_sink_shorthand(spec, modules, flags, json::json_pointer()));
    }
  } else if (const auto [value, doc] = pick("sinks"); value) {
    out.sinks = sinks_from_list(*value, modules, *doc, json::json_pointer("/plughost/sinks"));
  }
  if (out.sinks.empty()) {
    config_document none;
    none.source = "(default sink)";
    out.sinks.push_back(parse_sink_shorthand("stdout", modules, none, json::json_pointer()));
  }

  // What plugins see: the user's whole document, locations as in effect.
  json document = user ? user->root : json::object();
  json locations = json::array();
  for (const auto& loc : out.locations) locations.push_back(loc.string());
  document["runtime_plugin_locations"] = std::move(locations);
  out.plugin_config_json = document.dump(-1, ' ', false, json::error_handler_t::replace);
  return out;
}

}  // namespace plughost::detail
