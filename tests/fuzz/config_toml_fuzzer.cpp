// Fuzzes the TOML configuration loader (parse_config_text); the checks are in config_fuzz.hpp.
#include "config_fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  plughost::fuzz::parse_checked(text, plughost::detail::config_format::toml);
  return 0;
}
