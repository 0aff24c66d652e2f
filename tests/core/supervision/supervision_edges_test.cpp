// The machine's behaviours that `make mutate` found no test for (scripts/mutations/
// supervision.toml): each test here kills mutants of core/src/supervision/ that the rest of the
// supervision unit tests let through (two, those of the shutdown during a stop by hand and of a
// stopped held exit, were written ahead for mutants the others turned out to kill too); the
// comment above each names them.
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

// machine-reload-restarted-not-counted (and the other counts of what a reload says): a new
// plugin is started, a changed one and one back after a reload removed it restarted, a removed
// one that still ran stopped, an unchanged one not counted.
TEST_F(machine_test, a_reload_says_how_many_plugins_it_started_restarted_and_stopped) {
  start({item("same.sh"), item("changed.sh"), item("removed.sh"), item("back.sh")});
  EXPECT_EQ(machine.reload({item("same.sh"), item("changed.sh", {}, "v2"), item("new.sh")}).said,
            "reloaded: 1 started, 1 restarted, 2 stopped");
  EXPECT_EQ(
      machine
          .reload({item("same.sh"), item("changed.sh", {}, "v2"), item("new.sh"), item("back.sh")})
          .said,
      "reloaded: 0 started, 1 restarted, 0 stopped");
}

// run-stop-when-done, run-kill-when-done: what a run left can end with no event saying so (the
// last process of a group that left it): a stop signal or SIGKILL that comes then is not sent
// to its process group, whose id may be another's by now.
TEST_F(machine_test, a_run_that_left_nothing_unseen_is_not_signalled_by_a_stop_or_a_kill) {
  auto quick_stop = restarting(restart_mode::never);
  quick_stop.stop_timeout = 2s;
  start({item("a.sh", quick_stop), item("b.sh", quick_stop)});
  const auto a = current("a.sh"), b = current("b.sh");
  world.exit(a, 0, /*leaves=*/true);
  world.exit(b, 0, /*leaves=*/true);
  world.advance(3200ms);  // its looks again come at 0.1, 0.3, 0.7, 1.5, 3.1 and 6.3 s
  auto& left_of_a = world.processes.at(a);
  left_of_a.group_alive = left_of_a.output_open = false;  // no event says so
  machine.stop("shutdown");
  EXPECT_TRUE(left_of_a.signals.empty()) << "a stop signal to a group that is gone";
  EXPECT_TRUE(left_of_a.released);
  EXPECT_EQ(world.processes.at(b).signals, (std::vector<int>{SIGTERM}));
  auto& left_of_b = world.processes.at(b);
  left_of_b.group_alive = left_of_b.output_open = false;
  world.advance(2s);  // its stop timeout comes before its next look
  EXPECT_TRUE(world.timers.empty());
  EXPECT_EQ(left_of_b.signals, (std::vector<int>{SIGTERM})) << "SIGKILL to a group that is gone";
  EXPECT_TRUE(left_of_b.released);
  EXPECT_TRUE(world.is_finished);
}

// table-stopping-stop-and-kill-swapped: a run already being stopped (by hand) is not signalled
// again by the shutdown, and is killed at its own stop timeout.
TEST_F(machine_test, the_shutdown_leaves_a_stop_by_hand_under_way_to_its_stop_timeout) {
  start({item("a.sh")});
  const auto run = current("a.sh");
  machine.stop_by_hand("a.sh");
  world.advance(2s);
  machine.stop("shutdown");
  EXPECT_EQ(world.processes.at(run).signals, (std::vector<int>{SIGTERM}));
  world.advance(2999ms);
  EXPECT_EQ(world.processes.at(run).signals, (std::vector<int>{SIGTERM}));
  world.advance(1ms);
  EXPECT_EQ(world.processes.at(run).signals, (std::vector<int>{SIGTERM, SIGKILL}));
}

// run-exit-then-stop-no-stop: stopping a run whose exit waits for room reads its output at
// once, and stops what is left in its group.
TEST_F(machine_test, stopping_a_held_exit_ends_it_and_stops_what_it_left) {
  start({item("a.sh")});
  const auto run = current("a.sh");
  world.exit_held(run, 0, /*leaves=*/true);
  machine.stop("shutdown");
  EXPECT_EQ(events_of("a.sh"),
            (std::vector<std::string>{"started argv=", "exited exit_code=0",
                                      "stopping signal=SIGTERM reason=shutdown"}));
  EXPECT_EQ(world.processes.at(run).signals, (std::vector<int>{SIGTERM}));
  EXPECT_EQ(state("a.sh"), plugin_state::stopped);
}

