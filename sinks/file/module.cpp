// The file sink module: descriptor, settings table and factory.
#include "plughost/module.hpp"

#include <fmt/format.h>

#include <stdexcept>

#include "file_sink.hpp"

namespace {

// Rotation renames every kept file in turn: a bound keeps it quick.
constexpr std::int64_t most_files = 1000;

std::unique_ptr<plughost::sink> create(const plughost::settings& s) {
  const auto max_files = s.get_integer("max_files");
  if (max_files > most_files) {
    throw std::invalid_argument(
        fmt::format("max_files must be at most {}, got {}", most_files, max_files));
  }
  return std::make_unique<plughost::sinks::file_sink>(s.get_string("path"),
                                                      s.get_integer("max_size"), max_files);
}

const plughost::setting_spec settings_table[] = {
    {.key = "path",
     .type = plughost::setting_type::path,
     .description = "log file; \"{plugin}\" in it gives each plugin its own file",
     .required = true,
     .shorthand = true},
    {.key = "max_size",
     .type = plughost::setting_type::size,
     .default_value = "10MiB",
     .description = "rotate a file before it grows past this size; 0: never rotate"},
    {.key = "max_files",
     .type = plughost::setting_type::count,
     .default_value = "5",
     .description = "rotated files kept per file (name.1.log is the newest), at most 1000"},
};

constexpr plughost::module_descriptor descriptor{
    .abi_version = plughost::module_abi_version,
    .kind = plughost::module_kind::sink,
    .name = "file",
    .description = "human-readable lines with time, plugin and stream, in rotated files",
    .settings = settings_table,
    .create_sink = &create,
};

}  // namespace

PLUGHOST_MODULE(file_sink, descriptor)
