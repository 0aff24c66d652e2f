// LMCache's configuration keys as LMCache itself reads them from its environment (LMCACHE_<KEY>,
// and the variables of its deprecated aliases), so that plughost finds the same plugin locations
// and extra_config as an LMCache process started with the same environment.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/environment.hpp"
#include "config/config_document.hpp"

namespace plughost::detail {

/// An environment value the way LMCache's _parse_quoted_string reads it: blanks around it are
/// dropped; a value quoted with ' or " at both ends is read as a Python string literal (escapes
/// such as \n, \x41, \u00e9 decoded), or, when it is not a valid one, just loses its two quotes.
std::string lmcache_env_text(std::string_view raw);

/// A value LMCache would take from its environment, and which variable it came from.
struct lmcache_env_value {
  std::string variable;
  std::string text;  ///< after lmcache_env_text()
};

/// runtime_plugin_locations from the environment: LMCACHE_RUNTIME_PLUGIN_LOCATIONS, or its
/// deprecated alias LMCACHE_PLUGIN_LOCATIONS, which wins when both are set (LMCache resolves the
/// alias after the key). LMCache reads the value as one path; an empty value means no locations.
/// Adds a warning for the deprecated spelling. nullopt when neither is set.
std::optional<lmcache_env_value> lmcache_env_locations(const environment_block& env,
                                                       std::vector<std::string>& warnings);

/// extra_config from LMCACHE_EXTRA_CONFIG: a JSON mapping (empty: null, as LMCache). nullopt when
/// unset, or (with a warning, LMCache keeps the file's value then) when it is not valid JSON.
std::optional<json> lmcache_env_extra_config(const environment_block& env,
                                             std::vector<std::string>& warnings);

}  // namespace plughost::detail
