// redact: the keys of LMCache's configuration a plugin does not receive (docs/isolation.md),
// removed from its copy of the configuration JSON.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/config_document.hpp"

namespace plughost::detail {

/// The configuration JSON text a plugin with `patterns` receives: `text` (valid JSON, as
/// load_configuration() accepts it) without the keys they match, every other byte as it was;
/// nothing when no key matches. Each pattern is dotted ("extra_config.*token*"), each of its
/// parts an fnmatch glob matched against the keys of the mapping at that depth. `removed` (may
/// be null) receives the keys removed, dotted ("extra_config.hf_token"), in the text's order.
std::optional<std::string> redacted_config(const std::string& text,
                                           const std::vector<std::string>& patterns,
                                           std::vector<std::string>* removed = nullptr);

}  // namespace plughost::detail
