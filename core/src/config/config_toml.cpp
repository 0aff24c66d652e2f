// TOML → neutral tree (dates and times become ISO 8601 strings).
#include <fmt/format.h>
#include <toml++/toml.h>

#include <sstream>

#include "config/config_document.hpp"
#include "plughost/error.hpp"

namespace plughost::detail {

namespace {

source_position position_of(const toml::source_region& r) {
  return {static_cast<int>(r.begin.line), static_cast<int>(r.begin.column)};
}

template <typename T>
std::string iso_text(const T& v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

// `depth`: of the tables and arrays around `node` (toml++ allows 256 levels, plughost as many as
// in the other formats).
json convert(const toml::node& node, const json::json_pointer& where, config_document& doc,
             int depth) {
  const auto at = position_of(node.source());
  doc.record_value(where, at);
  if ((node.is_table() || node.is_array()) && depth >= max_config_depth) {
    throw config_error(doc.source, at.line, at.column,
                       fmt::format("nested deeper than {} levels", max_config_depth));
  }
  if (const auto* t = node.as_table()) {
    json out = json::object();
    for (const auto& [key, child] : *t) {
      const auto child_where = where / std::string(key.str());
      doc.record_key(child_where, position_of(key.source()));
      out[std::string(key.str())] = convert(child, child_where, doc, depth + 1);
    }
    return out;
  }
  if (const auto* a = node.as_array()) {
    json out = json::array();
    for (std::size_t i = 0; i < a->size(); ++i) {
      out.push_back(convert((*a)[i], where / i, doc, depth + 1));
    }
    return out;
  }
  if (const auto* s = node.as_string()) return s->get();
  if (const auto* i = node.as_integer()) return i->get();
  if (const auto* f = node.as_floating_point()) return f->get();
  if (const auto* b = node.as_boolean()) return b->get();
  if (const auto* d = node.as_date()) return iso_text(d->get());
  if (const auto* t = node.as_time()) return iso_text(t->get());
  if (const auto* dt = node.as_date_time()) return iso_text(dt->get());
  return nullptr;
}

}  // namespace

void parse_toml_into(config_document& doc, std::string_view text) {
  toml::table table;
  try {
    table = toml::parse(text, doc.source);
  } catch (const toml::parse_error& e) {
    const auto p = position_of(e.source());
    throw config_error(doc.source, p.line, p.column,
                       fmt::format("invalid TOML: {}", e.description()));
  }
  doc.root = convert(table, json::json_pointer(), doc, 0);
}

}  // namespace plughost::detail
