// YAML 1.1 scalars typed as LMCache's reader (PyYAML's SafeLoader) types them: null, booleans,
// integers of any size (their exact digits kept), floats with base 60, .inf and .nan.
#pragma once

#include <optional>
#include <string>

#include "config/config_document.hpp"

namespace plughost::detail {

/// A scalar's value and, for an integer the tree cannot hold (beyond 64 bits: held as a double,
/// which plughost's own settings then find too large), the exact digits plugins receive.
struct typed {
  json value;
  std::optional<std::string> exact;
};

/// A plain (untagged, unquoted) scalar, typed by YAML 1.1's implicit resolvers.
typed plain_scalar(const std::string& text);

/// !!bool: yes/no, true/false, on/off in any case; nothing for other text.
std::optional<bool> explicit_bool(const std::string& text);

/// !!int: a YAML 1.1 integer (binary, octal, hexadecimal, base 60, underscores); nothing for
/// other text.
std::optional<typed> explicit_integer(const std::string& text);

/// !!float on any text: what Python's float() makes of it after PyYAML's clean-up (underscores
/// out, .inf and .nan, base 60), or nothing where float() would raise.
std::optional<double> explicit_float(const std::string& text);

/// A key as Python's json.dumps writes a key PyYAML typed: 1 → "1", true → "true", ~ → "null".
std::string key_text(const typed& key);

}  // namespace plughost::detail
