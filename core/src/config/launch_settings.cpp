// Resolution of identity, configuration source, module path, locations, stop timeout, runners,
// sinks and per-plugin routing.
#include "config/launch_settings.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "config/identity.hpp"
#include "config/installation.hpp"
#include "config/lmcache_environment.hpp"
#include "config/setting_values.hpp"
#include "plughost/error.hpp"

namespace plughost::detail {

namespace {

namespace fs = std::filesystem;

// How plugins are supervised: under `plughost:` for all of them, under plughost.plugins.<name>
// for one. stop_timeout's default comes from defaults.yaml (core/data/).
const setting_spec policy_table[] = {
    {.key = "stop_timeout",
     .type = setting_type::duration,
     .description = "how long a plugin gets to exit after its stop signal before SIGKILL"},
    {.key = "stop_signal",
     .type = setting_type::choice,
     .default_value = "SIGTERM",
     .description = "the signal that asks a plugin's process group to stop",
     .choices = "SIGTERM|SIGINT|SIGHUP|SIGQUIT|SIGUSR1|SIGUSR2"},
    {.key = "restart",
     .type = setting_type::choice,
     .default_value = "never",
     .description = "restart a plugin when it exits: never (as LMCache), on-failure, always",
     .choices = "never|on-failure|always"},
    {.key = "restart_delay",
     .type = setting_type::duration,
     .default_value = "1s",
     .description = "delay before the first restart; doubled for each further one"},
    {.key = "restart_delay_max",
     .type = setting_type::duration,
     .default_value = "60s",
     .description = "the longest delay between restarts"},
    {.key = "restart_reset_after",
     .type = setting_type::duration,
     .default_value = "60s",
     .description = "a run this long resets the delay and the restart count"},
    {.key = "max_restarts",
     .type = setting_type::integer,
     .default_value = "5",
     .description = "restarts in a row (each run shorter than restart_reset_after) before "
                    "giving up"},
    {.key = "timeout",
     .type = setting_type::duration,
     .description = "wall-clock limit of one run (0: none); the plugin is stopped when reached"},
    {.key = "enabled",
     .type = setting_type::boolean,
     .default_value = "true",
     .description = "false: the plugin is skipped, without renaming its file"},
};
const std::vector<std::string> core_structured_keys = {"sinks", "runners", "plugins",
                                                       "module_locations", "enabled_runners"};

// Puts the settings that are present onto a policy.
void apply_policy(const settings& s, plugin_policy& p) {
  if (s.has("stop_timeout")) p.stop_timeout = s.get_duration("stop_timeout");
  if (s.has("stop_signal")) p.stop_signal = *parse_signal(s.get_string("stop_signal"));
  if (s.has("restart")) p.restart = *parse_restart_mode(s.get_string("restart"));
  if (s.has("restart_delay")) p.restart_delay = s.get_duration("restart_delay");
  if (s.has("restart_delay_max")) p.restart_delay_max = s.get_duration("restart_delay_max");
  if (s.has("restart_reset_after")) p.restart_reset_after = s.get_duration("restart_reset_after");
  if (s.has("max_restarts")) p.max_restarts = static_cast<int>(s.get_integer("max_restarts"));
  if (s.has("timeout")) {
    const auto t = s.get_duration("timeout");
    p.timeout = t.count() > 0 ? std::optional(t) : std::nullopt;
  }
  if (s.has("enabled")) p.enabled = s.get_bool("enabled");
}

// Settings the core handles for every runner (plughost.runners.<name>).
const setting_spec runner_core_table[] = {
    {.key = "interpreter",
     .type = setting_type::string,
     .description = "interpreter used instead of the runner's defaults when a plugin has no "
                    "usable shebang: a path, or a name looked up on PATH"},
    {.key = "args",
     .type = setting_type::string_list,
     .description = "arguments placed after that interpreter, before the plugin's path"},
};

std::string sink_label(const module_descriptor& m, const settings& values) {
  for (const auto& spec : m.settings) {
    if (spec.shorthand && values.has(spec.key) && spec.type == setting_type::path) {
      return fmt::format("{} ({})", m.name, values.get_string(spec.key));
    }
  }
  return std::string(m.name);
}

const known_module& module_named(module_kind kind, const std::string& name,
                                 const module_registry& modules, const config_document& doc,
                                 const json::json_pointer& where) {
  const auto* found = modules.find(kind, name);
  if (!found) {
    const auto* what = kind == module_kind::sink ? "sink" : "runner";
    doc.fail_at_value(where, fmt::format("unknown {} '{}' (expected one of: {})", what, name,
                                         fmt::join(modules.names(kind), ", ")));
  }
  return *found;
}

sink_request sink_from_mapping(const json& item, const module_registry& modules,
                               const config_document& doc, const json::json_pointer& where) {
  const auto type = item.find("type");
  if (type == item.end() || !type->is_string()) {
    doc.fail_at_value(where, "each sink needs a 'type' naming a sink module, e.g. {type: stdout}");
  }
  const auto& m =
      module_named(module_kind::sink, type->get<std::string>(), modules, doc, where / "type");
  std::string name(m.descriptor->name);
  if (const auto n = item.find("name"); n != item.end()) {
    if (!n->is_string() || n->get_ref<const std::string&>().empty()) {
      doc.fail_at_value(where / "name", "a sink's name must be a non-empty string");
    }
    name = n->get<std::string>();
  }
  auto values = validate_settings(m.descriptor->settings, item, doc, where,
                                  fmt::format("sink '{}'", m.descriptor->name), {"type", "name"});
  auto label = sink_label(*m.descriptor, values);
  return {&m, std::move(values), std::move(name), std::move(label)};
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
    for (std::size_t j = 0; j + 1 < out.size(); ++j) {
      if (out[j].name == out.back().name) {
        doc.fail_at_value(where / i, fmt::format("two sinks are named '{}': give them distinct "
                                                 "names with name:",
                                                 out.back().name));
      }
    }
  }
  return out;
}

// `p` against `base` when relative, lexically normal, without a trailing '/' ("plugins/" and
// "plugins" are one location, printed as LMCache's Path() prints it).
fs::path normal_path(const fs::path& base, const fs::path& p) {
  auto out = (p.is_relative() ? base / p : p).lexically_normal();
  if (!out.has_filename() && out.has_relative_path()) out = out.parent_path();
  return out;
}

// The `plughost:` mapping of a document; null when it has none.
// (load_configuration() has checked it.)
const json* plughost_section(const config_document& doc) {
  const auto it = doc.root.find("plughost");
  return it == doc.root.end() || it->is_null() ? nullptr : &*it;
}

// Checks the plain keys of the `plughost:` mapping, once per loaded document.
void check_plughost_section(const config_document& doc) {
  if (const json* section = plughost_section(doc)) {
    validate_settings(policy_table, *section, doc, json::json_pointer("/plughost"), "plughost",
                      core_structured_keys);
  }
}

// plughost's sections, first to last: the settings file's, the user's, the defaults'.
std::vector<const config_document*> plughost_documents(const configuration& config) {
  std::vector<const config_document*> out;
  if (config.settings) out.push_back(&*config.settings);
  if (config.user) out.push_back(&*config.user);
  out.push_back(&config.defaults);
  return out;
}

// A key of plughost's section: the first document's that sets it.
struct picked {
  const json* value = nullptr;
  const config_document* doc = nullptr;
  json::json_pointer where = json::json_pointer();
};
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
    if (!v[i].is_string() || v[i].get_ref<const std::string&>().empty()) {
      p.doc->fail_at_value(
          p.where / i, fmt::format("{}[{}] must be a path, got {}", what, i, describe_type(v[i])));
    }
    fs::path path(v[i].get<std::string>());
    out.push_back(normal_path(p.doc->base_dir, path));
  }
  return out;
}

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

