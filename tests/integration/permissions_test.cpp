// As root, the real binary refuses plugins and modules that a user other than root owns or that
// others could write (or a folder holding them within their location or module folder, or on
// the path to it from /), says why in `list`, `modules` and an `error` record, and runs
// everything else; the opt-out runs them with a warning. Sinks refuse a log folder on such a
// path, a log file another user planted, and (as any user) a link planted in a folder others
// write. Only folders inside the test's own temporary folder are ever changed, and the checkout
// and /tmp are root's on the test machines.
#include <fcntl.h>
#include <sys/wait.h>
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

TEST_F(permissions, a_file_location_is_checked_with_its_own_folder_and_the_path_above) {
  const auto loose = dir.write("loose/x.sh", "echo x\n", fs::perms(0755));
  fs::permissions(dir.path() / "loose", fs::perms(0777));
  const auto kept = dir.write("shared/kept/y.sh", "echo y\n", fs::perms(0755));
  // Above the location, sticky as /tmp: others may add to it, not move kept/ away.
  fs::permissions(dir.path() / "shared", fs::perms(01777));
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

TEST_F(permissions,
       a_location_under_a_folder_another_user_owns_is_refused_even_swapped_for_root_files) {
  // The attack: `nobody` owns a folder above a location of root's, and swaps the location for a
  // link to a tree of root's files (/usr/share/doc in the attack): each of them would run.
  const auto home = dir.path() / "home";
  const auto location = home / "plugins";
  dir.write("home/plugins/mine.sh", "touch \"$0.ran\"\n", fs::perms(0755));
  ASSERT_EQ(::chown(home.c_str(), 65534, 65534), 0);
  const auto refusal = [&](const std::string& name) {
    return "refused: " + home.string() + " is on the path to " + (location / name).string() +
           " and is owned by uid 65534 (nobody), not root (mode 0755): whoever owns it can put "
           "anything in the place of what lies below it; chown root " +
           home.string() + ", or move " + (location / name).string() + " elsewhere";
  };
  auto r = run({"run", "--location", location.string()});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  auto events = events_of(records_of("mine.sh"));
  ASSERT_EQ(events.size(), 1u) << json(events).dump();
  EXPECT_EQ(events[0]["message"], refusal("mine.sh"));
  EXPECT_FALSE(fs::exists(location / "mine.sh.ran"));

  fs::rename(location, home / "old");
  const auto roots = dir.write("roots/all_root.sh", "touch \"$0.ran\"\n", fs::perms(0755));
  fs::create_symlink(roots.parent_path(), location);
  fs::remove(records_file);
  r = run({"run", "--location", location.string()});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  events = events_of(records_of("all_root.sh"));
  ASSERT_EQ(events.size(), 1u) << json(events).dump();
  EXPECT_EQ(events[0]["message"], refusal("all_root.sh"));
  EXPECT_FALSE(fs::exists(roots.string() + ".ran")) << "a script of root's ran";
  const auto listed = run({"list", "--location", location.string()});
  EXPECT_NE(listed.out.find(refusal("all_root.sh")), std::string::npos) << listed.out;
}

TEST_F(permissions, a_log_file_another_user_planted_is_refused_before_anything_runs) {
  fs::permissions(dir.path(), fs::perms(0755));
  const auto shared = dir.path() / "shared";
  fs::create_directories(shared);
  fs::permissions(shared, fs::perms(01777));  // as /tmp, which the check allows for a log folder
  const auto planted = shared / "records.jsonl";
  ASSERT_TRUE(create_as_nobody(planted, 0666)) << "could not create it as nobody";
  plugin("a.sh", "touch \"$0.ran\"\n");
  const auto r = run({"run", "--sink", "jsonl:" + planted.string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err, "plughost: error: sink jsonl (" + planted.string() + "): refused: log file " +
                       planted.string() +
                       " is owned by uid 65534 (nobody), not by root: its owner could read every "
                       "record; remove it or chown it to root\n");
  EXPECT_FALSE(fs::exists(plugins / "a.sh.ran"));
  EXPECT_EQ(fs::file_size(planted), 0u);
}

// A link planted in a folder others write, for any user: named as a link, the sink by its name
// and path.
using planted_links = plughost_run;

TEST_F(planted_links, a_link_in_a_folder_others_write_is_refused_in_words) {
  const auto shared = dir.path() / "shared";
  fs::create_directories(shared);
  fs::permissions(shared, fs::perms(01777));
  const auto target = dir.write("precious", "keep\n");
  fs::create_symlink(target, shared / "x.log");
  fs::create_symlink(target, shared / "x.jsonl");
  plugin("a.sh", "touch \"$0.ran\"\n");
  const std::string link_words =
      " is a symbolic link in a folder others can write; refusing to follow it\n";
  const auto log = (shared / "x.log").string();
  auto r = run({"run", "--sink", "file:" + log});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err, "plughost: error: sink file (" + log + "): " + log + link_words);
  const auto config =
      dir.write("c.yaml", "plughost:\n  sinks:\n    - {type: jsonl, name: main, path: " +
                              (shared / "x.jsonl").string() + "}\n");
  r = run({"run", "--location", plugins.string(), "--config", config.string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err, "plughost: error: sink main (jsonl (" + (shared / "x.jsonl").string() +
                       ")): " + (shared / "x.jsonl").string() + link_words);
  EXPECT_FALSE(fs::exists(plugins / "a.sh.ran"));
  EXPECT_EQ(read_file(target), "keep\n");
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

TEST_F(module_permissions, a_module_folder_under_a_folder_another_user_owns_is_refused) {
  // mods/ is root's, the folder holding it nobody's: nobody could put any folder in its place.
  ASSERT_EQ(::chown(dir.path().c_str(), 65534, 65534), 0);
  const auto e = entry();
  EXPECT_EQ(e["status"], "failed");
  EXPECT_EQ(e["reason"], "refused: " + dir.path().string() + " is on the path to " +
                             module.string() +
                             " and is owned by uid 65534 (nobody), not root (mode 0700): whoever "
                             "owns it can put anything in the place of what lies below it; chown "
                             "root " +
                             dir.path().string() + ", or move " + module.string() + " elsewhere");
  EXPECT_FALSE(fs::exists(mark)) << "the library was opened";
  ASSERT_EQ(::chown(dir.path().c_str(), 0, 0), 0);
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
