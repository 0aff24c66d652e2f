// The embedding examples (docs/examples/embedding/), built and run as a user would: against
// plughost installed into a fresh prefix, the C host with pkg-config only, the C++ and C hosts
// through find_package(plughost), the Python host with ctypes only. Each receives its plugin's
// lines through its callback, shows a status, stops the plugin and exits 0.
#include <sys/wait.h>

#include "integration.hpp"
#include "plughost/launcher.hpp"

namespace plughost::test {
namespace {

class embedding : public plughost_run {
 protected:
  // Runs a command (argv) to completion, its output in `out` and `err`; returns its exit code.
  int run_command(const std::vector<std::string>& argv, const std::vector<std::string>& environment,
                  const fs::path& out, const fs::path& err) {
    child_process p({argv, environment, out, err, {}, {}});
    const auto status = p.wait_for(std::chrono::minutes(5));
    return status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
  }
  int run_command(const std::vector<std::string>& argv,
                  const std::vector<std::string>& environment) {
    return run_command(argv, environment, log, log);
  }

  void SetUp() override {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    // The installed libplughost is instrumented; cc's programs and python3 are not, and a
    // program that is not cannot load a library that is.
    GTEST_SKIP() << "the hosts are built without the sanitizer this build uses";
#endif
    plughost_run::SetUp();
  }

  // plughost installed into <dir>/prefix, as `cmake --install` lays it out.
  void install() {
    const auto build = folder_from_environment("PLUGHOST_BUILD_DIR");
    ASSERT_EQ(run_command({"/usr/bin/env", "cmake", "--install", build.string(), "--prefix",
                           prefix.string()},
                          env),
              0)
        << read_file(log);
    ASSERT_TRUE(fs::exists(prefix / "lib" / "libplughost.so.1"));
    ASSERT_TRUE(fs::exists(prefix / "include" / "plughost" / "plughost.h"));
  }

