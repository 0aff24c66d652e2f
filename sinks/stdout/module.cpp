// The stdout sink module: descriptor, settings table and factory.
#include "plughost/module.hpp"

#include <unistd.h>

#include "stdout_sink.hpp"

namespace {

std::unique_ptr<plughost::sink> create(const plughost::settings& s) {
  const auto color = plughost::sinks::stdout_sink::want_color(s.get_string("color"), STDOUT_FILENO);
  return std::make_unique<plughost::sinks::stdout_sink>(STDOUT_FILENO, color);
}

const plughost::setting_spec settings_table[] = {
    {.key = "color",
     .type = plughost::setting_type::choice,
     .default_value = "auto",
     .description = "colour the prefixes: auto (only on a terminal, unless NO_COLOR is set), "
                    "always or never",
     .shorthand = true,
     .choices = "auto|always|never"},
};

constexpr plughost::module_descriptor descriptor{
    .abi_version = plughost::module_abi_version,
    .kind = plughost::module_kind::sink,
    .name = "stdout",
    .description = "human-readable lines on standard output, prefixed with the plugin's name",
    .settings = settings_table,
    .create_sink = &create,
};

}  // namespace

PLUGHOST_MODULE(stdout_sink, descriptor)
