// Module loading through the real binary: good, wrong-ABI, entry-less, unresolved, garbage and
// foreign-architecture .so files; search order and shadowing; lifetime; failing factories.
#include <signal.h>
#include <sys/stat.h>

#include <fstream>

#include "integration.hpp"

namespace plughost::test {
namespace {

class modules : public plughost_run {
 protected:
  fs::path test_modules = folder_from_environment("PLUGHOST_TEST_MODULES");

  json report(std::vector<std::string> args) {
    args.insert(args.begin(), {"modules", "--json"});
    const auto r = run(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out);
  }

  // The entries of a report whose source is `source` (or, for failures, contains it).
  static std::vector<json> entries_from(const json& rep, const std::string& source) {
    std::vector<json> out;
    for (const auto& m : rep["modules"]) {
      if (m["source"].get<std::string>().find(source) != std::string::npos) out.push_back(m);
    }
    return out;
  }
};

TEST_F(modules, lists_built_ins_and_the_shipped_modules) {
  const auto rep = report({});
  std::map<std::string, json> by_name;
  for (const auto& m : rep["modules"]) {
    if (m["status"] == "loaded") by_name[m["name"].get<std::string>()] = m;
  }
  for (const auto* builtin : {"python", "bash", "stdout", "jsonl"}) {
    ASSERT_TRUE(by_name.count(builtin)) << builtin;
    EXPECT_EQ(by_name[builtin]["source"], "built-in");
    EXPECT_EQ(by_name[builtin]["abi_version"], 2);
  }
  for (const auto* shipped : {"node", "perl", "file", "syslog"}) {
    ASSERT_TRUE(by_name.count(shipped)) << shipped;
    EXPECT_NE(by_name[shipped]["source"].get<std::string>().find(".so"), std::string::npos);
  }
  EXPECT_EQ(by_name["node"]["kind"], "runner");
  EXPECT_EQ(by_name["node"]["extensions"], json::array({".js", ".mjs", ".cjs"}));
  EXPECT_EQ(by_name["perl"]["extensions"], json::array({".pl"}));
  EXPECT_EQ(by_name["python"]["extensions"], json::array({".py"}));
  EXPECT_EQ(by_name["file"]["kind"], "sink");
  EXPECT_FALSE(by_name["file"].contains("extensions"));
}

TEST_F(modules, broken_modules_are_error_lines_and_never_stop_the_others) {
  const auto broken = dir.path() / "broken";
  fs::create_directories(broken);
  for (const auto& f : fs::directory_iterator(test_modules / "broken")) {
    fs::copy_file(f.path(), broken / f.path().filename());
  }
  dir.write("broken/garbage.so", "this is not a shared object\n");
  // A real module for another machine: the same file with its ELF machine set to AArch64.
  {
    fs::copy_file(test_modules / "first" / "echo_first.so", broken / "foreign.so");
    std::fstream f(broken / "foreign.so", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(18);
    const char aarch64[2] = {static_cast<char>(0xb7), 0};
    f.write(aarch64, 2);
  }

  const auto rep = report({"--module-path", broken.string()});
  const auto reason_for = [&](const std::string& file) {
    const auto e = entries_from(rep, (broken / file).string());
    return e.size() == 1 && e[0]["status"] == "failed" ? e[0]["reason"].get<std::string>()
                                                       : std::string("(not a single failure)");
  };
  EXPECT_EQ(reason_for("wrong_abi.so"),
            "built for module ABI version 999, this plughost has version 2: rebuild it against "
            "this plughost");
  EXPECT_EQ(reason_for("no_entry.so"),
            "no plughost module in it: the section 'plughost' with a plughost_module_<id> entry "
            "(PLUGHOST_MODULE) is missing");
  EXPECT_NE(reason_for("unresolved.so").find("cannot be loaded: "), std::string::npos);
  EXPECT_NE(reason_for("unresolved.so").find("plughost_test_symbol_that_does_not_exist"),
            std::string::npos);
  EXPECT_EQ(reason_for("garbage.so"), "not a shared object (no ELF header)");
#if defined(__x86_64__) && defined(__LP64__)
  EXPECT_EQ(reason_for("foreign.so"), "built for aarch64, this plughost is x86-64");
#endif

  // And a run next to them works, with one warning line per broken file.
  plugin("hello.sh", "echo hello\n");
  const auto r = run({"run", "--module-path", broken.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lines_of("hello.sh", "stdout"), std::vector<std::string>{"hello"});
  for (const auto* file :
       {"wrong_abi.so", "no_entry.so", "unresolved.so", "garbage.so", "foreign.so"}) {
    EXPECT_NE(
        r.err.find("plughost: warning: module " + (broken / file).string() + " was not loaded: "),
        std::string::npos)
        << file << "\n"
        << r.err;
  }
}

// Loading a candidate means opening it; a FIFO opened for reading waits for a writer forever.
TEST_F(modules, candidates_that_are_not_regular_files_are_failures_that_block_nothing) {
  const auto mods = dir.path() / "mods";
  fs::create_directories(mods / "folder.so");
  ASSERT_EQ(::mkfifo((mods / "fifo.so").c_str(), 0600), 0);
  fs::create_symlink("loop.so", mods / "loop.so");
  fs::create_symlink("/dev/null", mods / "device.so");
  const std::map<std::string, std::string> expected{
      {"device.so", "not a regular file (a character device)"},
      {"fifo.so", "not a regular file (a FIFO)"},
      {"folder.so", "not a regular file (a folder)"},
      {"loop.so", "a symbolic link loop"}};
  const auto bounded = [&](std::vector<std::string> args) {
    args.insert(args.end(), {"--module-path", mods.string()});
    return run(std::move(args), std::chrono::seconds(20));
  };

  const auto listed = bounded({"modules", "--json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  const auto rep = json::parse(listed.out);
  for (const auto& [file, reason] : expected) {
    const auto e = entries_from(rep, (mods / file).string());
    ASSERT_EQ(e.size(), 1u) << file;
    EXPECT_EQ(e[0]["status"], "failed") << file;
    EXPECT_EQ(e[0]["reason"], reason) << file;
  }

  plugin("hello.sh", "echo hello\n");
  for (const auto* command : {"list", "run"}) {
    const auto r = bounded({command});
    EXPECT_EQ(r.exit_code, 0) << command << ": " << r.err;
    for (const auto& [file, reason] : expected) {
      EXPECT_NE(r.err.find("plughost: warning: module " + (mods / file).string() +
                           " was not loaded: " + reason + "\n"),
                std::string::npos)
          << command << "\n"
          << r.err;
    }
  }
  EXPECT_EQ(lines_of("hello.sh", "stdout"), std::vector<std::string>{"hello"});
}

// Loading a .so runs its code: plughost modules loads each in a child process, so that one that
// crashes or exits while it loads is a failed row, and one that prints cannot corrupt the listing.
TEST_F(modules, a_module_whose_code_crashes_or_exits_is_a_failure_of_the_listing) {
  const auto folder = test_modules / "misbehaving";
  const auto runner_folder = test_modules / "crashing_runner";
  const auto listed = run({"modules", "--json", "--module-path", folder.string(), "--module-path",
                           runner_folder.string()});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  const auto rep = json::parse(listed.out);  // nothing but the report on standard output
  const auto row = [&](const std::string& file) {
    const auto e = entries_from(rep, (folder / file).string());
    return e.size() == 1 ? e[0] : json();
  };
  EXPECT_EQ(row("aborting.so")["status"], "failed");
  EXPECT_EQ(row("aborting.so")["reason"], "crashed while loading (SIGABRT)");
  EXPECT_EQ(row("segfaulting.so")["status"], "failed");
  EXPECT_EQ(row("segfaulting.so")["reason"], "crashed while loading (SIGSEGV)");
  EXPECT_EQ(row("exiting.so")["reason"], "exited with status 3 while loading");
  EXPECT_EQ(entries_from(rep, (runner_folder / "crashing_factory.so").string()).at(0)["reason"],
            "crashed while creating runner crashing with its default settings (SIGSEGV)");
  EXPECT_EQ(row("printing.so")["status"], "loaded");
  EXPECT_EQ(row("printing.so")["name"], "printing");
  // And the rest of the listing is there: the built-ins after them.
  EXPECT_EQ(entries_from(rep, "built-in").size(), 4u);

  const auto human = run({"modules", "--module-path", folder.string()});
  EXPECT_EQ(human.exit_code, 0);
  EXPECT_NE(human.out.find("failed   " + (folder / "segfaulting.so").string() +
                           ": crashed while loading (SIGSEGV)\n"),
            std::string::npos)
      << human.out;
}

// Loading a .so runs its code, so run and list load only the modules the configuration uses:
// the sinks asked for and the runners enabled. A hostile or broken module nobody asked for is
// never loaded; its manifest said what it is.
TEST_F(modules, run_and_list_load_only_the_modules_the_configuration_uses) {
  const auto misbehaving = (test_modules / "misbehaving").string();
  const auto crashing = (test_modules / "crashing_runner").string();
  const auto mark = dir.path() / "loaded.mark";
  env.push_back("PLUGHOST_TEST_LOAD_MARK=" + mark.string());
  plugin("hello.sh", "echo hello\n");
  plugin("helper.js", "console.log('js')\n");

  // Sinks that crash or exit when loaded, and a runner whose factory crashes, not enabled.
  for (const auto* command : {"list", "run"}) {
    const auto r =
        run({command, "--module-path", misbehaving, "--module-path", crashing, "--runner", "bash"});
    EXPECT_EQ(r.exit_code, 0) << command << ": " << r.err;
    EXPECT_FALSE(fs::exists(mark)) << command << " loaded: " << read_file(mark);
  }
  EXPECT_EQ(lines_of("hello.sh", "stdout"), std::vector<std::string>{"hello"});
  const auto listed =
      json::parse(run({"list", "--json", "--module-path", crashing, "--runner", "bash"}).out);
  EXPECT_EQ(listed["runners"][0], json({{"name", "crashing"},
                                        {"extensions", json::array()},
                                        {"enabled", false},
                                        {"loaded", false}}));

  // A runner with settings is loaded to check them, enabled or not.
  const auto config = dir.write("c.yaml",
                                "runtime_plugin_locations: [plugins]\n"
                                "plughost:\n  enabled_runners: [bash]\n"
                                "  runners:\n    node: {interpreter: nodejs}\n");
  const auto configured = json::parse(run({"list", "--json", "--config", config.string()}).out);
  for (const auto& runner : configured["runners"]) {
    EXPECT_EQ(runner["loaded"], runner["name"] != "perl") << runner.dump();
  }
  EXPECT_EQ(configured["plugins"][1]["reason"],
            "runner node claims '.js' files but is not enabled (enabled runners: bash)");

  // With every runner in use, the sinks nobody asked for are still not loaded.
  auto r = run({"run", "--module-path", misbehaving});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(fs::exists(mark)) << read_file(mark);

  // A sink asked for is loaded, and only its file.
  r = run({"run", "--module-path", misbehaving, "--sink", "printing", "--sink",
           "jsonl:" + records_file.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(mark), "printing loaded\n");
}

// A reload reads the configuration again: a runner module found at start and enabled now is
// loaded then, and claims its files.
TEST_F(modules, a_reload_loads_a_runner_the_configuration_now_enables) {
  plugin("long.sh", "echo ready\nexec sleep 300\n");
  plugin("report.pl", "$| = 1;\nprint \"perl ready\\n\";\nsleep 300;\n");
  const auto config_text = [&](const std::string& runners) {
    return "runtime_plugin_locations: [plugins]\nplughost:\n  enabled_runners: [" + runners +
           "]\n  sinks: [\"jsonl:" + records_file.string() + "\"]\n";
  };
  const auto config = dir.write("c.yaml", config_text("bash"));
  auto host = start({"run", "--config", config.string()});
  ASSERT_TRUE(wait_for_line("long.sh", "ready"));
  EXPECT_TRUE(records_of("report.pl").empty());

  dir.write("c.yaml", config_text("bash, perl"));
  host->signal(SIGHUP);
  EXPECT_TRUE(wait_for_line("report.pl", "perl ready"));
  host->signal(SIGTERM);
  ASSERT_TRUE(host->wait_for(std::chrono::seconds(30)));
}

TEST_F(modules, a_shadowed_module_is_never_loaded) {
  const auto mark = dir.path() / "loaded.mark";
  env.push_back("PLUGHOST_TEST_LOAD_MARK=" + mark.string());
  plugin("hello.sh", "echo hello\n");
  const auto a = test_modules / "quiet_a";
  const auto b = test_modules / "quiet_b";
  const auto r = run({"run", "--module-path", a.string(), "--module-path", b.string(), "--sink",
                      "quiet", "--sink", "jsonl:" + records_file.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(mark), "quiet a loaded\n");
  EXPECT_EQ(r.err, "plughost: warning: sink quiet from " + (b / "quiet_b.so").string() +
                       " is shadowed by the one from " + (a / "quiet_a.so").string() + "\n");
}

// Shadowing is decided by what the files say; but a module in use that then fails to load is
// said to, and the next one of its kind and name is used, as when every module was loaded.
TEST_F(modules, a_used_module_that_fails_to_load_gives_way_to_the_next_of_its_name) {
  plugin("hello.sh", "echo hello\n");
  const auto broken = test_modules / "echo_unresolved" / "echo_unresolved.so";
  const auto out = dir.path() / "echo.txt";
  const auto r = run({"run", "--module-path", broken.parent_path().string(), "--module-path",
                      (test_modules / "first").string(), "--sink", "echo:" + out.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(read_file(out).find("hello.sh stdout hello\n"), std::string::npos);
  EXPECT_NE(r.err.find("plughost: warning: module " + broken.string() +
                       " was not loaded: cannot be loaded: "),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("shadowed"), std::string::npos) << r.err;
}

// Modules built against an older plughost have no manifest, and a descriptor that is only const
// leaves the kind and name out of it: such a module is loaded in a child process to learn them,
// and works as any other.
TEST_F(modules, a_module_without_a_full_manifest_still_works) {
  plugin("hello.sh", "echo hello\n");
  const auto legacy = (test_modules / "legacy").string();
  for (const auto* name : {"oldecho", "constecho"}) {
    const auto out = dir.path() / (std::string(name) + ".txt");
    const auto r =
        run({"run", "--module-path", legacy, "--sink", std::string(name) + ":" + out.string()});
    EXPECT_EQ(r.exit_code, 0) << name << ": " << r.err;
    EXPECT_EQ(r.err, "");
    EXPECT_NE(read_file(out).find("hello.sh stdout hello\n"), std::string::npos) << name;
  }
  const auto rep = report({"--module-path", legacy});
  EXPECT_EQ(entries_from(rep, legacy + "/no_manifest.so").at(0)["name"], "oldecho");
  EXPECT_EQ(entries_from(rep, legacy + "/not_constexpr.so").at(0)["name"], "constecho");
}

// What a manifest says is checked against the module when it is loaded, and by plughost modules.
TEST_F(modules, a_manifest_that_names_another_module_is_a_failure) {
  const auto mods = dir.path() / "mods";
  fs::create_directories(mods);
  const auto file = mods / "lying.so";
  fs::copy_file(test_modules / "first" / "echo_first.so", file);
  auto bytes = read_file(file);
  const auto at = bytes.find(std::string("plughost\x02\0\0\0\x01\0\0\0echo", 20));
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at + 16, 4, "ecko");
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;

  const auto e = entries_from(report({"--module-path", mods.string()}), file.string());
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0]["reason"], "its manifest names sink ecko, but it holds sink echo: rebuild it");

  plugin("hello.sh", "echo hello\n");
  const auto r = run({"run", "--module-path", mods.string(), "--sink", "ecko:x"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "plughost: warning: module " + file.string() +
                       " was not loaded: its manifest names sink ecko, which it does not hold: "
                       "rebuild it\n"
                       "plughost: error: --sink: unknown sink 'ecko' (expected one of: file, "
                       "jsonl, stdout, syslog)\n");
}

TEST_F(modules, the_first_folder_in_search_order_wins_and_the_other_is_named) {
  const auto first = (test_modules / "first").string();
  const auto second = (test_modules / "second").string();
  auto rep = report({"--module-path", first, "--module-path", second});
  auto a = entries_from(rep, first);
  auto b = entries_from(rep, second);
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(a[0]["status"], "loaded");
  EXPECT_EQ(a[0]["description"], "first");
  EXPECT_EQ(b[0]["status"], "shadowed");
  EXPECT_EQ(b[0]["reason"], "shadowed by " + first + "/echo_first.so");
  EXPECT_NE(rep["warnings"].dump().find("sink echo from " + second +
                                        "/echo_second.so is shadowed by "
                                        "the one from " +
                                        first + "/echo_first.so"),
            std::string::npos)
      << rep["warnings"].dump();

  // --module-path comes before PLUGHOST_MODULE_PATH, which comes before module_locations.
  env.push_back("PLUGHOST_MODULE_PATH=" + first);
  rep = report({"--module-path", second});
  EXPECT_EQ(entries_from(rep, second)[0]["status"], "loaded");
  EXPECT_EQ(entries_from(rep, first)[0]["status"], "shadowed");
  env.pop_back();
  const auto config = dir.write("c.yaml", "plughost:\n  module_locations: [" + first + "]\n");
  env.push_back("PLUGHOST_MODULE_PATH=" + second);
  rep = report({"--config", config.string()});
  EXPECT_EQ(entries_from(rep, second)[0]["status"], "loaded");
  EXPECT_EQ(entries_from(rep, first)[0]["status"], "shadowed");
  EXPECT_EQ(rep["search_path"][0], second);
  EXPECT_EQ(rep["search_path"][1], first);
}

TEST_F(modules, a_module_stays_loaded_while_its_objects_live) {
  // The echo sink writes "destroyed" from its destructor: that code must still be loaded when
  // the core destroys the sink at the very end of the run.
  plugin("hello.sh", "echo hello\n");
  const auto out = dir.path() / "echo.txt";
  const auto r = run({"run", "--module-path", (test_modules / "first").string(), "--sink",
                      "echo:" + out.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto text = read_file(out);
  EXPECT_NE(text.find("hello.sh stdout hello\n"), std::string::npos) << text;
  EXPECT_TRUE(text.size() >= 10 && text.substr(text.size() - 10) == "destroyed\n") << text;
}

TEST_F(modules, a_failing_factory_names_the_module_and_starts_nothing) {
  plugin("a.sh", "touch \"$0.ran\"\n");
  const auto r = run({"run", "--module-path", (test_modules / "throwing").string(), "--sink",
                      "throwing:" + (dir.path() / "x").string()});
  EXPECT_EQ(r.exit_code, 2);
  // Named as messages name a sink: by its name and path, as in every later message of it.
  EXPECT_EQ(r.err, "plughost: error: sink throwing (" + (dir.path() / "x").string() +
                       "): cannot start: misconfigured on purpose\n");
  EXPECT_FALSE(fs::exists(plugins / "a.sh.ran"));
}

TEST_F(modules, a_sink_that_fails_every_write_is_reported_once_and_the_other_sinks_get_everything) {
  // Reports are rate-limited (one per sink every 10 s): 1,000 failures in a short run are one
  // line on stderr, not 1,000.
  plugin("lines.sh", "i=0; while [ $i -lt 1000 ]; do echo \"line $i\"; i=$((i + 1)); done\n");
  const auto r =
      run({"run", "--module-path", (test_modules / "failing").string(), "--sink",
           "failing:" + (dir.path() / "x").string(), "--sink", "jsonl:" + records_file.string()});
  EXPECT_EQ(r.exit_code, 3) << "records were lost: " << r.err;
  const auto label = "sink failing (" + (dir.path() / "x").string() + ")";
  EXPECT_EQ(r.err, "plughost: error: " + label +
                       " failed in write: no space left, on purpose\n"
                       "plughost: error: " +
                       label + ": 1000 records lost (last error: no space left, on purpose)\n");
  EXPECT_EQ(lines_of("lines.sh", "stdout").size(), 1000u);
  std::int64_t lost = 0;  // reported as events, with no plugin: they are about plughost's sink
  for (const auto& e : events_of(records_of(""))) {
    if (e.value("event", "") == "lost" && e.value("sink", "") == "failing") {
      lost += e.value("records", std::int64_t{0});
    }
  }
  EXPECT_EQ(lost, 1000);
  EXPECT_NE(read_file(dir.path() / "x").find("lines.sh event exited"), std::string::npos)
      << "the failing sink still got what it could write";
}

TEST_F(modules,
       a_sink_that_crashes_in_write_takes_plughost_down_but_leaves_no_plugin_and_no_record_behind) {
  // A segfault in a sink module's write is not survivable in process (docs/reliability.md):
  // what is promised is that the guardian stops every plugin, and that what the other sinks
  // were handed before it is written (each sink writes and flushes when its queue runs empty).
  plugin("lines.sh",
         "sleep 300 &\n"  // a process of the plugin's group that must not outlive plughost
         "i=0; while [ $i -lt 1000 ]; do echo \"line $i\"; i=$((i + 1)); done\n"
         "sleep 1\necho crash\nexec sleep 300\n");
  // In a sanitizer build the sanitizer would catch the segfault and exit 1: let it kill.
  std::erase_if(env, [](const std::string& e) {
    return e.starts_with("ASAN_OPTIONS=") || e.starts_with("TSAN_OPTIONS=");
  });
  env.insert(env.end(), {"ASAN_OPTIONS=handle_segv=0", "TSAN_OPTIONS=handle_segv=0"});
  const auto r = run({"run", "--module-path", (test_modules / "crashing_sink").string(), "--sink",
                      "crashing_sink", "--sink", "jsonl:" + records_file.string()});
  EXPECT_EQ(r.exit_code, -1) << "killed by SIGSEGV: " << r.err;
  const auto lines = lines_of("lines.sh", "stdout");
  ASSERT_GE(lines.size(), 1000u);
  for (int i = 0; i < 1000; ++i)
    EXPECT_EQ(lines[static_cast<std::size_t>(i)], "line " + std::to_string(i));
  EXPECT_TRUE(eventually([&] { return processes_with_marker(dir.marker()).empty(); }))
      << "the guardian stops the plugins of a host that crashed";
}

TEST_F(modules, a_module_built_with_the_old_string_abi_is_refused_with_a_reason_that_says_so) {
  // Loaded, it would fail on a missing symbol (std::string is another type to the linker), or
  // crash where the symbols happen to match: its manifest says how it was built.
  const auto folder = (test_modules / "old_abi").string();
  const auto file = (test_modules / "old_abi" / "old_string_abi.so").string();
  const std::string reason =
      "built against libstdc++ (old ABI, _GLIBCXX_USE_CXX11_ABI=0), this plughost against "
      "libstdc++ (C++11 ABI): std::string and the other standard types it shares with plughost "
      "are laid out differently; rebuild it without -D_GLIBCXX_USE_CXX11_ABI=0";
  const auto rep = report({"--module-path", folder});
  const auto e = entries_from(rep, file);
  ASSERT_EQ(e.size(), 1u) << rep.dump();
  EXPECT_EQ(e[0]["status"], "failed");
  EXPECT_EQ(e[0]["reason"], reason);
  // Asked for by name, it stops the run before anything starts, with the same reason.
  plugin("hello.sh", "echo hello\n");
  const auto r =
      run({"run", "--module-path", folder, "--sink", "oldabi:" + (dir.path() / "x").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(reason), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("undefined symbol"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir.path() / "x"));
}

TEST_F(modules, a_loaded_module_says_how_it_was_built) {
  const auto rep = report({"--module-path", (test_modules / "first").string()});
  const auto e = entries_from(rep, (test_modules / "first" / "echo_first.so").string());
  ASSERT_EQ(e.size(), 1u) << rep.dump();
  const auto built = e[0].value("built_with", "");
  EXPECT_EQ(built.rfind("plughost 0.1.0, ", 0), 0u) << built;
  EXPECT_NE(built.find("libstdc++ (C++11 ABI)"), std::string::npos) << built;
}

TEST_F(modules, the_human_listing_names_failures_with_their_reason) {
  dir.write("mods/garbage.so", "nope");
  const auto r = run({"modules", "--module-path", (dir.path() / "mods").string()});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("failed   " + (dir.path() / "mods" / "garbage.so").string() +
                       ": not a shared object (no ELF header)\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("loaded   runner python"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace plughost::test