// plugin-note-start-not-marked, plugin-hold-after-keeps-started-mark: status says "started" by
// hand for a start asked for while a stop by hand is under way, and forgets a start by hand
// once a stop by hand follows it (the shutdown then shows no mark).
TEST_F(machine_test, the_by_hand_mark_follows_the_last_request_while_a_run_is_being_stopped) {
  start({item("a.sh", restarting(restart_mode::never)), item("b.sh")});
  machine.stop_by_hand("a.sh");
  EXPECT_EQ(view("a.sh").by_hand, "stopped");
  EXPECT_EQ(machine.start_by_hand("a.sh"), "starts once its current run has stopped");
  EXPECT_EQ(view("a.sh").by_hand, "started");
  world.exit(current("a.sh"), 0);
  EXPECT_EQ(state("a.sh"), plugin_state::running);
  EXPECT_EQ(view("a.sh").by_hand, "started");
  machine.stop_by_hand("a.sh");
  machine.stop("shutdown");
  EXPECT_EQ(state("a.sh"), plugin_state::stopping);
  EXPECT_EQ(view("a.sh").by_hand, "") << "the start by hand was undone by the stop by hand";
}

// plugin-retire-keeps-started-mark: a plugin a reload removed shows no mark of a start by hand.
TEST_F(machine_test, a_plugin_started_by_hand_then_removed_shows_no_by_hand_mark) {
  start({item("a.sh", restarting(restart_mode::never)), item("b.sh")});
  world.exit(current("a.sh"), 0);
  machine.start_by_hand("a.sh");
  EXPECT_EQ(view("a.sh").by_hand, "started");
  machine.reload({item("b.sh")});
  EXPECT_EQ(state("a.sh"), plugin_state::retired);
  EXPECT_EQ(view("a.sh").by_hand, "");
}

// plugin-interval-one-ns-not-periodic: any interval above zero makes a periodic job.
TEST_F(machine_test, an_interval_of_one_nanosecond_is_still_an_interval) {
  auto job = restarting(restart_mode::interval);
  job.interval = 1ns;
  start({item("job.sh", job)});
  world.exit(current("job.sh"), 1);
  EXPECT_EQ(events_of("job.sh").back(), "next_run delay=0");
  EXPECT_EQ(state("job.sh"), plugin_state::backoff);
}

// plugin-start-if-stopping-not-marked: started by hand while its time limit stops it: it starts
// again once that run has ended, and status says it was started by hand.
TEST_F(machine_test, a_start_by_hand_while_a_time_limit_stops_the_run_is_marked_started) {
  auto limited = restarting(restart_mode::never);
  limited.timeout = 10s;
  start({item("a.sh", limited)});
  const auto first = current("a.sh");
  world.advance(10s);
  EXPECT_EQ(machine.start_by_hand("a.sh"), "starts once its current run has stopped");
  EXPECT_EQ(state("a.sh"), plugin_state::restarting);
  EXPECT_EQ(view("a.sh").by_hand, "started");
  world.exit(first, 0);
  EXPECT_EQ(state("a.sh"), plugin_state::running);
  EXPECT_EQ(view("a.sh").by_hand, "started");
}

// plugin-leftovers-always-any, plugin-leftovers-not-said: a removed plugin that had ended
// counts as stopped when a process of it was still left, and not when nothing was.
TEST_F(machine_test, a_removed_plugin_counts_as_stopped_only_if_something_of_it_was_left) {
  const auto never = restarting(restart_mode::never);
  start({item("left.sh", never), item("clean.sh", never), item("b.sh")});
  world.exit(current("left.sh"), 0, /*leaves=*/true);
  world.exit(current("clean.sh"), 0);
  EXPECT_EQ(machine.reload({item("b.sh")}).said, "reloaded: 0 started, 0 restarted, 1 stopped");
}

// run-close-held-when-closed, run-close-held-after-drain-end: after the kill grace, pipes are
// closed only if something still holds them: not when they are closed already, nor when
// reading what they hold reached their end (no warning of a process holding them either).
TEST_F(machine_test, after_the_kill_grace_only_pipes_still_held_are_closed) {
  world.nested_closes = true;  // reading to the end of a pipe closes it
  start({item("closed.sh"), item("ends.sh")});
  const auto closed = current("closed.sh"), ends = current("ends.sh");
  world.exit(closed, 0, /*leaves=*/true);
  world.exit(ends, 0, /*leaves=*/true);
  machine.stop("shutdown");
  world.advance(5s);  // SIGKILL to what is left; the kill grace is 1 s, the next look at 6.3 s
  world.processes.at(closed).output_open = false;  // no event says so
  world.processes.at(ends).group_alive = false;    // its pipes now end when read
  world.trace.clear();
  world.advance(kill_grace);
  EXPECT_EQ(world.trace, (std::vector<std::string>{"drain ends.sh"}));
}

}  // namespace
}  // namespace plughost::detail
