// The file sink module in a real run: 100,000 lines through rotation, none lost.
#include <signal.h>

#include <fstream>
#include <regex>

#include "integration.hpp"

namespace plughost::test {
namespace {

using file_sink = plughost_run;

TEST_F(file_sink, one_hundred_thousand_lines_survive_rotation) {
  plugin("count.py",
         "import sys\n"
         "sys.stdout.write(''.join(f'n={i}\\n' for i in range(100000)))\n");
  const auto config = dir.write("c.yaml",
                                "runtime_plugin_locations: [plugins]\n"
                                "plughost:\n"
                                "  sinks:\n"
                                "    - {type: file, path: logs/plugins.log, max_size: 64KiB, "
                                "max_files: 1000}\n");
  const auto r = run({"run", "--config", config.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  std::vector<fs::path> files;
  for (int i = 1000; i >= 1; --i) {
    const auto f = dir.path() / "logs" / ("plugins." + std::to_string(i) + ".log");
    if (fs::exists(f)) files.push_back(f);
  }
  files.push_back(dir.path() / "logs" / "plugins.log");
  ASSERT_GT(files.size(), 20u) << "rotation happened many times";

  std::size_t expected = 0;
  bool in_order = true;
  for (const auto& f : files) {
    EXPECT_LE(fs::file_size(f), 64u * 1024) << f;
    std::ifstream in(f);
    for (std::string line; std::getline(in, line);) {
      const auto at = line.find(" count.py[");
      ASSERT_NE(at, std::string::npos) << line;
      const auto text = line.substr(line.find(": ", at) + 2);
      if (line.find(" stdout: ") == std::string::npos) continue;  // events
      if (text != "n=" + std::to_string(expected)) in_order = false;
      ++expected;
    }
  }
  EXPECT_TRUE(in_order);
  EXPECT_EQ(expected, 100000u);
}

TEST_F(file_sink, max_files_past_1000_is_refused_before_anything_starts) {
  // Rotation renames every kept file in turn: 10^11 of them would spin for ever on the first
  // rotation while every record waits.
  plugin("ran.sh", "touch \"$0.ran\"\n");
  const auto config = dir.write("c.yaml",
                                "runtime_plugin_locations: [plugins]\n"
                                "plughost:\n"
                                "  sinks:\n"
                                "    - {type: file, path: logs/p.log, max_size: 1, "
                                "max_files: 100000000000}\n");
  const auto r = run({"run", "--config", config.string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("max_files must be at most 1000, got 100000000000"), std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(dir.path() / "plugins" / "ran.sh.ran"));
}

// The files `pid` holds open whose path contains `part`.
std::vector<std::string> open_files(pid_t pid, const std::string& part) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    const auto target = fs::read_symlink(e.path(), ec).string();
    if (target.find(part) != std::string::npos) out.push_back(target);
  }
  return out;
}

TEST_F(file_sink, a_plugins_own_file_is_closed_when_its_run_is_over) {
  plugin("brief.sh", "echo once\n");
  plugin("long.sh", "echo ready\nexec sleep 300\n");
  auto host = start({"run", "--sink", "file:" + (dir.path() / "logs/{plugin}.log").string(),
                     "--sink", "jsonl:" + records_file.string()});
  ASSERT_TRUE(wait_for_line("long.sh", "ready"));
  ASSERT_TRUE(eventually([&] { return events_of(records_of("brief.sh")).size() == 2; }));
  ASSERT_TRUE(eventually([&] { return open_files(host->pid(), "brief.sh.log").empty(); }))
      << "brief.sh's file is still open after it exited";
  EXPECT_EQ(open_files(host->pid(), "long.sh.log").size(), 1u);
  EXPECT_NE(read_file(dir.path() / "logs/brief.sh.log").find("brief.sh"), std::string::npos);
  host->signal(SIGTERM);
  ASSERT_TRUE(host->wait_for(std::chrono::seconds(30)));
  EXPECT_NE(read_file(dir.path() / "logs/brief.sh.log").find("exited with code 0"),
            std::string::npos);
}

TEST_F(file_sink, a_plugin_file_that_cannot_be_opened_is_not_tried_again_for_every_line) {
  // The folder is a regular file: every open fails. spdlog retries an open for 50 ms, so trying
  // at every line would take about a minute for these 1,000 lines (the bound only catches that).
  dir.write("not-a-folder", "");
  plugin("chatty.sh", "i=0; while [ $i -lt 1000 ]; do echo \"line $i\"; i=$((i + 1)); done\n");
  const auto started = std::chrono::steady_clock::now();
  const auto r =
      run({"run", "--sink", "file:" + (dir.path() / "not-a-folder/{plugin}.log").string(), "--sink",
           "jsonl:" + records_file.string()});
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(20));
  EXPECT_EQ(r.exit_code, 3) << "records were lost";
  EXPECT_EQ(lines_of("chatty.sh", "stdout").size(), 1000u) << "the other sink got everything";
  EXPECT_NE(r.err.find("failed in write"), std::string::npos) << r.err;
  // The lines, the plugin's two events, and the `lost` events about this very sink.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.err, m, std::regex(R"(: (\d+) records lost \(last error: )")))
      << r.err;
  EXPECT_GE(std::stoi(m[1].str()), 1002) << r.err;
  EXPECT_LE(std::stoi(m[1].str()), 1004) << r.err;
}

}  // namespace
}  // namespace plughost::test
