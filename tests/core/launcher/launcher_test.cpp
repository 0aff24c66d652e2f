// The embeddable C++ API: a launcher built from options, run on one thread, stopped from another.
#include "plughost/launcher.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <thread>

#include "launcher_options.hpp"
#include "plughost/error.hpp"
#include "test_support.hpp"

namespace plughost {
namespace {

using test::temp_dir;
namespace fs = std::filesystem;

using test::options_for;

TEST(launcher_api, plan_is_available_before_anything_runs) {
  temp_dir dir;
  dir.write("plugins/worker_1_x.sh", "echo\n", fs::perms(0755));
  auto o = options_for(dir);
  o.role = "WORKER";
  const launcher l(o);
  ASSERT_EQ(l.plan().plugins.size(), 1u);
  EXPECT_EQ(l.plan().plugins[0].decision, decision::skip);
  EXPECT_EQ(l.plan().plugins[0].reason, "only for worker 1");
  EXPECT_EQ(l.plan().identity.role, "WORKER");
  const auto j = nlohmann::json::parse(to_json(l.plan()));
  EXPECT_EQ(j["plugins"][0]["decision"], "skip");
}

TEST(launcher_api, stop_from_another_thread_ends_run) {
  temp_dir dir;
  dir.write("plugins/loop.sh", "echo ready\nwhile :; do sleep 0.1; done\n", fs::perms(0755));
  launcher l(options_for(dir));
  int code = -1;
  std::thread runner([&] { code = l.run(); });
  const bool ready = test::eventually([&] {
    for (const auto& r : test::read_jsonl(dir.path() / "records.jsonl")) {
      if (r.value("line", "") == "ready") return true;
    }
    return false;
  });
  l.stop();
  runner.join();
  ASSERT_TRUE(ready);
  EXPECT_EQ(code, 0);
  const auto records = test::read_jsonl(dir.path() / "records.jsonl");
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records.back()["event"], "exited");
  EXPECT_EQ(records.back()["signal"], "SIGTERM");
  EXPECT_TRUE(test::processes_with_marker(dir.marker()).empty());
}

TEST(launcher_api, reload_from_another_thread_starts_a_new_plugin) {
  temp_dir dir;
  dir.write("plugins/first.sh", "echo ready\nexec sleep 300\n", fs::perms(0755));
  launcher l(options_for(dir));
  int code = -1;
  std::thread runner([&] { code = l.run(); });
  const auto seen = [&](const std::string& plugin, const std::string& line) {
    return test::eventually([&] {
      for (const auto& r : test::read_jsonl(dir.path() / "records.jsonl")) {
        if (r["plugin"] == plugin && r.value("line", "") == line) return true;
      }
      return false;
    });
  };
  const bool first = seen("first.sh", "ready");
  dir.write("plugins/second.sh", "echo second\nexec sleep 300\n", fs::perms(0755));
  l.reload();
  const bool second = seen("second.sh", "second");
  l.stop();
  runner.join();
  EXPECT_TRUE(first);
  EXPECT_TRUE(second);
  EXPECT_EQ(code, 0);
  EXPECT_TRUE(test::processes_with_marker(dir.marker()).empty());
}

// plan() from another thread while reloads replace the plan (on the supervisor's planner
// thread): each call a whole copy. ThreadSanitizer reports a data race when plan() hands out the
// launcher's own, which a reload assigns while the other thread reads it.
TEST(launcher_api, plan_can_be_read_from_another_thread_while_reloads_replace_it) {
  temp_dir dir;
  dir.write("plugins/p0.sh", "exec sleep 300\n", fs::perms(0755));
  launcher l(options_for(dir));
  l.start();
  // reload() before the loop runs does nothing.
  ASSERT_TRUE(test::eventually([&] { return l.status().phase == launcher_phase::running; }));
  std::atomic<bool> done{false};
  std::size_t most = 0;
  bool whole = true;
  std::thread reader([&] {
    for (bool last = false; !last;) {  // once more after `done`: the last plan too
      last = done;
      const auto plan = l.plan();
      most = std::max(most, plan.plugins.size());
      for (const auto& p : plan.plugins) whole = whole && p.decision == decision::run;
    }
  });
  constexpr std::size_t plugins = 8;
  bool reloaded = true;
  for (std::size_t i = 1; i < plugins; ++i) {
    dir.write("plugins/p" + std::to_string(i) + ".sh", "exec sleep 300\n", fs::perms(0755));
    l.reload();
    reloaded = reloaded && test::eventually([&] { return l.plan().plugins.size() == i + 1; });
  }
  done = true;
  reader.join();
  l.stop();
  EXPECT_EQ(l.wait(), 0);
  EXPECT_TRUE(reloaded);
  EXPECT_TRUE(whole);
  EXPECT_EQ(most, plugins);
}

TEST(launcher_api, stop_before_run_starts_nothing) {
  temp_dir dir;
  dir.write("plugins/touch.sh", "touch \"$0.ran\"\n", fs::perms(0755));
  launcher l(options_for(dir));
  l.stop();
  EXPECT_EQ(l.run(), 0);
  EXPECT_FALSE(fs::exists(dir.path() / "plugins" / "touch.sh.ran"));
}

// As root, a plugin that others could have written is refused: in the plan, at run (an error
// record, exit code 1) and at a reload; the others run. Only plugins selected to run are checked.
TEST(launcher_api, as_root_a_plugin_others_may_write_is_refused_and_the_others_run) {
  if (::geteuid() != 0) GTEST_SKIP() << "the check applies to root only";
  temp_dir dir;
  dir.write("plugins/good.sh", "echo ready\nexec sleep 300\n", fs::perms(0755));
  const auto open = dir.write("plugins/open.sh", "echo open ran\n", fs::perms(0666));
  dir.write("plugins/worker_1_x.sh", "echo\n", fs::perms(0666));
  auto o = options_for(dir);
  o.role = "WORKER";
  launcher l(o);
  const auto refused = "refused: " + open.string() + " is writable by others (mode 0666)";
  std::map<std::string, std::pair<decision, std::string>> plan;
  for (const auto& p : l.plan().plugins) plan[p.name] = {p.decision, p.reason};
  EXPECT_EQ(plan["good.sh"].first, decision::run);
  EXPECT_EQ(plan["open.sh"], std::make_pair(decision::error, refused));
  EXPECT_EQ(plan["worker_1_x.sh"],
            std::make_pair(decision::skip, std::string("only for worker 1")));

  int code = -1;
  std::thread runner([&] { code = l.run(); });
  const auto records = [&] { return test::read_jsonl(dir.path() / "records.jsonl"); };
  const auto seen = [&](const std::string& plugin, const std::string& key,
                        const std::string& value) {
    return test::eventually([&] {
      for (const auto& r : records()) {
        if (r["plugin"] == plugin && r.value(key, "") == value) return true;
      }
      return false;
    });
  };
  const bool ready = seen("good.sh", "line", "ready");
  // A reload sees the same rule: a new file others may write is refused too.
  const auto later = dir.write("plugins/later.sh", "echo later ran\n", fs::perms(0646));
  l.reload();
  const bool later_refused = seen("later.sh", "event", "error");
  l.stop();
  runner.join();
  EXPECT_TRUE(ready);
  EXPECT_TRUE(later_refused);
  EXPECT_EQ(code, 1);
  std::vector<std::string> others;
  for (const auto& r : records()) {
    if (r["plugin"] == "good.sh") continue;
    others.push_back(r["plugin"].get<std::string>() + " " + r.value("event", "") + " " +
                     r.value("message", r.value("line", "")));
  }
  EXPECT_EQ(others,
            (std::vector<std::string>{
                "open.sh error " + refused,
                "worker_1_x.sh skipped ",
                // A reload reports again every plugin that cannot start.
                "later.sh error refused: " + later.string() + " is writable by others (mode 0646)",
                "open.sh error " + refused,
            }));
}

TEST(launcher_api, allow_insecure_permissions_runs_them_with_a_warning) {
  if (::geteuid() != 0) GTEST_SKIP() << "the check applies to root only";
  temp_dir dir;
  dir.write("plugins/open.sh", "echo open ran\n", fs::perms(0666));
  auto o = options_for(dir);
  o.allow_insecure_permissions = true;
  launcher l(o);
  const auto plan = l.plan();
  ASSERT_EQ(plan.plugins.size(), 1u);
  EXPECT_EQ(plan.plugins[0].decision, decision::run);
  EXPECT_EQ(std::count(plan.warnings.begin(), plan.warnings.end(),
                       "--allow-insecure-permissions: plughost runs as root and does not check "
                       "who owns plugins and modules or may write them: whoever can write one "
                       "runs code as root"),
            1);
  EXPECT_EQ(l.run(), 0);
}

TEST(launcher_api, two_launchers_in_one_process_each_deliver_their_own_plugins_lines_intact) {
  // Each launcher runs its own loop on its own thread, with its own plugins, sinks and read
  // buffer: lines read at the same moment by both never mix.
  constexpr int lines = 200'000;
  temp_dir a_dir, b_dir;
  a_dir.write("plugins/a.sh", "seq -f 'A %06g' 1 " + std::to_string(lines) + "\n", fs::perms(0755));
  b_dir.write("plugins/b.sh", "seq -f 'B %06g' 1 " + std::to_string(lines) + "\n", fs::perms(0755));
  launcher a(options_for(a_dir));
  launcher b(options_for(b_dir));
  int a_code = -1, b_code = -1;
  std::thread a_thread([&] { a_code = a.run(); });
  std::thread b_thread([&] { b_code = b.run(); });
  a_thread.join();
  b_thread.join();
  EXPECT_EQ(a_code, 0);
  EXPECT_EQ(b_code, 0);
  for (const auto& [dir, letter] : {std::pair{&a_dir, 'A'}, std::pair{&b_dir, 'B'}}) {
    int n = 0, wrong = 0;
    for (const auto& r : test::read_jsonl(dir->path() / "records.jsonl")) {
      if (r.value("stream", "") != "stdout") continue;
      char want[16];
      std::snprintf(want, sizeof want, "%c %06d", letter, ++n);
      if (r.value("line", "") != want && wrong++ < 3) {
        ADD_FAILURE() << letter << ": line " << n << " is '" << r.value("line", "") << "'";
      }
    }
    EXPECT_EQ(n, lines) << letter;
    EXPECT_EQ(wrong, 0) << letter;
  }
}

TEST(launcher_api, bad_options_throw_before_anything_starts) {
  temp_dir dir;
  auto o = options_for(dir);
  o.worker_count = 0;
  EXPECT_THROW(launcher{o}, usage_error);
  o = options_for(dir);
  o.config_file = dir.path() / "missing.yaml";
  o.locations.clear();
  EXPECT_THROW(launcher{o}, config_error);
}

TEST(launcher_api, an_environment_variable_longer_than_exec_accepts_is_a_configuration_error) {
  // Linux refuses to start a program with one string over 128 KiB (MAX_ARG_STRLEN): every
  // plugin failed alone with a bare "Argument list too long". Said once, before anything starts.
  temp_dir dir;
  dir.write("plugins/a.sh", "echo never > \"$0.ran\"\n", fs::perms(0755));
  dir.write("plugins/b.sh", "echo never > \"$0.ran\"\n", fs::perms(0755));
  auto o = options_for(dir);
  o.environment->push_back("BIG=" + std::string(140000, 'x'));
  launcher l(o);
  try {
    l.run();
    ADD_FAILURE() << "it ran";
  } catch (const config_error& e) {
    EXPECT_EQ(std::string(e.what()),
              "plugin environment: plugin a.sh cannot be started: its environment variable BIG "
              "is 140005 bytes with its name, more than Linux accepts for one variable (131072 "
              "bytes, MAX_ARG_STRLEN) (and 1 other plugin)");
  }
  EXPECT_FALSE(fs::exists(dir.path() / "plugins/a.sh.ran"));
  EXPECT_FALSE(fs::exists(dir.path() / "plugins/b.sh.ran"));
}

}  // namespace
}  // namespace plughost
