// The embeddable C++ API: a launcher built from options, run on one thread, stopped from another.
#include "plughost/launcher.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "plughost/error.hpp"
#include "test_support.hpp"

namespace plughost {
namespace {

using test::temp_dir;
namespace fs = std::filesystem;

launch_options options_for(const temp_dir& dir) {
  launch_options o;
  o.locations = {dir.path() / "plugins"};
  o.sinks = {"jsonl:" + (dir.path() / "records.jsonl").string()};
  o.stop_timeout = "2s";
  o.environment = test::clean_environment({dir.marker()});
  return o;
}

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

TEST(launcher_api, stop_before_run_starts_nothing) {
  temp_dir dir;
  dir.write("plugins/touch.sh", "touch \"$0.ran\"\n", fs::perms(0755));
  launcher l(options_for(dir));
  l.stop();
  EXPECT_EQ(l.run(), 0);
  EXPECT_FALSE(fs::exists(dir.path() / "plugins" / "touch.sh.ran"));
}

TEST(launcher_api, bad_options_throw_before_anything_starts) {
  temp_dir dir;
  auto o = options_for(dir);
  o.worker_count = "two";
  EXPECT_THROW(launcher{o}, usage_error);
  o = options_for(dir);
  o.config_file = dir.path() / "missing.yaml";
  o.locations.clear();
  EXPECT_THROW(launcher{o}, config_error);
}

}  // namespace
}  // namespace plughost