// The locations in effect, in LMCache's order of precedence (see resolve_settings).
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

// --runner, else plughost.enabled_runners: the runners in use, by name; empty: all of them.
std::vector<std::string> enabled_runner_names(const launch_options& options,
                                              const configuration& config,
                                              const module_registry& modules) {
  const auto known = modules.names(module_kind::runner);
  const auto check = [&](const std::string& name, auto&& fail) {
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      fail(fmt::format("unknown runner '{}' (expected one of: {})", name, fmt::join(known, ", ")));
    }
  };
  if (!options.runners.empty()) {
    for (const auto& name : options.runners) {
      check(name, [](const std::string& m) { throw usage_error("--runner: " + m); });
    }
    return options.runners;
  }
  const auto p = pick(config, "enabled_runners");
  if (!p.value) return {};
  if (!p.value->is_array() || p.value->empty()) {
    p.doc->fail_at_value(p.where, fmt::format("plughost.enabled_runners must be a non-empty list "
                                              "of runner names, got {}",
                                              p.value->is_array() ? std::string("an empty list")
                                                                  : describe_type(*p.value)));
  }
  std::vector<std::string> names;
  for (std::size_t i = 0; i < p.value->size(); ++i) {
    const auto& v = (*p.value)[i];
    if (!v.is_string()) {
      p.doc->fail_at_value(p.where / i,
                           fmt::format("a runner name is a string, got {}", describe_type(v)));
    }
    check(v.get<std::string>(),
          [&](const std::string& m) { p.doc->fail_at_value(p.where / i, m); });
    names.push_back(v.get<std::string>());
  }
  return names;
}

