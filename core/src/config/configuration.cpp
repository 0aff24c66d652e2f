// Reading the configuration documents: the user's (a file or JSON text, from the command line or
// LMCache's variables), the settings file, and plughost's defaults.
#include "config/installation.hpp"
#include "config/settings_parts.hpp"
#include "plughost/error.hpp"

namespace plughost::detail {

namespace fs = std::filesystem;

namespace {

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

}  // namespace plughost::detail
