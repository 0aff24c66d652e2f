// Splitting pipe bytes into lines: chunk boundaries, the last line, the 64 KiB cap, UTF-8.
#include "output/line_splitter.hpp"

#include <gtest/gtest.h>

namespace plughost::detail {
namespace {

struct piece {
  std::string text;
  bool partial;
  bool operator==(const piece&) const = default;
};

void PrintTo(const piece& p, std::ostream* os) {
  *os << (p.partial ? "partial:" : "") << p.text.size() << ":" << p.text.substr(0, 20);
}

// Feeds `chunks` one by one, then ends the stream.
std::vector<piece> split(const std::vector<std::string>& chunks) {
  line_splitter s;
  std::vector<piece> out;
  auto emit = [&](std::string_view line, bool partial) {
    out.push_back({std::string(line), partial});
  };
  for (const auto& c : chunks) s.feed(c, emit);
  s.finish(emit);
  return out;
}

TEST(line_splitter, splits_on_newlines_across_chunks) {
  EXPECT_EQ(split({"a\nb", "c\n", "\nd"}),
            (std::vector<piece>{{"a", false}, {"bc", false}, {"", false}, {"d", false}}));
}

TEST(line_splitter, a_last_line_without_newline_is_still_a_line) {
  EXPECT_EQ(split({"one\ntwo"}), (std::vector<piece>{{"one", false}, {"two", false}}));
  EXPECT_EQ(split({"x\n"}), (std::vector<piece>{{"x", false}}));
  EXPECT_TRUE(split({}).empty());
}

TEST(line_splitter, keeps_any_bytes) {
  const std::string bytes("\0\xff\r\x01", 4);
  EXPECT_EQ(split({bytes + "\n"}), (std::vector<piece>{{bytes, false}}));
}

TEST(line_splitter, a_line_of_exactly_64_KiB_is_one_line) {
  const std::string line(line_splitter::max_line, 'a');
  EXPECT_EQ(split({line, "\n"}), (std::vector<piece>{{line, false}}));
  EXPECT_EQ(split({line + "\n"}), (std::vector<piece>{{line, false}}));
}

TEST(line_splitter, a_longer_line_is_cut_into_pieces_none_dropped) {
  const std::string line(3 * line_splitter::max_line + 5, 'b');
  const std::vector<piece> expected{{std::string(line_splitter::max_line, 'b'), true},
                                    {std::string(line_splitter::max_line, 'b'), true},
                                    {std::string(line_splitter::max_line, 'b'), true},
                                    {"bbbbb", false}};
  auto in_one = split({line + "\nnext"});
  ASSERT_EQ(in_one.size(), 5u);
  in_one.pop_back();
  EXPECT_EQ(in_one, expected);
  // The same line arriving a byte at a time in 1000-byte chunks.
  std::vector<std::string> chunks;
  for (std::size_t i = 0; i < line.size(); i += 1000) chunks.push_back(line.substr(i, 1000));
  chunks.push_back("\n");
  EXPECT_EQ(split(chunks), expected);
}

TEST(line_splitter, pieces_do_not_split_a_utf8_character) {
  // 65535 ASCII bytes, then "é" (2 bytes) straddling the 64 KiB mark.
  const std::string line = std::string(line_splitter::max_line - 1, 'c') + "\xc3\xa9" + "tail";
  const auto out = split({line + "\n"});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], (piece{std::string(line_splitter::max_line - 1, 'c'), true}));
  EXPECT_EQ(out[1], (piece{"\xc3\xa9tail", false}));
}

TEST(line_splitter, invalid_utf8_is_cut_at_the_cap) {
  const std::string line(line_splitter::max_line + 10, '\x80');
  const auto out = split({line});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].text.size(), line_splitter::max_line);
  EXPECT_TRUE(out[0].partial);
  EXPECT_EQ(out[1].text.size(), 10u);
  EXPECT_FALSE(out[1].partial);
}

}  // namespace
}  // namespace plughost::detail
