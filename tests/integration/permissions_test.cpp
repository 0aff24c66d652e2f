// As root, the real binary refuses plugins and modules that a user other than root owns or that
// others could write (or a folder holding them within their location or module folder), says
// why in `list`, `modules` and an `error` record, and runs everything else; the opt-out runs
// them with a warning. Only folders inside the test's own temporary folder are ever changed or
// checked, so where the checkout lives does not matter.
#include <unistd.h>

#include <algorithm>

#include "integration.hpp"

namespace plughost::test {
namespace {

constexpr std::string_view opt_out_warning =
    ": plughost runs as root and does not check who owns plugins and modules or may write them: "
    "whoever can write one runs code as root";

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

class permissions : public plughost_run {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "the checks apply to root only";
  }

  // good.sh beside a plugin others may write, one owned by another user, one in a folder
  // others may write, and a second location its group may write.
  void write_plugins() {
    plugin("good.sh", "echo hello\n");
    world = dir.write("plugins/world.sh", "echo world ran\n", fs::perms(0666));
    theirs = plugin("theirs.sh", "echo theirs ran\n");
    ASSERT_EQ(::chown(theirs.c_str(), 65534, 65534), 0);
    inner = plugin("open/inner.sh", "echo inner ran\n");
    fs::permissions(plugins / "open", fs::perms(0777));
    grouped = dir.write("group/grouped.sh", "echo grouped ran\n", fs::perms(0755));
    fs::permissions(dir.path() / "group", fs::perms(0775));
  }

  // What each refused plugin's error record says.
  std::map<std::string, std::string> refusals() const {
    return {
        {"world.sh", "refused: " + world.string() + " is writable by others (mode 0666)"},
        {"theirs.sh", "refused: " + theirs.string() + " is owned by uid 65534, not root"},
        {"open/inner.sh",
         "refused: " + (plugins / "open").string() + " is writable by others (mode 0777)"},
        {"grouped.sh",
         "refused: " + (dir.path() / "group").string() + " is writable by its group (mode 0775)"},
    };
  }

  std::vector<std::string> two_locations() const {
    return {"--location", plugins.string(), "--location", (dir.path() / "group").string()};
  }

  fs::path world, theirs, inner, grouped;
};

TEST_F(permissions, refused_plugins_are_error_records_and_the_others_run) {
  write_plugins();
  auto args = two_locations();
  args.insert(args.begin(), "run");
  const auto r = run(args);
  EXPECT_EQ(r.exit_code, 1) << r.err;  // a plugin could not start
  EXPECT_EQ(lines_of("good.sh", "stdout"), std::vector<std::string>{"hello"});
  for (const auto& [name, message] : refusals()) {
    const auto events = events_of(records_of(name));
    ASSERT_EQ(events.size(), 1u) << name << ": " << json(events).dump();
    EXPECT_EQ(events[0]["event"], "error") << name;
    EXPECT_EQ(events[0]["message"], message) << name;
    EXPECT_TRUE(lines_of(name, "stdout").empty()) << name;
    EXPECT_NE(r.err.find("plughost: error: plugin " + name + ": " + message + "\n"),
              std::string::npos)
        << r.err;
  }
}

TEST_F(permissions, list_shows_each_refused_plugin_with_the_reason) {
  write_plugins();
  auto args = two_locations();
  args.insert(args.begin(), {"list", "--json"});
  const auto r = run(args);
  ASSERT_EQ(r.exit_code, 1) << r.err;  // some cannot run
  std::map<std::string, std::string> refused;
  const auto listed = json::parse(r.out);
  for (const auto& p : listed["plugins"]) {
    const auto name = p["name"].get<std::string>();
    if (name == "good.sh") {
      EXPECT_EQ(p["decision"], "run");
      continue;
    }
    EXPECT_EQ(p["decision"], "error") << name;
    EXPECT_EQ(p["argv"], json::array()) << name;
    refused[name] = p["reason"].get<std::string>();
  }
  EXPECT_EQ(refused, refusals());

  const auto text = run({"list", "--location", plugins.string()});
  EXPECT_NE(text.out.find("error   world.sh       " + refusals()["world.sh"] + "\n"),
            std::string::npos)
      << text.out;
}

TEST_F(permissions, a_file_location_is_checked_with_its_own_folder_and_nothing_above) {
  const auto loose = dir.write("loose/x.sh", "echo x\n", fs::perms(0755));
  fs::permissions(dir.path() / "loose", fs::perms(0777));
  const auto kept = dir.write("shared/kept/y.sh", "echo y\n", fs::perms(0755));
  fs::permissions(dir.path() / "shared", fs::perms(0777));  // above the location: not checked
  fs::permissions(dir.path() / "shared" / "kept", fs::perms(0755));
  const auto r = run({"run", "--location", loose.string(), "--location", kept.string()});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(lines_of("y.sh", "stdout"), std::vector<std::string>{"y"});
  const auto events = events_of(records_of("x.sh"));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["message"],
            "refused: " + (dir.path() / "loose").string() + " is writable by others (mode 0777)");
}

