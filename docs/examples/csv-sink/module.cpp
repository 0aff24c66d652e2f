// The csv sink module: descriptor, settings table (validated by plughost before create) and
// factory, exported with PLUGHOST_MODULE.
#include <plughost/module.hpp>

#include "csv_sink.hpp"

namespace {

std::unique_ptr<plughost::sink> create(const plughost::settings& s) {
  return std::make_unique<example::csv_sink>(s.get_string("path"), s.get_bool("header"));
}

const plughost::setting_spec settings_table[] = {
    {.key = "path",
     .type = plughost::setting_type::path,
     .description = "CSV file records are appended to",
     .required = true,
     .shorthand = true},  // --sink csv:/tmp/records.csv
    {.key = "header",
     .type = plughost::setting_type::boolean,
     .default_value = "true",
     .description = "write a header row into a new file"},
};

constexpr plughost::module_descriptor descriptor{
    .abi_version = plughost::module_abi_version,
    .kind = plughost::module_kind::sink,
    .name = "csv",
    .description = "records as CSV rows: time, plugin, pid, stream, text",
    .settings = settings_table,
    .create_sink = &create,
};

}  // namespace

PLUGHOST_MODULE(csv_sink, descriptor)
