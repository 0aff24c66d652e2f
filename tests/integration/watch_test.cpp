// Watched folders (docs/running.md, "Watched folders"), through the real binary: a file added to
// a watched location runs, one removed stops, a Kubernetes ConfigMap update (an atomic swap of
// its `..data` link over 20 files) is one reload, an editor's save is one, and the scan that
// stands in for inotify finds changes too.
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "integration.hpp"

namespace plughost::test {
namespace {

using namespace std::chrono_literals;

class watch : public plughost_run {
 protected:
  fs::path socket() const { return dir.path() / "ctl.sock"; }
  fs::path plugins() const { return dir.path() / "plugins"; }

  std::unique_ptr<child_process> start_host(const std::string& yaml = "plughost: {}\n",
                                            std::vector<std::string> more = {"--watch"}) {
    const auto settings = dir.write("settings.yaml", yaml);
    std::vector<std::string> args{"run", "--settings", settings.string(), "--socket",
                                  socket().string()};
    args.insert(args.end(), more.begin(), more.end());
    auto host = start(args);
    EXPECT_TRUE(eventually([&] { return fs::exists(socket()); }, 20s));
    return host;
  }

  std::string state_of(const std::string& name) {
    const auto p = plugin_status_at(socket(), name);
    return p.is_object() ? p.value("state", "") : "";
  }

  // How many reloads the watch asked for that changed something, from plughost's stderr.
  std::size_t reloads() const {
    const auto err = read_file(dir.path() / "bg.err");
    std::size_t n = 0;
    for (auto at = err.find("reloaded (watch: "); at != std::string::npos;
         at = err.find("reloaded (watch: ", at + 1)) {
      ++n;
    }
    return n;
  }

  std::size_t count_events(const std::string& plugin, const std::string& name) const {
    std::size_t n = 0;
    for (const auto& r : events_of(records_of(plugin))) n += r["event"] == name;
    return n;
  }

