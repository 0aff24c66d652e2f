// Plugin output through real pipes into a real jsonl file: streams, order, completeness.
#include <algorithm>

#include "integration.hpp"

namespace plughost::test {
namespace {

using output = plughost_run;

TEST_F(output, python_and_bash_lines_arrive_per_plugin_and_stream_in_order) {
  plugin("all_py.py",
         "import sys\n"
         "for i in range(5):\n"
         "    print(f'out {i}')\n"
         "    print(f'err {i}', file=sys.stderr)\n"
         "sys.stdout.write('no newline at the end')\n");
  plugin("all_sh.sh",
         "for i in 1 2 3; do echo \"bash out $i\"; echo \"bash err $i\" >&2; done\n"
         "printf 'last without newline'\n");
  const auto r = run({"run"});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  EXPECT_EQ(lines_of("all_py.py", "stdout"),
            (std::vector<std::string>{"out 0", "out 1", "out 2", "out 3", "out 4",
                                      "no newline at the end"}));
  EXPECT_EQ(lines_of("all_py.py", "stderr"),
            (std::vector<std::string>{"err 0", "err 1", "err 2", "err 3", "err 4"}));
  EXPECT_EQ(
      lines_of("all_sh.sh", "stdout"),
      (std::vector<std::string>{"bash out 1", "bash out 2", "bash out 3", "last without newline"}));
  EXPECT_EQ(lines_of("all_sh.sh", "stderr"),
            (std::vector<std::string>{"bash err 1", "bash err 2", "bash err 3"}));

  for (const auto* name : {"all_py.py", "all_sh.sh"}) {
    const auto recs = records_of(name);
    ASSERT_GE(recs.size(), 3u);
    EXPECT_EQ(recs.front()["event"], "started") << name;
    EXPECT_EQ(recs.back()["event"], "exited") << name;  // after every line of the plugin
    EXPECT_EQ(recs.back()["exit_code"], 0);
    const auto pid = recs.front()["pid"];
    EXPECT_TRUE(pid.is_number_integer());
    for (const auto& rec : recs) EXPECT_EQ(rec["pid"], pid);
  }
  EXPECT_EQ(records_of("all_sh.sh").front()["argv"].back(), (plugins / "all_sh.sh").string());
}

TEST_F(output, a_last_line_without_newline_comes_before_the_exit_event) {
  // Many plugins at once, so that exits and ends of file race on the event loop.
  for (int i = 0; i < 20; ++i) {
    plugin("p" + std::to_string(i) + ".sh",
           "echo first\nprintf 'unterminated %s' " + std::to_string(i) + "\n");
  }
  ASSERT_EQ(run({"run"}).exit_code, 0);
  for (int i = 0; i < 20; ++i) {
    const auto name = "p" + std::to_string(i) + ".sh";
    const auto recs = records_of(name);
    ASSERT_EQ(recs.size(), 4u) << name;
    EXPECT_EQ(recs[2]["line"], "unterminated " + std::to_string(i)) << name;
    EXPECT_EQ(recs[3]["event"], "exited") << name;
  }
}

TEST_F(output, two_hundred_thousand_lines_arrive_complete) {
  constexpr int count = 200'000;
  plugin("lines.py",
         "import sys\n"
         "sys.stdout.write(''.join(f'line {i}\\n' for i in range(200000)))\n"
         "sys.stderr.write(''.join(f'e{i}\\n' for i in range(1000)))\n");
  const auto r = run({"run"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto out = lines_of("lines.py", "stdout");
  ASSERT_EQ(out.size(), static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    if (out[static_cast<std::size_t>(i)] != "line " + std::to_string(i)) {
      FAIL() << "line " << i << " is '" << out[static_cast<std::size_t>(i)] << "'";
    }
  }
  EXPECT_EQ(lines_of("lines.py", "stderr").size(), 1000u);
}

TEST_F(output, a_one_mib_line_arrives_complete_in_pieces) {
  // ASCII and 2-, 3- and 4-byte UTF-8 characters, so that pieces must avoid splitting them.
  plugin("big.py",
         "import sys\n"
         "unit = 'ab\\u00e9\\u20ac\\U0001F600'\n"
         "line = (unit * 200000)\n"
         "data = line.encode()[:1 << 20].decode('utf-8', 'ignore')\n"
         "open(sys.argv[0] + '.expected', 'w', encoding='utf-8').write(data)\n"
         "sys.stdout.write(data + '\\nafter\\n')\n");
  const auto r = run({"run"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto expected = read_file(plugins / "big.py.expected");
  ASSERT_GT(expected.size(), (1u << 20) - 4);

  std::string joined;
  std::vector<json> pieces;
  for (const auto& rec : records_of("big.py")) {
    if (rec["stream"] == "stdout") pieces.push_back(rec);
  }
  ASSERT_GE(pieces.size(), 17u);
  for (std::size_t i = 0; i + 1 < pieces.size(); ++i) {
    const auto text = pieces[i]["line"].get<std::string>();
    EXPECT_LE(text.size(), 65536u);
    if (i + 2 < pieces.size()) {
      EXPECT_EQ(pieces[i]["partial"], true) << "piece " << i;
    } else {
      EXPECT_FALSE(pieces[i].contains("partial")) << "the last piece is not partial";
    }
    joined += text;
  }
  EXPECT_EQ(joined.size(), expected.size());
  EXPECT_TRUE(joined == expected) << "the pieces do not add up to the line";
  EXPECT_EQ(pieces.back()["line"], "after");
}

TEST_F(output, bytes_that_are_not_utf8_become_replacement_characters) {
  plugin("bin.py", "import sys\nsys.stdout.buffer.write(b'\\xff\\xfe ok\\n')\n");
  ASSERT_EQ(run({"run"}).exit_code, 0);
  EXPECT_EQ(lines_of("bin.py", "stdout"), std::vector<std::string>{"\xef\xbf\xbd\xef\xbf\xbd ok"});
}

TEST_F(output, the_stdout_sink_prefixes_lines_with_the_plugin_name) {
  plugin("hello.sh", "echo hi\necho oops >&2\n");
  const auto r = run({"run", "--sink", "stdout"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("[hello.sh] hi\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[hello.sh:stderr] oops\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[hello.sh:event] exited with code 0\n"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("\x1b["), std::string::npos) << "no colour when not on a terminal";
}

}  // namespace
}  // namespace plughost::test
