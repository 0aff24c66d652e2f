// Fuzzes the JSON configuration loader (parse_config_text); the checks are in config_fuzz.hpp.
// Besides: plughost reads Python's JSON (NaN, lone surrogates, bytes that are not UTF-8) by
// rewriting the text first, so any strict JSON mapping must come out exactly as
// nlohmann::json reads it unchanged.
#include "config_fuzz.hpp"

namespace {

// How deep the brackets outside strings nest.
int bracket_depth(std::string_view text) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using plughost::fuzz::json;
  using plughost::fuzz::require;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto doc = plughost::fuzz::parse_checked(text, plughost::detail::config_format::json_text);
  if (bracket_depth(text) > plughost::detail::max_config_depth) return 0;
  const auto strict = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (strict.is_discarded() || !strict.is_object()) return 0;
  require(doc.has_value());
  require(doc->root == strict);
  return 0;
}
