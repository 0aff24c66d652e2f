// A run's health in the supervision machine, with a fake clock and fake processes: when its
// probes run (never two at once, startup first, a period from the start of the one before),
// what their outcomes do (ready, unhealthy, stopped as a failure), and the watchdog.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fake_world.hpp"
#include "supervision/supervision_machine.hpp"

namespace plughost::detail {
namespace {

using namespace fakes;

probe_spec probe(int failures, std::chrono::seconds period = 10s) {
  probe_spec p;
  p.period = period;
  p.failure_threshold = failures;
  return p;
}

std::size_t count(const std::vector<std::string>& v, const std::string& prefix) {
  std::size_t n = 0;
  for (const auto& s : v) n += s.rfind(prefix, 0) == 0 ? 1 : 0;
  return n;
}

TEST_F(machine_test, a_failing_liveness_probe_stops_the_run_as_a_failure_and_it_restarts) {
  auto policy = restarting(restart_mode::on_failure);
  policy.set_probe(probe_kind::liveness, probe(3));
  start({item("a.sh", policy)});
  world.advance(0s);  // no initial delay: the first probe is due at once
  const auto first = current("a.sh");
  ASSERT_EQ(world.probes_running.count(first), 1u);
  world.probe_ends(first, true);
  world.advance(10s);
  world.probe_ends(first, false);
  world.advance(10s);
  world.probe_ends(first, false);
  EXPECT_EQ(state("a.sh"), plugin_state::running) << "two failures of three";
  world.advance(10s);
  world.probe_ends(first, false, "answered 503");
  EXPECT_EQ(count(world.events, "a.sh probe"), 1u) << "said once, when it began to fail";
  EXPECT_EQ(world.events.back(), "a.sh stopping signal=SIGTERM reason=liveness probe");
  world.exit(first, 143);
  EXPECT_EQ(state("a.sh"), plugin_state::backoff) << "a failure: on-failure restarts it";
  EXPECT_EQ(view("a.sh").health_failures, (std::map<std::string, std::uint64_t>{{"liveness", 1}}));
  EXPECT_EQ(machine.broken_invariants(), std::vector<std::string>{});
}

TEST_F(machine_test, probes_of_a_run_never_overlap_and_each_keeps_its_period) {
  auto policy = restarting(restart_mode::never);
  policy.set_probe(probe_kind::readiness, probe(3, 5s));
  policy.set_probe(probe_kind::liveness, probe(3, 5s));
  start({item("a.sh", policy)});
  world.advance(0s);  // no initial delay: the first probe is due at once
  const auto run = current("a.sh");
  EXPECT_EQ(world.probes_started, 1) << "both due at once: one runs, the other waits";
  world.advance(2s);
  world.probe_ends(run, true);  // readiness passed after 2 s: the liveness probe runs now
  EXPECT_EQ(world.probes_started, 2);
  EXPECT_EQ(world.probes_running.at(run), probe_kind::liveness);
  world.probe_ends(run, true);
  world.advance(3s - 1ns);
  EXPECT_EQ(world.probes_started, 2) << "the readiness probe's period runs from its start";
  world.advance(1ns);
  EXPECT_EQ(world.probes_started, 3);
  EXPECT_EQ(state("a.sh"), plugin_state::running);
  EXPECT_TRUE(view("a.sh").ready());
}

TEST_F(machine_test, a_startup_probe_holds_the_others_back_until_it_passes) {
  auto policy = restarting(restart_mode::on_failure);
  policy.set_probe(probe_kind::startup, probe(30, 1s));
  policy.set_probe(probe_kind::liveness, probe(1, 1s));
  start({item("a.sh", policy)});
  world.advance(0s);  // no initial delay: the first probe is due at once
  const auto run = current("a.sh");
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(world.probes_running.at(run), probe_kind::startup);
    world.probe_ends(run, false);
    world.advance(1s);
  }
  EXPECT_EQ(view("a.sh").health, health_state::starting);
  world.probe_ends(run, true);
  EXPECT_EQ(view("a.sh").health, health_state::ready) << "no readiness probe: startup says it";
  EXPECT_EQ(world.probes_running.count(run), 0u);
  world.advance(0s);
  ASSERT_EQ(world.probes_running.at(run), probe_kind::liveness) << "only once startup passed";
  EXPECT_EQ(count(world.events, "a.sh ready after=5 how=startup probe"), 1u);
}

TEST_F(machine_test, a_readiness_probe_makes_a_run_ready_and_unhealthy_by_its_thresholds) {
  auto policy = restarting(restart_mode::never);
  auto readiness = probe(2, 1s);
  readiness.success_threshold = 2;
  policy.set_probe(probe_kind::readiness, readiness);
  start({item("a.sh", policy)});
  world.advance(0s);  // no initial delay: the first probe is due at once
  const auto run = current("a.sh");
  const auto step = [&](bool passed) {
    world.probe_ends(run, passed);
    world.advance(1s);
  };
  step(true);
  EXPECT_EQ(view("a.sh").health, health_state::starting) << "one success of two";
  step(true);
  EXPECT_EQ(view("a.sh").health, health_state::ready);
  step(false);
  EXPECT_EQ(view("a.sh").health, health_state::ready) << "one failure of two";
  step(false);
  EXPECT_EQ(view("a.sh").health, health_state::unhealthy);
  step(true);
  EXPECT_EQ(view("a.sh").health, health_state::unhealthy);
  step(true);
  EXPECT_EQ(view("a.sh").health, health_state::ready);
  EXPECT_EQ(state("a.sh"), plugin_state::running) << "readiness never stops a run";
}

TEST_F(machine_test, a_watchdog_fed_in_time_never_fires_and_a_silent_one_fires_once) {
  auto policy = restarting(restart_mode::never);
  policy.notify = true;
  policy.watchdog = 2s;
  start({item("a.sh", policy)});
  world.advance(0s);  // no initial delay: the first probe is due at once
  const auto run = current("a.sh");
  for (int i = 0; i < 10; ++i) {
    world.advance(1900ms);
    machine.on_health(run, health_event::watchdog);
  }
  EXPECT_EQ(count(world.events, "a.sh watchdog"), 0u);
  world.advance(2s);
  EXPECT_EQ(count(world.events, "a.sh watchdog"), 1u);
  EXPECT_EQ(world.events.back(), "a.sh stopping signal=SIGTERM reason=watchdog");
  world.exit(run, 143);
  EXPECT_EQ(state("a.sh"), plugin_state::failed) << "a watchdog stop is a failure";
}

// What a run being stopped says or its probes find changes nothing: one failure per run, one
// `watchdog` event, however many triggers follow.
TEST_F(machine_test, a_run_being_stopped_hears_nothing_of_its_health) {
  auto policy = restarting(restart_mode::never);
  policy.notify = true;
  policy.watchdog = 2s;
  policy.stop_timeout = 10s;
  start({item("a.sh", policy)});
  const auto run = current("a.sh");
  machine.on_health(run, health_event::ready, "notify");
  for (int i = 0; i < 100; ++i) {
    machine.on_health(run, health_event::failed, "watchdog trigger");
    machine.on_health(run, health_event::ready, "notify");
  }
  world.advance(5s);  // its watchdog's time passes while it is being stopped
  EXPECT_EQ(count(world.events, "a.sh watchdog"), 1u);
  EXPECT_EQ(count(world.events, "a.sh ready"), 1u);
  EXPECT_EQ(view("a.sh").health_failures, (std::map<std::string, std::uint64_t>{{"watchdog", 1}}));
}

}  // namespace
}  // namespace plughost::detail
