// The jsonl sink module: descriptor, settings table and factory.
#include "plughost/module.hpp"

#include <stdexcept>

#include "jsonl_sink.hpp"

namespace {

std::unique_ptr<plughost::sink> create(const plughost::settings& s) {
  std::vector<std::pair<std::string, std::string>> labels;
  if (s.has("labels")) labels = plughost::parse_labels(s.get_string_list("labels"));
  // A label must not pass for a field of the record (a reader keeps the last of two keys).
  for (const auto& [name, value] : labels) {
    for (const char* field : {"ts", "plugin", "pid", "stream", "line", "partial", "event"}) {
      if (name == field) {
        throw std::invalid_argument("labels: '" + name +
                                    "' is a field of every record; choose another name");
      }
    }
  }
  return std::make_unique<plughost::sinks::jsonl_sink>(s.get_string("path"), labels);
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