std::vector<runner_request> runners_from(const configuration& config,
                                         const module_registry& modules) {
  const auto section = pick(config, "runners");
  if (section.value && !section.value->is_object()) {
    section.doc->fail_at_value(section.where,
                               fmt::format("plughost.runners must be a mapping of runner names "
                                           "to settings, got {}",
                                           describe_type(*section.value)));
  }
  if (section.value) {
    for (const auto& [name, value] : section.value->items()) {
      if (!modules.find(module_kind::runner, name)) {
        section.doc->fail_at_key(
            section.where / name,
            unknown_key_message(name, "plughost.runners", modules.names(module_kind::runner)));
      }
    }
  }
  std::vector<runner_request> out;
  for (const auto* m : modules.of_kind(module_kind::runner)) {
    const std::string name(m->descriptor->name);
    static const json empty = json::object();
    const json* mine = &empty;
    const config_document* doc = &config.defaults;
    auto where = json::json_pointer("/plughost/runners") / name;
    if (section.value && section.value->contains(name)) {
      mine = &(*section.value)[name];
      doc = section.doc;
    }
    // One table: the core's keys for every runner, then the module's own.
    std::vector<setting_spec> table(std::begin(runner_core_table), std::end(runner_core_table));
    table.insert(table.end(), m->descriptor->settings.begin(), m->descriptor->settings.end());
    runner_request r{
        m, validate_settings(table, *mine, *doc, where, fmt::format("runner '{}'", name)), {}};
    if (r.values.has("interpreter")) {
      auto interp = r.values.get_string("interpreter");
      // A relative path (not a bare name) is relative to the file that set it.
      if (interp.find('/') != std::string::npos && fs::path(interp).is_relative()) {
        interp = (doc->base_dir / interp).lexically_normal().string();
      }
      r.overrides.interpreter = interp;
    }
    if (r.values.has("args")) r.overrides.args = r.values.get_string_list("args");
    out.push_back(std::move(r));
  }
  return out;
}

