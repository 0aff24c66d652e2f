// The runners: which are in use (--runner, plughost.enabled_runners) and their settings
// (plughost.runners.<name>: the core's `interpreter` and `args`, then the module's own).
#include <fmt/format.h>

#include <algorithm>

#include "config/setting_values.hpp"
#include "config/settings_parts.hpp"
#include "plughost/error.hpp"

namespace plughost::detail {

namespace fs = std::filesystem;

namespace {

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

}  // namespace

std::vector<std::string> enabled_runner_names(const launch_options& options,
                                              const configuration& config,
                                              const module_registry& modules) {
  const auto check = [&](const std::string& name, auto&& fail) {
    if (!modules.find(module_kind::runner, name)) {
      fail(fmt::format("unknown runner '{}' (expected one of: {})", name,
                       fmt::join(modules.names(module_kind::runner), ", ")));
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

std::vector<runner_request> resolve_runners(const configuration& config,
                                            const module_registry& modules,
                                            const std::vector<std::string>& enabled) {
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
  for (const auto& name : modules.names_in_search_order(module_kind::runner)) {
    const bool in_use =
        enabled.empty() || std::find(enabled.begin(), enabled.end(), name) != enabled.end();
    const bool configured = section.value && section.value->contains(name);
    if (!in_use && !configured && !modules.loaded(module_kind::runner, name)) {
      out.push_back({name, nullptr, {}, {}, false});
      continue;
    }
    const auto* m = modules.find(module_kind::runner, name);
    if (!m) continue;  // it failed to load: the registry's warnings say why
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
    runner_request r{name,
                     m,
                     validate_settings(table, *mine, *doc, where, fmt::format("runner '{}'", name)),
                     {},
                     in_use};
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

}  // namespace plughost::detail