TEST_F(permissions, the_opt_out_runs_them_all_with_one_warning_at_start) {
  write_plugins();
  auto args = two_locations();
  args.insert(args.begin(), {"run", "--allow-insecure-permissions"});
  auto r = run(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  for (const auto* name : {"world.sh", "theirs.sh", "open/inner.sh", "grouped.sh"}) {
    const auto base = fs::path(name).stem().string();
    EXPECT_EQ(lines_of(name, "stdout"), std::vector<std::string>{base + " ran"}) << name;
  }
  EXPECT_EQ(count_of(r.err, "plughost: warning: --allow-insecure-permissions" +
                                std::string(opt_out_warning) + "\n"),
            1u)
      << r.err;
  EXPECT_EQ(r.err.find("refused"), std::string::npos) << r.err;

  // The same from the settings file (where LMCache's drop-in users put plughost's keys).
  fs::remove(records_file);
  const auto settings = dir.write("s.yaml", "plughost:\n  allow_insecure_permissions: true\n");
  args[1] = "--settings";
  args.insert(args.begin() + 2, settings.string());
  r = run(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lines_of("world.sh", "stdout"), std::vector<std::string>{"world ran"});
  EXPECT_EQ(count_of(r.err, "plughost: warning: " + settings.string() +
                                ":2:3: plughost.allow_insecure_permissions" +
                                std::string(opt_out_warning) + "\n"),
            1u)
      << r.err;
}

class module_permissions : public permissions {
 protected:
  void SetUp() override {
    permissions::SetUp();
    if (IsSkipped()) return;
    fs::create_directories(mods);
    fs::permissions(mods, fs::perms(0755));
    fs::copy_file(folder_from_environment("PLUGHOST_TEST_MODULES") / "load_mark" / "load_mark.so",
                  module);
    fs::permissions(module, fs::perms(0755));
    env.push_back("PLUGHOST_TEST_LOAD_MARK=" + mark.string());
  }

  // The `plughost modules --json` entry of the module, and whether its code was loaded.
  json entry(std::vector<std::string> args = {}) {
    fs::remove(mark);
    args.insert(args.begin(), {"modules", "--json", "--module-path", mods.string()});
    const auto r = run(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    err = r.err;
    const auto report = json::parse(r.out);
    for (const auto& m : report["modules"]) {
      if (m["source"] == module.string()) return m;
    }
    return nullptr;
  }

  fs::path mods = dir.path() / "mods";
  fs::path module = mods / "marked.so";
  fs::path mark = dir.path() / "loaded.mark";
  std::string err;
};

TEST_F(module_permissions, a_module_others_could_have_written_is_refused_before_it_is_loaded) {
  // As it is: loaded (and the mark shows that loading runs its code).
  EXPECT_EQ(entry()["status"], "loaded");
  EXPECT_TRUE(fs::exists(mark));

  fs::permissions(module, fs::perms(0666));
  auto e = entry();
  EXPECT_EQ(e["status"], "failed");
  EXPECT_EQ(e["reason"], "refused: " + module.string() + " is writable by others (mode 0666)");
  EXPECT_FALSE(fs::exists(mark)) << "the library was opened";

  fs::permissions(module, fs::perms(0755));
  ASSERT_EQ(::chown(module.c_str(), 65534, 65534), 0);
  e = entry();
  EXPECT_EQ(e["reason"], "refused: " + module.string() + " is owned by uid 65534, not root");
  EXPECT_FALSE(fs::exists(mark)) << "the library was opened";

  ASSERT_EQ(::chown(module.c_str(), 0, 0), 0);
  fs::permissions(mods, fs::perms(0777));
  e = entry();
  EXPECT_EQ(e["reason"], "refused: " + mods.string() + " is writable by others (mode 0777)");
  EXPECT_FALSE(fs::exists(mark)) << "the library was opened";

  // The table says the same, and run cannot use it.
  const auto table = run({"modules", "--module-path", mods.string()});
  EXPECT_NE(table.out.find("failed   " + module.string() + ": refused: " + mods.string() +
                           " is writable by others (mode 0777)\n"),
            std::string::npos)
      << table.out;
  EXPECT_EQ(table.err, "");  // a row is not said again on standard error
  plugin("hello.sh", "echo hello\n");
  const auto r = run({"run", "--module-path", mods.string(), "--sink",
                      "marked:" + (dir.path() / "out.txt").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("plughost: warning: module " + module.string() +
                       " was not loaded: refused: " + mods.string() +
                       " is writable by others (mode 0777)\n"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("unknown sink 'marked'"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(mark)) << "the library was opened";
}

TEST_F(module_permissions, the_opt_out_loads_it_with_one_warning) {
  fs::permissions(module, fs::perms(0666));
  EXPECT_EQ(entry({"--allow-insecure-permissions"})["status"], "loaded");
  EXPECT_TRUE(fs::exists(mark));
  EXPECT_EQ(count_of(err, "plughost: warning: --allow-insecure-permissions" +
                              std::string(opt_out_warning) + "\n"),
            1u)
      << err;
}

}  // namespace
}  // namespace plughost::test
