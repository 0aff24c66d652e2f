// Plugin output through real pipes into a real jsonl file: streams, order, completeness.
#include <signal.h>

#include <algorithm>

#include "integration.hpp"

namespace plughost::test {
namespace {

using namespace std::chrono_literals;
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

// A python plugin that makes its stdout pipe hold 1 MiB, says "ready", waits for the file
// <itself>.go, then writes `body` to stdout in one go and runs `then`.
std::string holds_output_until_go(const std::string& body, const std::string& then) {
  return "import fcntl, os, sys, time\n"
         "fcntl.fcntl(1, fcntl.F_SETPIPE_SZ, 1 << 20)\n"
         "print('ready')\n"
         "while not os.path.exists(sys.argv[0] + '.go'): time.sleep(0.01)\n"
         "data = " +
         body +
         "\n"
         "while data: data = data[os.write(1, data):]\n" +
         then + "\n";
}

// The pid in a plugin's "started" event.
pid_t started_pid(const std::vector<json>& recs) {
  for (const auto& r : recs) {
    if (r.value("event", "") == "started") return r["pid"].get<pid_t>();
  }
  return -1;
}

TEST_F(output, a_plugins_last_lines_come_before_its_exit_event_even_when_the_exit_is_seen_first) {
  // The host is stopped (SIGSTOP) while the plugin fills its pipe with 600 KiB, ends with a line
  // without newline, and exits: when the host goes on, the exit and the output are both waiting,
  // and one wake-up reads at most 256 KiB of a pipe. Everything must still come before "exited".
  plugin("last.py", holds_output_until_go("(b'x' * 1023 + b'\\n') * 600 + b'unterminated'", ""));
  auto host = start({"run"});
  ASSERT_TRUE(wait_for_line("last.py", "ready"));
  const auto pid = started_pid(records_of("last.py"));
  ASSERT_GT(pid, 0);
  host->signal(SIGSTOP);
  dir.write("plugins/last.py.go", "");
  const bool exited = eventually([&] { return !process_alive(pid); });
  host->signal(SIGCONT);
  ASSERT_TRUE(exited) << "the plugin did not exit";
  const auto status = host->wait_for(60s);
  ASSERT_TRUE(status);
  const auto recs = records_of("last.py");
  ASSERT_FALSE(recs.empty());
  EXPECT_EQ(recs.back().value("event", ""), "exited");
  const auto lines = lines_of("last.py", "stdout");
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.size(), 602u);
  EXPECT_TRUE(lines.back() == "unterminated") << "the last line is not the one without newline";
}

TEST_F(output, one_plugin_that_floods_its_pipe_does_not_hold_back_the_others) {
  // With the host stopped, flood.py fills its pipe with 768 KiB, then quiet.py writes one line.
  // When the host goes on, one wake-up reads at most 256 KiB of a pipe before the others get
  // their turn: quiet.py's line must come before the end of the flood.
  plugin("flood.py", holds_output_until_go("(b'f' * 1023 + b'\\n') * 768",
                                           "open(sys.argv[0] + '.done', 'w')\ntime.sleep(300)"));
  plugin("quiet.py",
         holds_output_until_go("b'hello\\n'", "open(sys.argv[0] + '.done', 'w')\ntime.sleep(300)"));
  auto host = start({"run"});
  ASSERT_TRUE(wait_for_line("flood.py", "ready") && wait_for_line("quiet.py", "ready"));
  host->signal(SIGSTOP);
  dir.write("plugins/flood.py.go", "");
  const bool flooded = eventually([&] { return fs::exists(plugins / "flood.py.done"); });
  dir.write("plugins/quiet.py.go", "");
  const bool said = eventually([&] { return fs::exists(plugins / "quiet.py.done"); });
  host->signal(SIGCONT);
  ASSERT_TRUE(flooded && said);
  ASSERT_TRUE(eventually([&] { return lines_of("flood.py", "stdout").size() == 769; }));
  ASSERT_TRUE(wait_for_line("quiet.py", "hello"));
  host->signal(SIGTERM);
  ASSERT_TRUE(host->wait_for(30s));

  std::ptrdiff_t hello = -1, last_flood = -1;
  const auto recs = records();
  for (std::size_t i = 0; i < recs.size(); ++i) {
    if (recs[i].value("stream", "") != "stdout") continue;
    if (recs[i]["plugin"] == "quiet.py" && recs[i]["line"] == "hello") hello = i;
    if (recs[i]["plugin"] == "flood.py") last_flood = i;
  }
  EXPECT_LT(hello, last_flood) << "quiet.py waited until flood.py's pipe was empty";
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