// plughost.plugins: per plugin, its sinks and its policy (layered on `base`).
void plugin_entries(const configuration& config, const std::vector<sink_request>& sinks,
                    bool sinks_from_flags, const plugin_policy& base, launch_settings& out) {
  const auto section = pick(config, "plugins");
  if (!section.value) return;
  if (!section.value->is_object()) {
    section.doc->fail_at_value(section.where,
                               fmt::format("plughost.plugins must be a mapping of plugin names "
                                           "to settings, got {}",
                                           describe_type(*section.value)));
  }
  std::vector<std::string> sink_names;
  for (const auto& s : sinks) sink_names.push_back(s.name);
  for (const auto& [plugin, entry] : section.value->items()) {
    const auto where = section.where / plugin;
    const auto values = validate_settings(policy_table, entry, *section.doc, where,
                                          fmt::format("plughost.plugins.{}", plugin), {"sinks"},
                                          /*fill_defaults=*/false);
    auto policy = base;
    apply_policy(values, policy);
    out.plugin_policies[plugin] = policy;

    const auto list = entry.find("sinks");
    if (list == entry.end() || list->is_null()) continue;
    if (!list->is_array() || list->empty()) {
      section.doc->fail_at_value(where / "sinks",
                                 fmt::format("sinks of plugin {} must be a non-empty list of sink "
                                             "names, got {}",
                                             plugin, describe_type(*list)));
    }
    std::vector<std::string> names;
    for (std::size_t i = 0; i < list->size(); ++i) {
      const auto& n = (*list)[i];
      if (n.is_string() && std::find(sink_names.begin(), sink_names.end(), n.get<std::string>()) !=
                               sink_names.end()) {
        names.push_back(n.get<std::string>());
        continue;
      }
      const auto message = fmt::format(
          "plugin {} is routed to the sink '{}', which is not "
          "configured (sinks: {})",
          plugin, n.is_string() ? n.get<std::string>() : n.dump(), fmt::join(sink_names, ", "));
      if (!sinks_from_flags) section.doc->fail_at_value(where / "sinks" / i, message);
      out.warnings.push_back(message +
                             "; --sink replaced the configured sinks, so its records go "
                             "to every sink");
      names.clear();
      break;
    }
    if (!names.empty()) out.plugin_sinks[plugin] = std::move(names);
  }
}

// The user's configuration, first found: --config, --config-json, LMCACHE_CONFIG_FILE,
// LMCACHE_RUNTIME_PLUGIN_CONFIG. JSON text is also kept as it is, for the plugins.
void load_user_config(const launch_options& options, const environment_block& env,
                      configuration& config) {
  const auto from_text = [&](std::string_view text, std::string source) {
    config.user =
        parse_config_text(text, config_format::json_text, std::move(source), fs::current_path());
    config.verbatim_json = std::string(text);
  };
  if (options.config_file && options.config_json) {
    throw usage_error("--config and --config-json cannot be used together");
  }
  if (options.config_file) {
    config.user = load_config_file(*options.config_file);
  } else if (options.config_json) {
    from_text(*options.config_json, "--config-json");
  } else if (const auto file = env.get("LMCACHE_CONFIG_FILE"); file && !file->empty()) {
    config.user = load_config_file(fs::path(*file));
  } else if (const auto text = env.get("LMCACHE_RUNTIME_PLUGIN_CONFIG"); text && !text->empty()) {
    from_text(*text, "LMCACHE_RUNTIME_PLUGIN_CONFIG");
  }
}

}  // namespace

configuration load_configuration(const launch_options& options, const environment_block& env) {
  std::string defaults_source;
  const auto defaults_text = default_config_text(defaults_source);
  configuration config{
      {},
      parse_config_text(defaults_text, config_format::yaml, defaults_source, fs::current_path()),
      {}};
  load_user_config(options, env, config);
  if (options.settings_file) {
    config.settings = load_config_file(*options.settings_file);
  } else if (const auto file = env.get("PLUGHOST_SETTINGS"); file && !file->empty()) {
    try {
      config.settings = load_config_file(fs::path(*file));
    } catch (const config_error& e) {  // say where the file name came from
      throw config_error("PLUGHOST_SETTINGS", e.what());
    }
  }
  // Their errors first, whatever is asked.
  for (const auto* doc : plughost_documents(config)) check_plughost_section(*doc);
  return config;
}