  void stop_host(child_process& host) {
    host.signal(SIGTERM);
    ASSERT_TRUE(host.wait_for(30s));
  }
};

// A file added runs (within a second of its writing), one removed is stopped.
TEST_F(watch, a_file_added_runs_and_a_file_removed_stops) {
  plugin("all_first.sh", "exec sleep 300\n");
  auto host = start_host();
  ASSERT_TRUE(eventually([&] { return state_of("all_first.sh") == "running"; }, 20s));
  const auto written = std::chrono::steady_clock::now();
  plugin("all_new.sh", "exec sleep 300\n");
  ASSERT_TRUE(eventually([&] { return count_events("all_new.sh", "started") == 1; }, 10s))
      << read_file(dir.path() / "bg.err");
  EXPECT_LT(std::chrono::steady_clock::now() - written, 1s) << "watched changes take too long";
  fs::remove(plugins() / "all_first.sh");
  ASSERT_TRUE(eventually([&] { return state_of("all_first.sh") == "retired"; }, 10s))
      << read_file(dir.path() / "bg.err");
  EXPECT_EQ(state_of("all_new.sh"), "running");
  EXPECT_EQ(reloads(), 2u);
  stop_host(*host);
}

// A ConfigMap volume: each file a link into `..data`, itself a link to a hidden folder; the
// update writes a new folder and renames a new `..data` link over the old one: 20 files
// change, one reload, each plugin restarted once.
TEST_F(watch, a_configmap_update_of_20_files_is_one_reload) {
  fs::create_directories(plugins());
  const auto version = [&](const std::string& folder, const std::string& text) {
    fs::create_directories(plugins() / folder);
    for (int i = 0; i < 20; ++i) {
      const auto name = fmt::format("all_p{:02}.sh", i);
      dir.write(fs::path("plugins") / folder / name, "# " + text + "\nexec sleep 300\n",
                fs::perms(0755));
    }
  };
  version("..2026_12_08_00_00_00.1", "one");
  fs::create_directory_symlink("..2026_12_08_00_00_00.1", plugins() / "..data");
  for (int i = 0; i < 20; ++i) {
    const auto name = fmt::format("all_p{:02}.sh", i);
    fs::create_symlink(fs::path("..data") / name, plugins() / name);
  }
  auto host = start_host();
  ASSERT_TRUE(eventually([&] { return state_of("all_p19.sh") == "running"; }, 20s))
      << read_file(dir.path() / "bg.err");
  version("..2026_12_08_00_01_00.2", "two");  // as the kubelet does it
  fs::create_directory_symlink("..2026_12_08_00_01_00.2", plugins() / "..data_tmp");
  fs::rename(plugins() / "..data_tmp", plugins() / "..data");
  fs::remove_all(plugins() / "..2026_12_08_00_00_00.1");
  ASSERT_TRUE(eventually(
      [&] {
        for (int i = 0; i < 20; ++i) {
          if (count_events(fmt::format("all_p{:02}.sh", i), "started") < 2) return false;
        }
        return true;
      },
      20s))
      << read_file(dir.path() / "bg.err");
  std::this_thread::sleep_for(1500ms);  // a second reload would have come by now
  EXPECT_EQ(reloads(), 1u) << read_file(dir.path() / "bg.err");
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(count_events(fmt::format("all_p{:02}.sh", i), "started"), 2u);
  stop_host(*host);
}

// An editor's save: a new file written beside, then renamed over the plugin; and a hidden file
// (its swap file) meanwhile: one reload, the plugin restarted once.
TEST_F(watch, an_editors_save_is_one_reload) {
  plugin("all_edited.sh", "exec sleep 300\n");
  auto host = start_host();
  ASSERT_TRUE(eventually([&] { return state_of("all_edited.sh") == "running"; }, 20s));
  dir.write("plugins/.all_edited.sh.swp", "swap");
  dir.write("plugins/all_edited.sh~", "exec sleep 300\n");
  dir.write("plugins/all_edited.sh.tmp", "# saved\nexec sleep 300\n", fs::perms(0755));
  fs::rename(plugins() / "all_edited.sh.tmp", plugins() / "all_edited.sh");
  fs::remove(plugins() / ".all_edited.sh.swp");
  ASSERT_TRUE(eventually([&] { return count_events("all_edited.sh", "started") == 2; }, 10s))
      << read_file(dir.path() / "bg.err");
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(reloads(), 1u) << read_file(dir.path() / "bg.err");
  EXPECT_EQ(count_events("all_edited.sh", "started"), 2u);
  stop_host(*host);
}

// plughost.watch: scan (where inotify cannot see every change: a network file system) finds a
// new file by looking every second; without watch, nothing is seen.
TEST_F(watch, the_scan_finds_changes_and_without_watch_nothing_happens) {
  plugin("all_first.sh", "exec sleep 300\n");
  auto host = start_host("plughost:\n  watch: scan\n", {});
  ASSERT_TRUE(eventually([&] { return state_of("all_first.sh") == "running"; }, 20s));
  plugin("all_new.sh", "exec sleep 300\n");
  ASSERT_TRUE(eventually([&] { return state_of("all_new.sh") == "running"; }, 10s))
      << read_file(dir.path() / "bg.err");
  stop_host(*host);

  fs::remove(socket());
  auto unwatched = start_host("plughost: {}\n", {});
  ASSERT_TRUE(eventually([&] { return state_of("all_new.sh") == "running"; }, 20s));
  plugin("all_third.sh", "exec sleep 300\n");
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(state_of("all_third.sh"), "");  // not a plugin of this run
  stop_host(*unwatched);
}

// The location replaced: a link switched to another folder (a deploy's `current -> release`),
// then that folder renamed away and a new one made in its place: each time the new one is
// watched, and the old one no longer is.
TEST_F(watch, a_location_replaced_is_watched_anew_and_the_old_one_let_go) {
  fs::create_directories(dir.path() / "v1");
  fs::create_directories(dir.path() / "v2");
  dir.write("v1/all_a.sh", "exec sleep 300\n", fs::perms(0755));
  dir.write("v2/all_b.sh", "exec sleep 300\n", fs::perms(0755));
  const auto link = dir.path() / "current";
  fs::create_directory_symlink("v1", link);
  const auto settings = dir.write("settings.yaml", "plughost: {}\n");
  auto host = start({"run", "--settings", settings.string(), "--socket", socket().string(),
                     "--location", link.string(), "--watch"});
  ASSERT_TRUE(eventually([&] { return state_of("all_a.sh") == "running"; }, 20s));
  fs::create_directory_symlink("v2", dir.path() / "current.tmp");
  fs::rename(dir.path() / "current.tmp", link);
  ASSERT_TRUE(eventually([&] { return state_of("all_b.sh") == "running"; }, 10s))
      << read_file(dir.path() / "bg.err");
  EXPECT_EQ(state_of("all_a.sh"), "retired");
  dir.write("v2/all_c.sh", "exec sleep 300\n", fs::perms(0755));  // in the folder now watched
  ASSERT_TRUE(eventually([&] { return state_of("all_c.sh") == "running"; }, 10s));
  fs::rename(dir.path() / "v2", dir.path() / "v2.old");  // replaced under the link
  fs::create_directories(dir.path() / "v2");
  dir.write("v2/all_b.sh", "exec sleep 300\n", fs::perms(0755));
  ASSERT_TRUE(eventually([&] { return state_of("all_c.sh") == "retired"; }, 10s))
      << read_file(dir.path() / "bg.err");
  const auto reloaded = reloads();
  dir.write("v1/all_old.sh", "exec sleep 300\n", fs::perms(0755));  // folders no longer used
  dir.write("v2.old/all_old.sh", "exec sleep 300\n", fs::perms(0755));
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(reloads(), reloaded);
  EXPECT_EQ(state_of("all_old.sh"), "");
  stop_host(*host);
}

// A file system mounted on a folder of a location (inotify says nothing of it): its plugins run,
// and go when it is unmounted. Needs root (mount).
TEST_F(watch, a_file_system_mounted_in_a_location_is_seen) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting needs root";
  plugin("all_first.sh", "exec sleep 300\n");
  fs::create_directories(plugins() / "m");
  auto host = start_host();
  ASSERT_TRUE(eventually([&] { return state_of("all_first.sh") == "running"; }, 20s));
  const auto mount_point = (plugins() / "m").string();
  ASSERT_EQ(std::system(("mount -t tmpfs -o mode=755 plughost-test " + mount_point).c_str()), 0);
  dir.write("plugins/m/all_mounted.sh", "exec sleep 300\n", fs::perms(0755));
  const bool ran = eventually([&] { return state_of("m/all_mounted.sh") == "running"; }, 10s);
  const int unmounted = std::system(("umount " + mount_point).c_str());
  ASSERT_TRUE(ran) << read_file(dir.path() / "bg.err");
  ASSERT_EQ(unmounted, 0);
  EXPECT_TRUE(eventually([&] { return state_of("m/all_mounted.sh") == "retired"; }, 10s))
      << read_file(dir.path() / "bg.err");
  stop_host(*host);
}

TEST_F(watch, a_bad_watch_value_is_refused_at_its_line) {
  plugin("all_a.sh", "exit 0\n");
  const auto settings = dir.write("bad.yaml", "plughost:\n  watch: always\n");
  const auto r = run({"run", "--settings", settings.string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, fmt::format("plughost: error: {}:2:10: plughost.watch: expected true, false "
                               "or scan (a scan every second instead of inotify), got the "
                               "string \"always\"\n",
                               settings.string()));
}

}  // namespace
}  // namespace plughost::test
