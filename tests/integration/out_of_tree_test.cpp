// Without rebuilding, proven: install plughost into a fresh prefix, build the two out-of-tree
// example modules (docs/examples/) against that installed package, drop the .so files into a
// folder, and let the installed binary use them.
#include <sys/wait.h>

#include "integration.hpp"

namespace plughost::test {
namespace {

using out_of_tree = plughost_run;

// Runs a command (argv) to completion, its output in `log`; returns its exit code.
int run_command(const std::vector<std::string>& argv, const std::vector<std::string>& environment,
                const fs::path& log) {
  child_process p({argv, environment, log, log, {}, {}});
  const auto status = p.wait_for(std::chrono::minutes(5));
  return status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
}

TEST_F(out_of_tree, modules_built_against_the_installed_package_run_without_a_rebuild) {
  const auto build = folder_from_environment("PLUGHOST_BUILD_DIR");
  const auto source = folder_from_environment("PLUGHOST_SOURCE_DIR");
  const auto prefix = dir.path() / "prefix";
  const auto log = dir.path() / "build.log";
  ASSERT_EQ(run_command(
                {"/usr/bin/env", "cmake", "--install", build.string(), "--prefix", prefix.string()},
                env, log),
            0)
      << read_file(log);
  ASSERT_TRUE(fs::exists(prefix / "bin" / "plughost"));
  ASSERT_TRUE(fs::exists(prefix / "lib" / "cmake" / "plughost" / "plughostConfig.cmake"));

  const auto modules = dir.path() / "team-modules";
  fs::create_directories(modules);
  for (const auto* example : {"awk-runner", "csv-sink"}) {
    const auto out = dir.path() / "build" / example;
    ASSERT_EQ(run_command({"/usr/bin/env", "cmake", "-S",
                           (source / "docs" / "examples" / example).string(), "-B", out.string(),
                           "-DCMAKE_PREFIX_PATH=" + prefix.string(), "-DCMAKE_BUILD_TYPE=Release"},
                          env, log),
              0)
        << read_file(log);
    ASSERT_EQ(run_command({"/usr/bin/env", "cmake", "--build", out.string()}, env, log), 0)
        << read_file(log);
    for (const auto& f : fs::directory_iterator(out)) {
      if (f.path().extension() == ".so") fs::copy_file(f.path(), modules / f.path().filename());
    }
  }
  ASSERT_TRUE(fs::exists(modules / "plughost-runner-awk.so"));
  ASSERT_TRUE(fs::exists(modules / "plughost-sink-csv.so"));

  fs::create_directories(plugins);
  fs::copy_file(source / "docs" / "examples" / "awk-runner" / "all_hello.awk",
                plugins / "all_hello.awk");
  const auto csv = dir.path() / "records.csv";
  const auto installed = (prefix / "bin" / "plughost").string();
  child_process p({{installed, "run", "--module-path", modules.string(), "--location",
                    plugins.string(), "--role", "WORKER", "--sink", "csv:" + csv.string()},
                   env,
                   dir.path() / "run.out",
                   dir.path() / "run.err",
                   {},
                   {}});
  const auto status = p.wait_for(std::chrono::seconds(60));
  ASSERT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << read_file(dir.path() / "run.err");
  const auto text = read_file(csv);
  EXPECT_EQ(text.rfind("time,plugin,pid,stream,text\n", 0), 0u) << text;
  EXPECT_NE(text.find(",\"all_hello.awk\","), std::string::npos) << text;
  EXPECT_NE(text.find(",stdout,\"hello from awk: role=WORKER worker 0 of 1\"\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find(",event,\"exited with code 0\"\n"), std::string::npos) << text;

  // And `plughost modules` of the installed binary shows where each came from.
  const auto listing = dir.path() / "modules.out";
  run_command({installed, "modules", "--module-path", modules.string()}, env, listing);
  const auto shown = read_file(listing);
  EXPECT_NE(shown.find((modules / "plughost-runner-awk.so").string() + "  claims .awk"),
            std::string::npos)
      << shown;
  EXPECT_NE(
      shown.find((prefix / "lib" / "plughost" / "modules" / "plughost-sink-file.so").string()),
      std::string::npos)
      << shown;
}

}  // namespace
}  // namespace plughost::test