  // A host run on the example plugins: what it printed, checked.
  void expect_a_clean_run(const std::vector<std::string>& argv, bool events_as_json) {
    const auto out = dir.path() / "host.out";
    const auto err = dir.path() / "host.err";
    auto host_env = env;
    host_env.push_back("LD_LIBRARY_PATH=" + (prefix / "lib").string());
    const int code = run_command(argv, host_env, out, err);
    const auto text = read_file(out);
    EXPECT_EQ(code, 0) << text << read_file(err);
    EXPECT_EQ(text.rfind("plughost " + std::string(plughost::version()) + "\n", 0), 0u) << text;
    EXPECT_NE(text.find("record all_heartbeat.sh stdout hello from all_heartbeat.sh (role "
                        "WORKER)\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("status {\"phase\":\"running\",\"taken\":\""), std::string::npos) << text;
    EXPECT_NE(text.find("\"plugins\":[{\"name\":\"all_heartbeat.sh\",\"state\":\"running\","
                        "\"pid\":"),
              std::string::npos)
        << text;
    // The plugin was stopped by the host, and said so before it exited.
    EXPECT_NE(text.find("record all_heartbeat.sh stdout stopping\n"), std::string::npos) << text;
    EXPECT_NE(text.find(events_as_json ? "record all_heartbeat.sh event "
                                         "{\"event\":\"exited\",\"exit_code\":0}\n"
                                       : "record all_heartbeat.sh event exited\n"),
              std::string::npos)
        << text;
    EXPECT_TRUE(text.ends_with("exit code 0\n")) << text;
    EXPECT_EQ(read_file(err), "");
    EXPECT_TRUE(processes_with_marker(dir.marker()).empty());
  }

  fs::path source = folder_from_environment("PLUGHOST_SOURCE_DIR");
  fs::path examples = source / "docs" / "examples" / "embedding";
  fs::path prefix = dir.path() / "prefix";
  fs::path log = dir.path() / "build.log";
};

TEST_F(embedding, the_c_host_builds_with_pkg_config_alone_and_receives_its_plugins_records) {
  install();
  const auto host = dir.path() / "host-c";
  // The flags pkg-config gives, and nothing else (but warnings, and strict C).
  const auto flags_file = dir.path() / "flags";
  auto pc_env = env;
  pc_env.push_back("PKG_CONFIG_PATH=" + (prefix / "lib" / "pkgconfig").string());
  ASSERT_EQ(run_command({"/usr/bin/env", "pkg-config", "--cflags", "--libs", "plughost"}, pc_env,
                        flags_file, log),
            0)
      << read_file(log);
  std::vector<std::string> compile = {
      "/usr/bin/env", "cc",         "-std=c11", "-Wall",
      "-Wextra",      "-Wpedantic", "-Werror",  (examples / "host.c").string(),
      "-o",           host.string()};
  std::istringstream flags(read_file(flags_file));
  for (std::string f; flags >> f;) compile.push_back(f);
  compile.push_back("-lpthread");
  ASSERT_EQ(run_command(compile, env), 0) << read_file(log);
  expect_a_clean_run({host.string(), (examples / "plugins").string()}, /*events_as_json=*/true);
}

TEST_F(embedding, the_cpp_and_c_hosts_build_with_find_package) {
  install();
  const auto out = dir.path() / "build";
  ASSERT_EQ(run_command({"/usr/bin/env", "cmake", "-S", examples.string(), "-B", out.string(),
                         "-DCMAKE_PREFIX_PATH=" + prefix.string(), "-DCMAKE_BUILD_TYPE=Release"},
                        env),
            0)
      << read_file(log);
  ASSERT_EQ(run_command({"/usr/bin/env", "cmake", "--build", out.string()}, env), 0)
      << read_file(log);
  // The target brings no -rdynamic, whole-archive or definitions of plughost's.
  const auto link = read_file(out / "CMakeFiles" / "host-cpp.dir" / "link.txt");
  EXPECT_EQ(link.find("rdynamic"), std::string::npos) << link;
  EXPECT_EQ(link.find("whole-archive"), std::string::npos) << link;
  const auto flags = read_file(out / "CMakeFiles" / "host-cpp.dir" / "flags.make");
  EXPECT_NE(flags.find("CXX_DEFINES = \n"), std::string::npos) << flags;
  expect_a_clean_run({(out / "host-cpp").string(), (examples / "plugins").string()},
                     /*events_as_json=*/false);
  expect_a_clean_run({(out / "host-c").string(), (examples / "plugins").string()},
                     /*events_as_json=*/true);
}

TEST_F(embedding, the_python_host_runs_with_ctypes_alone) {
  install();
  expect_a_clean_run(
      {"/usr/bin/python3", "-I", (examples / "host.py").string(), (examples / "plugins").string(),
       (prefix / "lib" / "libplughost.so.1").string()},
      /*events_as_json=*/true);
}

TEST_F(embedding, the_python_host_gets_modules_loaded_after_ctypes_opened_the_library_locally) {
  // ctypes opens libplughost RTLD_LOCAL: a .so module (here the file sink) must still find the
  // module API in it.
  install();
  dir.write("config.yaml", "plughost:\n  sinks:\n    - type: file\n      path: " +
                               (dir.path() / "plugins.log").string() + "\n");
  env.push_back("LMCACHE_CONFIG_FILE=" + (dir.path() / "config.yaml").string());
  expect_a_clean_run(
      {"/usr/bin/python3", "-I", (examples / "host.py").string(), (examples / "plugins").string(),
       (prefix / "lib" / "libplughost.so.1").string()},
      /*events_as_json=*/true);
  const auto logged = read_file(dir.path() / "plugins.log");
  EXPECT_NE(logged.find("hello from all_heartbeat.sh"), std::string::npos) << logged;
}

TEST_F(embedding, libplughost_exports_plughost_and_nothing_else) {
  const auto build = folder_from_environment("PLUGHOST_BUILD_DIR");
  const auto listing = dir.path() / "nm.out";
  ASSERT_EQ(run_command({"/usr/bin/env", "nm", "-D", "-C", "--defined-only",
                         (build / "lib" / "libplughost.so.1").string()},
                        env, listing, log),
            0)
      << read_file(log);
  std::istringstream lines(read_file(listing));
  int plughost = 0;
  std::vector<std::string> others;
  for (std::string line; std::getline(lines, line);) {
    // "<address> <type> <name>"
    const auto name = line.substr(std::min(line.size(), line.find(' ', line.find(' ') + 1) + 1));
    if (name.starts_with("plughost::") || name.starts_with("plughost_") ||
        name.starts_with("typeinfo for plughost::") ||
        name.starts_with("typeinfo name for plughost::") ||
        name.starts_with("vtable for plughost::")) {
      ++plughost;
    } else {
      others.push_back(line);
    }
  }
  EXPECT_GT(plughost, 50);  // the C and C++ APIs are there
  EXPECT_TRUE(others.empty()) << others.size() << " others, e.g. " << others.front();
  // And the C API in particular.
  const auto text = read_file(listing);
  for (const auto* f : {"plughost_launcher_new", "plughost_last_error", "plughost_version"}) {
    EXPECT_NE(text.find(std::string(" T ") + f + "\n"), std::string::npos) << f;
  }
}

}  // namespace
}  // namespace plughost::test
