// The file sink module in a real run: 100,000 lines through rotation, none lost.
#include <fstream>

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

}  // namespace
}  // namespace plughost::test
