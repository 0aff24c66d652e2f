// The catalogue of events (plughost/events.hpp) and the table of events in docs/running.md agree:
// the same events, in the same order, each with every field the catalogue gives it.
#include "plughost/events.hpp"

#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace plughost {
namespace {

struct doc_row {
  std::string name;
  std::string fields;  // the cell as written
};

// The rows of the table that follows "Events (records with" in docs/running.md.
std::vector<doc_row> documented_events() {
  const auto text =
      test::read_file(test::folder_from_environment("PLUGHOST_SOURCE_DIR") / "docs/running.md");
  std::istringstream in(text.substr(text.find("Events (records with")));
  std::vector<doc_row> rows;
  std::string line;
  bool in_table = false;
  while (std::getline(in, line)) {
    if (line.rfind("| event |", 0) == 0) {
      in_table = true;
      continue;
    }
    if (!in_table || line.rfind("|---", 0) == 0) continue;
    if (line.rfind("| `", 0) != 0) break;
    const auto name_end = line.find('`', 3);
    const auto cell_end = line.find(" | ", name_end);
    rows.push_back(
        {line.substr(3, name_end - 3), line.substr(name_end + 4, cell_end - name_end - 4)});
  }
  return rows;
}

TEST(events, the_docs_table_lists_the_catalogue_in_its_order_with_every_field) {
  const auto rows = documented_events();
  std::vector<std::string> documented, catalogued;
  for (const auto& r : rows) documented.push_back(r.name);
  for (const auto& e : events::catalogue) catalogued.emplace_back(e.name);
  ASSERT_EQ(documented, catalogued) << "docs/running.md's table of events";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    for (const auto field : events::catalogue[i].fields) {
      if (field.empty()) continue;
      EXPECT_NE(rows[i].fields.find("`" + std::string(field) + "`"), std::string::npos)
          << rows[i].name << " in docs/running.md does not name its field " << field;
    }
  }
}

TEST(events, names_are_unique_and_found) {
  std::set<std::string_view> names;
  for (const auto& e : events::catalogue) {
    EXPECT_TRUE(names.insert(e.name).second) << e.name;
    EXPECT_EQ(events::find(e.name), &e);
    EXPECT_FALSE(e.meaning.empty()) << e.name;
  }
  EXPECT_EQ(events::find("restarted"), nullptr);
#ifndef __SANITIZE_ADDRESS__  // under ASan, GCC cannot compare an address at compile time
  static_assert(events::find("gave_up") != nullptr, "usable at compile time");
#endif
}

}  // namespace
}  // namespace plughost
