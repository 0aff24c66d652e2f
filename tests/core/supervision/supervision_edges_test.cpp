// The machine's behaviours that `make mutate` found no test for (scripts/mutations/
// supervision.toml): each test here kills at least one mutant of core/src/supervision/ that the
// rest of the supervision unit tests let through, and says which.
#include <gtest/gtest.h>
#include <signal.h>

#include <functional>
#include <string>
#include <vector>

#include "fake_world.hpp"
#include "supervision/supervision_machine.hpp"

namespace plughost::detail {
namespace {

using namespace fakes;

std::string refusal(const std::function<void()>& by_hand) {
  try {
    by_hand();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(not refused)";
}

// machine-by-hand-allowed-during-start-up, machine-by-hand-no-suggestion
TEST_F(machine_test, by_hand_says_start_up_is_not_over_and_suggests_the_nearest_name) {
  machine.add(item("alpha.sh"));
  EXPECT_EQ(refusal([&] { machine.stop_by_hand("alpha.sh"); }),
            "plughost is still starting its plugins: try again in a moment");
  machine.started_all();
  EXPECT_EQ(refusal([&] { machine.stop_by_hand("alpah.sh"); }),
            "no plugin named alpah.sh (did you mean 'alpha.sh'?)");
  machine.stop("shutdown");
  EXPECT_EQ(refusal([&] { machine.stop_by_hand("alpha.sh"); }), "plughost is stopping");
}

// machine-output-closed-does-not-settle: the last process of a group that left it (setsid)
// sends no event; its pipes closing is the first news that nothing of the run is left.
TEST_F(machine_test, a_run_whose_pipes_close_last_is_released_then_not_at_the_next_look) {
  start({item("a.sh", restarting(restart_mode::never))});
  const auto run = current("a.sh");
  world.exit(run, 0, /*leaves=*/true);
  ASSERT_FALSE(world.processes.at(run).released);
  world.processes.at(run).group_alive = false;  // no event says so
  world.processes.at(run).output_open = false;
  machine.on_output_closed(run);
  EXPECT_TRUE(world.processes.at(run).released);
  EXPECT_TRUE(world.is_finished);
}

// machine-cap-not-kept-before-stop: the parent exited while everything ran: each run gets at
// most the cap after its stop signal.
TEST_F(machine_test, a_cap_on_the_stop_grace_while_running_stops_every_run_with_the_cap) {
  auto patient = restarting(restart_mode::never);
  patient.stop_timeout = 30s;
  start({item("a.sh", patient)});
  const auto run = current("a.sh");
  machine.cap_stop_grace(2s, "parent exited");
  EXPECT_EQ(machine.phase(), run_phase::stopping);
  world.advance(1999ms);
  EXPECT_EQ(world.processes.at(run).signals, (std::vector<int>{SIGTERM}));
  world.advance(1ms);
  EXPECT_EQ(world.processes.at(run).signals, (std::vector<int>{SIGTERM, SIGKILL}));
}

// machine-view-pid-not-zero, machine-view-run-state-missing, machine-view-next-restart-missing,
// plugin-schedule-due-not-kept: what status shows of a plugin, running, waiting to restart and
// ended.
TEST_F(machine_test, a_plugins_view_shows_its_run_while_it_runs_and_when_it_restarts) {
  start({item("a.sh", restarting(restart_mode::on_failure))});
  const auto run = current("a.sh");
  world.advance(3s);
  auto v = view("a.sh");
  EXPECT_EQ(v.pid, world.processes.at(run).pid);
  EXPECT_EQ(v.current_state, run_state::running);
  EXPECT_EQ(v.since, clock::time_point{});
  EXPECT_EQ(v.next_restart, std::nullopt);
  world.exit(run, 1);
  v = view("a.sh");
  EXPECT_EQ(v.state, plugin_state::backoff);
  EXPECT_EQ(v.pid, 0);
  EXPECT_EQ(v.current, std::nullopt);
  EXPECT_EQ(v.current_state, std::nullopt);
  EXPECT_EQ(v.next_restart, clock::time_point{} + 3s + 1s) << "one restart_delay after the end";
  world.advance(1s);
  v = view("a.sh");
  EXPECT_EQ(v.next_restart, std::nullopt);
  EXPECT_EQ(v.since, clock::time_point{} + 4s);
  world.exit(current("a.sh"), 0);
  EXPECT_EQ(view("a.sh").pid, 0);
  EXPECT_EQ(view("a.sh").state, plugin_state::exited);
}

// A bug this found (the exit code of a drained held exit was lost: 0, a success), and
// run-held-exit-not-kept: an exit held while the plugin's sink is full is the exit it was,
// whether its output is read later or at once because the run is stopped.
TEST_F(machine_test, an_exit_held_for_room_keeps_its_code_when_drained_or_stopped) {
  start({item("a.sh", restarting(restart_mode::on_failure)), item("b.sh")});
  world.exit_held(current("a.sh"), 3);
  EXPECT_EQ(state("a.sh"), plugin_state::running) << "its exit waits for its output";
  world.drained(current("a.sh"));
  EXPECT_EQ(events_of("a.sh"), (std::vector<std::string>{"started argv=", "exited exit_code=3",
                                                         "restarting attempt=1 delay=1"}))
      << "a failure: on-failure restarts it";
  const auto b = current("b.sh");
  world.exit_held(b, 4);
  machine.stop("shutdown");
  EXPECT_EQ(events_of("b.sh").back(), "exited exit_code=4");
  EXPECT_EQ(view("b.sh").last_exit->value, 4);
}

}  // namespace
}  // namespace plughost::detail
