// JSON → neutral tree, with nlohmann::json's own syntax errors turned into file:line:col.
#include <fmt/format.h>

#include <regex>

#include "config_document.hpp"
#include "plughost/error.hpp"

namespace plughost::detail {

void parse_json_into(config_document& doc, std::string_view text) {
  try {
    doc.root = json::parse(text);
  } catch (const json::parse_error& e) {
    // e.what(): "[json.exception.parse_error.101] parse error at line 2, column 5: <detail>"
    static const std::regex where_re(R"(at line (\d+), column (\d+): (.*)$)");
    std::cmatch m;
    const char* what = e.what();
    if (std::regex_search(what, m, where_re)) {
      throw config_error(doc.source, std::stoi(m[1].str()), std::stoi(m[2].str()),
                         "invalid JSON: " + m[3].str());
    }
    throw config_error(doc.source, fmt::format("invalid JSON: {}", what));
  }
  index_json_positions(doc, text);
}

}  // namespace plughost::detail
