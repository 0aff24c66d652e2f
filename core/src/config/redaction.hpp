// redact: the keys of LMCache's configuration a plugin does not receive (docs/isolation.md),
// removed from its copy of the configuration JSON.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/config_document.hpp"

namespace plughost::detail {

/// Removes from `document` the keys `patterns` match: each pattern is dotted
/// ("extra_config.*token*"), each of its parts an fnmatch glob matched against the keys of the
/// mapping at that depth. Returns the keys removed, dotted ("extra_config.hf_token"), in document
/// order.
std::vector<std::string> remove_keys(json& document, const std::vector<std::string>& patterns);

/// The configuration JSON text a plugin with `patterns` receives: `text` without the keys they
/// match, as compact JSON written as LMCache writes it (dump_for_plugins); nothing when no key
/// matches (the plugin then gets `text` byte for byte). `removed` (may be null) receives the
/// keys removed. Throws config_error for text that is not a JSON mapping.
std::optional<std::string> redacted_config(const std::string& text,
                                           const std::vector<std::string>& patterns,
                                           std::vector<std::string>* removed = nullptr);

}  // namespace plughost::detail
