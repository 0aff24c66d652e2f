// Loading configuration files by extension and locating values for error messages.
#include "config/config_document.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "plughost/error.hpp"

namespace plughost::detail {

namespace {
source_position lookup(const std::unordered_map<std::string, source_position>& table,
                       json::json_pointer where) {
  while (true) {
    if (const auto it = table.find(where.to_string()); it != table.end() && it->second.line > 0) {
      return it->second;
    }
    if (where.empty()) return {};
    where = where.parent_pointer();
  }
}
}  // namespace

source_position config_document::value_position(const json::json_pointer& where) const {
  return lookup(values_, where);
}

source_position config_document::key_position(const json::json_pointer& where) const {
  if (const auto it = keys_.find(where.to_string()); it != keys_.end() && it->second.line > 0) {
    return it->second;
  }
  return value_position(where);
}

void config_document::fail(source_position p, const std::string& message) const {
  if (p.line > 0) throw config_error(source, p.line, p.column, message);
  throw config_error(source, message);
}

void config_document::fail_at_value(const json::json_pointer& where,
                                    const std::string& message) const {
  fail(value_position(where), message);
}

void config_document::fail_at_key(const json::json_pointer& where,
                                  const std::string& message) const {
  fail(key_position(where), message);
}

void config_document::record_value(const json::json_pointer& where, source_position p) {
  values_[where.to_string()] = p;
}

void config_document::record_key(const json::json_pointer& where, source_position p) {
  keys_[where.to_string()] = p;
}

void config_document::take_positions(config_document&& other) {
  values_ = std::move(other.values_);
  keys_ = std::move(other.keys_);
}

config_format format_of(const std::filesystem::path& file) {
  const auto ext = file.extension().string();
  if (ext == ".yaml" || ext == ".yml") return config_format::yaml;
  if (ext == ".toml") return config_format::toml;
  if (ext == ".json") return config_format::json_text;
  throw config_error(file.string(),
                     fmt::format("unknown configuration format '{}': expected a .yaml, .yml, "
                                 ".toml or .json file",
                                 ext.empty() ? "(no extension)" : ext));
}

config_document load_config_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    const int err = errno;
    throw config_error(file.string(), fmt::format("cannot read configuration file: {}",
                                                  err ? std::strerror(err) : "unknown error"));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    throw config_error(file.string(), "cannot read configuration file: read error");
  }
  std::error_code ec;
  auto base = std::filesystem::absolute(file, ec).parent_path();
  return parse_config_text(text.str(), format_of(file), file.string(), base);
}

config_document parse_config_text(std::string_view text, config_format format, std::string source,
                                  std::filesystem::path base_dir) {
  config_document doc;
  doc.source = std::move(source);
  doc.base_dir = std::move(base_dir);
  switch (format) {
    case config_format::yaml:
      parse_yaml_into(doc, text);
      break;
    case config_format::toml:
      parse_toml_into(doc, text);
      break;
    case config_format::json_text:
      parse_json_into(doc, text);
      break;
  }
  if (doc.root.is_null()) doc.root = json::object();  // an empty file configures nothing
  if (!doc.root.is_object()) {
    doc.fail_at_value(json::json_pointer(),
                      fmt::format("expected a mapping of settings at the top level, got {}",
                                  describe_type(doc.root)));
  }
  return doc;
}

std::string describe_type(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "nothing (null)";
    case json::value_t::object:
      return "a mapping";
    case json::value_t::array:
      return "a list";
    case json::value_t::string:
      return fmt::format("the string \"{}\"", v.get_ref<const std::string&>());
    case json::value_t::boolean:
      return fmt::format("the boolean {}", v.get<bool>() ? "true" : "false");
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return fmt::format("the number {}", v.dump());
    default:
      return "an unsupported value";
  }
}

}  // namespace plughost::detail
