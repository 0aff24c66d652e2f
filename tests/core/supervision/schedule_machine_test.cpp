// restart: schedule in the supervision machine, with a fake clock (its wall clock starts at
// 2026-12-08T00:00:00Z): the first run at the schedule's first time, the next after each run,
// a run that overran its next time followed at once (never two at once, never twice for one
// time), the jitter, run_at_start, and a schedule that never comes again.
#include <gtest/gtest.h>

#include "common/cron_schedule.hpp"
#include "fake_world.hpp"

namespace plughost::detail {
namespace {

using namespace fakes;

plugin_policy scheduled(const std::string& text, const std::string& zone_name = "UTC") {
  plugin_policy p;
  p.restart = restart_mode::schedule;
  std::string error;
  auto cron = cron_schedule::parse(text, error);
  EXPECT_TRUE(cron) << error;
  auto zone = time_zone::load(zone_name, error);
  EXPECT_TRUE(zone) << error;
  p.timetable.shared = std::make_shared<const timetable>(
      timetable{text, zone_name, std::make_shared<const cron_schedule>(std::move(*cron)),
                std::make_shared<const time_zone>(std::move(*zone))});
  return p;
}

TEST_F(machine_test, a_scheduled_plugin_runs_at_its_times_and_never_twice_at_once) {
  start({item("job.sh", scheduled("*/1 * * * *"))});
  EXPECT_EQ(state("job.sh"), plugin_state::backoff);  // waits for 00:01
  EXPECT_EQ(events_of("job.sh"),
            (std::vector<std::string>{"next_run delay=60 at=2026-12-08T00:01:00Z"}));
  world.advance(59s);
  EXPECT_EQ(world.spawns, 0u);
  world.advance(1s);
  ASSERT_EQ(state("job.sh"), plugin_state::running);
  world.advance(10s);
  world.exit(current("job.sh"), 0);
  EXPECT_EQ(events_of("job.sh").back(), "next_run delay=50 at=2026-12-08T00:02:00Z");
  world.advance(50s);
  ASSERT_EQ(state("job.sh"), plugin_state::running);
  world.advance(90s);  // past 00:03: that time is due when it ends, at once
  world.exit(current("job.sh"), 1);
  EXPECT_EQ(events_of("job.sh").back(), "next_run delay=0 at=2026-12-08T00:03:00Z");
  world.advance(0s);
  EXPECT_EQ(world.spawns, 3u);
  world.advance(5s);
  world.exit(current("job.sh"), 0);  // at 00:03:35: next 00:04, not 00:03 again
  EXPECT_EQ(events_of("job.sh").back(), "next_run delay=25 at=2026-12-08T00:04:00Z");
  EXPECT_EQ(view("job.sh").restarts, 3u);  // each run its schedule started
  EXPECT_EQ(machine.broken_invariants(), std::vector<std::string>{});
}

TEST_F(machine_test, jitter_delays_each_run_and_run_at_start_runs_at_once) {
  auto jittered = scheduled("0 * * * *", "Europe/Paris");
  jittered.jitter = 10min;  // the fake world's random delay is half of it
  auto at_start = scheduled("@daily");
  at_start.run_at_start = true;
  start({item("hourly.sh", jittered), item("daily.sh", at_start)});
  EXPECT_EQ(events_of("hourly.sh"),
            (std::vector<std::string>{"next_run delay=3900 at=2026-12-08T01:00:00Z"}));
  EXPECT_EQ(state("daily.sh"), plugin_state::running);
  world.exit(current("daily.sh"), 0);
  EXPECT_EQ(events_of("daily.sh").back(), "next_run delay=86400 at=2026-12-09T00:00:00Z");
}

TEST_F(machine_test, a_schedule_that_never_comes_ends_the_plugin) {
  auto policy = scheduled("0 0 30 2 *");
  policy.run_at_start = true;
  start({item("never.sh", policy), item("other.sh", restarting(restart_mode::always))});
  world.exit(current("never.sh"), 0);
  EXPECT_EQ(state("never.sh"), plugin_state::exited);
  EXPECT_TRUE(world.timers.empty() || !world.timer(timer_key::kind::restart, view("never.sh").id));
}

}  // namespace
}  // namespace plughost::detail
