// The jsonl sink module: descriptor, settings table and factory.
#include "plughost/module.hpp"

#include "jsonl_sink.hpp"

namespace {

std::unique_ptr<plughost::sink> create(const plughost::settings& s) {
  return std::make_unique<plughost::sinks::jsonl_sink>(
      s.get_string("path"), s.has("labels") ? plughost::parse_labels(s.get_string_list("labels"))
                                            : std::vector<std::pair<std::string, std::string>>{});
}

const plughost::setting_spec settings_table[] = {
    {.key = "path",
     .type = plughost::setting_type::path,
     .description = "file the records are appended to, one JSON object per line; - for "
                    "standard output",
     .required = true,
     .shorthand = true},
    {.key = "labels",
     .type = plughost::setting_type::string_list,
     .description = "NAME=VALUE pairs added to every record, e.g. [\"host={host}\", "
                    "\"role={role}\", \"worker_id={worker_id}\"]"},
};

constexpr plughost::module_descriptor descriptor{
    .abi_version = plughost::module_abi_version,
    .kind = plughost::module_kind::sink,
    .name = "jsonl",
    .description = "records as JSON Lines, appended to a file",
    .settings = settings_table,
    .create_sink = &create,
};

}  // namespace

PLUGHOST_MODULE(jsonl_sink, descriptor)