std::vector<fs::path> module_search_path(const launch_options& options,
                                         const environment_block& env, const configuration& config,
                                         std::vector<std::string>& warnings) {
  std::vector<fs::path> out;
  const auto cwd = fs::current_path();
  auto add = [&](fs::path p, const std::string& origin) {
    if (p.is_relative()) p = cwd / p;
    p = p.lexically_normal();
    std::error_code ec;
    if (!fs::is_directory(p, ec)) {
      warnings.push_back(
          fmt::format("module folder {} (from {}) does not exist", p.string(), origin));
    }
    if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
  };
  for (const auto& p : options.module_paths) add(p, "--module-path");
  if (const auto var = env.get("PLUGHOST_MODULE_PATH")) {
    std::string_view rest = *var;
    while (!rest.empty()) {
      const auto colon = rest.find(':');
      const auto entry = rest.substr(0, colon);
      if (!entry.empty()) add(fs::path(entry), "PLUGHOST_MODULE_PATH");
      if (colon == std::string_view::npos) break;
      rest.remove_prefix(colon + 1);
    }
  }
  for (const auto& p : paths_from(pick(config, "module_locations"), "plughost.module_locations")) {
    add(p, "plughost.module_locations");
  }
  if (const auto dir = module_dir()) {
    if (std::find(out.begin(), out.end(), *dir) == out.end()) out.push_back(*dir);
  }
  return out;
}

sink_request parse_sink_shorthand(const std::string& spec, const module_registry& modules,
                                  const config_document& doc, const json::json_pointer& where) {
  const auto colon = spec.find(':');
  const std::string type = spec.substr(0, colon);
  const auto& m = module_named(module_kind::sink, type, modules, doc, where);
  json item = json::object();
  if (colon != std::string::npos) {
    const setting_spec* target = nullptr;
    for (const auto& s : m.descriptor->settings) {
      if (s.shorthand) target = &s;
    }
    if (!target) {
      doc.fail_at_value(where, fmt::format("sink '{}' takes no value after ':' (got '{}')", type,
                                           spec.substr(colon + 1)));
    }
    item[std::string(target->key)] = spec.substr(colon + 1);
  }
  auto values = validate_settings(m.descriptor->settings, item, doc, where,
                                  fmt::format("sink '{}'", m.descriptor->name));
  auto label = sink_label(*m.descriptor, values);
  return {&m, std::move(values), type, std::move(label)};
}

launch_settings resolve_settings(const launch_options& options, const environment_block& env,
                                 const module_registry& modules) {
  return resolve_settings(options, env, load_configuration(options, env), modules);
}

