// launch_options' typed values (worker id and count, stop timeout, wait for locations), set
// through the C++ API, reach the identity, the plan and the policies the launcher uses.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "launcher_options.hpp"
#include "plughost/error.hpp"
#include "plughost/launcher.hpp"
#include "test_support.hpp"

namespace plughost {
namespace {

using namespace std::chrono_literals;
using test::options_for;
using test::temp_dir;
namespace fs = std::filesystem;

TEST(launcher_api, typed_worker_id_and_count_are_the_identity_over_the_environment) {
  temp_dir dir;
  dir.write("plugins/worker_1_x.sh", "exit 0\n", fs::perms(0755));
  auto o = options_for(dir);
  // The environment says worker 0 of 1: the options win, as --worker-id and --worker-count do.
  o.environment->push_back("LMCACHE_RUNTIME_PLUGIN_WORKER_ID=0");
  o.environment->push_back("LMCACHE_RUNTIME_PLUGIN_WORKER_COUNT=1");
  o.role = "WORKER";
  o.worker_id = 1;
  o.worker_count = 2;
  const launcher l(o);
  const auto p = l.plan();
  EXPECT_EQ(p.identity.worker_id, 1);
  EXPECT_EQ(p.identity.worker_count, 2u);
  ASSERT_EQ(p.plugins.size(), 1u);
  EXPECT_EQ(p.plugins[0].decision, decision::run) << p.plugins[0].reason;
  EXPECT_TRUE(p.warnings.empty()) << p.warnings.front();  // 1 is below 2

  o.worker_id = -1;  // LMCache's scheduler
  EXPECT_EQ(launcher(o).plan().identity.worker_id, -1);
}

TEST(launcher_api, a_typed_stop_timeout_is_the_policy) {
  // The plugin takes 3 s to stop: with 200 ms it is killed, where the default (5 s) would let
  // it exit on its own.
  temp_dir dir;
  dir.write("plugins/slow.sh",
            "trap 'sleep 3; exit 0' TERM\necho ready\nwhile :; do sleep 0.1; done\n",
            fs::perms(0755));
  auto o = options_for(dir);
  o.stop_timeout = 200ms;
  launcher l(o);
  l.start();
  const bool ready = test::eventually([&] {
    for (const auto& r : test::read_jsonl(dir.path() / "records.jsonl")) {
      if (r.value("line", "") == "ready") return true;
    }
    return false;
  });
  l.stop();
  l.wait();
  ASSERT_TRUE(ready);
  const auto status = l.status();
  ASSERT_EQ(status.plugins.size(), 1u);
  EXPECT_EQ(status.plugins[0].last_signal, "SIGKILL");
  EXPECT_FALSE(status.plugins[0].last_exit_code.has_value());
}

TEST(launcher_api, a_typed_wait_for_locations_is_waited_for) {
  temp_dir dir;
  auto o = options_for(dir);
  o.locations = {dir.path() / "later"};
  o.wait_for_locations = 300ms;
  launcher l(o);
  // Waited for, so not an error of the plan (list) yet; run() gives up after the wait.
  EXPECT_TRUE(l.plan().location_errors.empty());
  const auto said = test::error_text<config_error>([&] { l.run(); });
  EXPECT_NE(said.find("does not exist after waiting 0.3s"), std::string::npos) << said;
}

}  // namespace
}  // namespace plughost