launch_settings resolve_settings(const launch_options& options, const environment_block& env,
                                 const configuration& config, const module_registry& modules) {
  launch_settings out;
  out.who = resolve_identity(options, env);
  if (out.who.worker_id >= 0 &&
      static_cast<std::uint64_t>(out.who.worker_id) >= out.who.worker_count) {
    out.warnings.push_back(fmt::format("worker id {} is not below the worker count {}",
                                       out.who.worker_id, out.who.worker_count));
  }
  const auto& user = config.user;
  const auto cwd = fs::current_path();
  out.locations = resolve_locations(options, env, config, out);

  // The policy: the table's defaults, then defaults.yaml, the user's plughost section, the
  // settings file's.
  apply_policy(validate_settings(policy_table, json::object(), config.defaults,
                                 json::json_pointer(), "plughost"),
               out.default_policy);
  auto layers = plughost_documents(config);  // applied from the last to the first
  for (auto it = layers.rbegin(); it != layers.rend(); ++it) {
    const config_document* doc = *it;
    if (const json* section = plughost_section(*doc)) {
      apply_policy(validate_settings(policy_table, *section, *doc, json::json_pointer("/plughost"),
                                     "plughost", core_structured_keys, /*fill_defaults=*/false),
                   out.default_policy);
    }
  }
  if (options.stop_timeout) {
    const auto d = parse_duration(json(*options.stop_timeout));
    if (!d) {
      throw usage_error(
          fmt::format("--stop-timeout: {}, got '{}'", duration_expected, *options.stop_timeout));
    }
    out.default_policy.stop_timeout = *d;
  }

  out.runners = runners_from(config, modules);
  out.enabled_runners = enabled_runner_names(options, config, modules);
  if (!out.enabled_runners.empty()) {
    for (auto& r : out.runners) {
      r.enabled = std::find(out.enabled_runners.begin(), out.enabled_runners.end(),
                            r.module->descriptor->name) != out.enabled_runners.end();
    }
  }

  // Sinks from flags get unique names (--sink a --sink a).
  const auto add_flag_sinks = [&](const std::vector<std::string>& specs, const char* flag) {
    config_document flags;
    flags.source = flag;
    flags.base_dir = cwd;
    for (const auto& spec : specs) {
      out.sinks.push_back(parse_sink_shorthand(spec, modules, flags, json::json_pointer()));
      for (std::size_t j = 0; j + 1 < out.sinks.size(); ++j) {
        if (out.sinks[j].name == out.sinks.back().name) {
          out.sinks.back().name += "#" + std::to_string(out.sinks.size());
        }
      }
    }
  };
  const bool sinks_from_flags = !options.sinks.empty();
  if (sinks_from_flags) {
    add_flag_sinks(options.sinks, "--sink");
  } else if (const auto p = pick(config, "sinks");
             p.value && (p.doc != &config.defaults || options.added_sinks.empty())) {
    out.sinks = sinks_from_list(*p.value, modules, *p.doc, p.where);
  }
  if (out.sinks.empty() && options.added_sinks.empty()) {
    config_document none;
    none.source = "(default sink)";
    out.sinks.push_back(parse_sink_shorthand("stdout", modules, none, json::json_pointer()));
  }
  plugin_entries(config, out.sinks, sinks_from_flags, out.default_policy, out);
  // --add-sink: on top of the others (not of the default stdout), for every plugin.
  const auto before = out.sinks.size();
  add_flag_sinks(options.added_sinks, "--add-sink");
  for (auto& [plugin, names] : out.plugin_sinks) {
    for (auto i = before; i < out.sinks.size(); ++i) names.push_back(out.sinks[i].name);
  }

  // What plugins see: the JSON text they were handed, unchanged; else the user's whole
  // document, with the locations (and extra_config) in effect.
  const auto extra_config = lmcache_env_extra_config(env, out.warnings);
  const auto check_size = [&] {
    if (out.plugin_config_json.size() <= max_plugin_config_bytes) return;
    throw config_error(
        user ? user->source : std::string("(configuration)"),
        fmt::format("the configuration is {} bytes of JSON, more than the {} plugins can receive: "
                    "Linux limits one environment variable (LMCACHE_RUNTIME_PLUGIN_CONFIG) to "
                    "128 KiB",
                    out.plugin_config_json.size(), max_plugin_config_bytes));
  };
  if (config.verbatim_json) {
    out.plugin_config_json = *config.verbatim_json;
    check_size();
    return out;
  }
  json document = user ? user->root : json::object();
  json locations = json::array();
  for (const auto& loc : out.locations) locations.push_back(loc.string());
  document.erase("plugin_locations");  // LMCache maps the deprecated key onto this one:
  document["runtime_plugin_locations"] = std::move(locations);
  if (extra_config) document["extra_config"] = *extra_config;
  out.plugin_config_json = document.dump(-1, ' ', false, json::error_handler_t::replace);
  check_size();
  return out;
}

}  // namespace plughost::detail
