// The supervision state machine with a fake clock and fake processes: restarts and their
// backoff, max_restarts, run-time limits, the stop sequence, reload, leftovers of a run, and when
// the whole run is over. The real loop and real processes are tested in tests/integration.
#include "supervision/supervision_machine.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "fake_world.hpp"

namespace plughost::detail {
namespace {

using namespace fakes;

// ---- restarts -------------------------------------------------------------------------------

TEST_F(machine_test, on_failure_restarts_after_delays_that_double_up_to_the_maximum) {
  start({item("a.sh", restarting(restart_mode::on_failure))});
  std::vector<double> delays;
  for (int i = 0; i < 5; ++i) {
    world.exit(current("a.sh"), 1);
    ASSERT_EQ(state("a.sh"), plugin_state::backoff);
    const auto wait = world.timer(timer_key::kind::restart, 1).value() - world.now();
    delays.push_back(std::chrono::duration<double>(wait).count());
    world.advance(wait);
    ASSERT_EQ(state("a.sh"), plugin_state::running);
  }
  EXPECT_EQ(delays, (std::vector<double>{1, 2, 4, 8, 8}));
  EXPECT_EQ(world.processes.size(), 6u) << "five restarts, six runs";
}

TEST_F(machine_test, a_restart_waits_while_the_plugins_sink_is_full_and_a_stop_forgets_it) {
  start({item("a.sh", restarting(restart_mode::always)), item("b.sh")});
  world.full_output.insert("a.sh");
  world.exit(current("a.sh"), 1);
  world.advance(10s);
  EXPECT_EQ(state("a.sh"), plugin_state::backoff) << "no new run while its sink is full";
  EXPECT_EQ(world.processes.size(), 2u);
  EXPECT_EQ(view("a.sh").restarts, 0u);
  world.room_for("b.sh");
  EXPECT_EQ(state("a.sh"), plugin_state::backoff) << "room for another plugin is not room for a";
  world.room_for("a.sh");
  EXPECT_EQ(state("a.sh"), plugin_state::running) << "room: the restart that was due happens";
  EXPECT_EQ(view("a.sh").restarts, 1u);

  world.full_output.insert("a.sh");
  world.exit(current("a.sh"), 1);
  world.advance(10s);
  ASSERT_EQ(world.waiting_for_room.size(), 1u);
  machine.stop("shutdown");
  EXPECT_TRUE(world.waiting_for_room.empty()) << "a stop cancels the restart waiting for room";
  world.room_for("a.sh");
  EXPECT_EQ(state("a.sh"), plugin_state::stopped);
}

TEST_F(machine_test, a_run_longer_than_restart_reset_after_starts_the_backoff_again) {
  start({item("a.sh", restarting(restart_mode::always))});
  world.exit(current("a.sh"), 0);
  world.advance(1s);
  world.exit(current("a.sh"), 0);
  EXPECT_EQ(events_of("a.sh").back(), "restarting attempt=2 delay=2");
  world.advance(2s);
  world.advance(60s);  // this run lasts restart_reset_after
  world.exit(current("a.sh"), 0);
  EXPECT_EQ(events_of("a.sh").back(), "restarting attempt=1 delay=1");
  EXPECT_EQ(view("a.sh").restarts_in_a_row, 1);
}

TEST_F(machine_test, max_restarts_in_a_row_gives_up_and_the_run_fails) {
  auto policy = restarting(restart_mode::on_failure);
  policy.max_restarts = 2;
  start({item("a.sh", policy)});
  world.exit(current("a.sh"), 3);
  world.advance(1s);
  world.exit(current("a.sh"), 3);
  world.advance(2s);
  world.exit(current("a.sh"), 3);
  EXPECT_EQ(state("a.sh"), plugin_state::failed);
  EXPECT_EQ(events_of("a.sh").back(),
            "gave_up restarts=2 reason=2 restarts in a row, each run shorter than 60s");
  EXPECT_TRUE(machine.any_failed());
  EXPECT_TRUE(world.is_finished) << "nothing left to wait for";
  EXPECT_TRUE(world.timers.empty());
}

TEST_F(machine_test, never_and_on_failure_after_success_end_the_plugin) {
  start({item("never.sh", restarting(restart_mode::never)),
         item("fine.sh", restarting(restart_mode::on_failure))});
  world.exit(current("never.sh"), 1);
  world.exit(current("fine.sh"), 0);
  EXPECT_EQ(state("never.sh"), plugin_state::failed);
  EXPECT_EQ(state("fine.sh"), plugin_state::exited);
  EXPECT_TRUE(world.is_finished);
}

TEST_F(machine_test, a_plugin_that_cannot_start_is_an_error_and_restarts_on_failure) {
  world.unstartable.insert("a.sh");
  start({item("a.sh", restarting(restart_mode::on_failure))});
  EXPECT_EQ(events_of("a.sh"), (std::vector<std::string>{"error message=no such interpreter",
                                                         "restarting attempt=1 delay=1"}));
  world.unstartable.clear();
  world.advance(1s);
  EXPECT_EQ(state("a.sh"), plugin_state::running);
}

TEST_F(machine_test, a_restart_that_falls_due_during_the_start_up_happens_then) {
  // The start-up polls the loop between starts: a plugin added early exits, and its restart
  // timer fires while later plugins are still being added (issue 22: it was dropped, and the
  // plugin stayed in backoff for ever).
  auto policy = restarting(restart_mode::on_failure);
  policy.restart_delay = 0s;
  machine.add(item("a.sh", policy));
  world.exit(current("a.sh"), 1);
  ASSERT_EQ(state("a.sh"), plugin_state::backoff);
  world.advance(0s);
  EXPECT_EQ(state("a.sh"), plugin_state::running) << "restarted during the start-up";
  EXPECT_EQ(view("a.sh").restarts, 1u);
  EXPECT_EQ(world.processes.size(), 2u);
  auto job = restarting(restart_mode::interval);
  job.interval = 1s;
  machine.add(item("job.sh", job));
  world.exit(current("job.sh"), 0);
  world.advance(1s);
  EXPECT_EQ(state("job.sh"), plugin_state::running) << "a periodic job runs again";
  machine.add(item("late.sh"));
  machine.started_all();
  world.exit(current("a.sh"), 0);
  world.exit(current("job.sh"), 0);
  world.exit(current("late.sh"), 0);
  EXPECT_EQ(state("a.sh"), plugin_state::exited);
  EXPECT_EQ(state("job.sh"), plugin_state::backoff);
  world.advance(1s);
  EXPECT_EQ(view("job.sh").restarts, 2u);
}

TEST_F(machine_test, a_stop_during_the_start_up_cancels_a_pending_restart) {
  auto policy = restarting(restart_mode::always);
  machine.add(item("a.sh", policy));
  world.exit(current("a.sh"), 0);
  machine.stop("shutdown");
  world.advance(10s);
  EXPECT_EQ(state("a.sh"), plugin_state::stopped);
  EXPECT_EQ(world.processes.size(), 1u);
  machine.started_all();
  EXPECT_TRUE(world.is_finished);
}

// ---- leftovers of a run ---------------------------------------------------------------------

TEST_F(machine_test, what_a_restarting_plugins_run_left_behind_is_stopped) {
  start({item("a.sh", restarting(restart_mode::on_failure))});
  const auto first = current("a.sh");
  const auto group = world.processes.at(first).pid;
  world.exit(first, 1, /*leaves=*/true);
  EXPECT_EQ(world.processes.at(first).signals, (std::vector<int>{SIGTERM}));
  world.advance(5s);  // its stop timeout: SIGKILL (the restart came after 1 s)
  EXPECT_EQ(world.processes.at(first).signals, (std::vector<int>{SIGTERM, SIGKILL}));
  EXPECT_NE(current("a.sh"), first);
  world.leftovers_end(first);
  EXPECT_TRUE(world.processes.at(first).released);
  EXPECT_EQ(std::count(world.trace.begin(), world.trace.end(),
                       "signal " + std::to_string(group) + " SIGTERM"),
            1);
}

TEST_F(machine_test, what_a_plugin_that_ends_for_good_left_behind_runs_until_shutdown) {
  start({item("daemon.sh")});
  const auto run = current("daemon.sh");
  world.exit(run, 0, /*leaves=*/true);
  EXPECT_TRUE(world.processes.at(run).signals.empty());
  EXPECT_FALSE(world.is_finished) << "its group still has a process";
  machine.stop("shutdown");
  EXPECT_EQ(world.processes.at(run).signals, (std::vector<int>{SIGTERM}));
  world.leftovers_end(run);
  EXPECT_TRUE(world.is_finished);
}

// ---- run-time limits and the stop sequence --------------------------------------------------

TEST_F(machine_test, a_timeout_stops_the_run_then_kills_it_and_counts_as_a_failure) {
  auto policy = restarting(restart_mode::never);
  policy.timeout = 10s;
  policy.stop_timeout = 3s;
  start({item("slow.sh", policy)});
  const auto run = current("slow.sh");
  world.advance(10s);
  EXPECT_EQ(world.processes.at(run).signals, (std::vector<int>{SIGTERM}));
  world.advance(3s);
  EXPECT_EQ(world.processes.at(run).signals, (std::vector<int>{SIGTERM, SIGKILL}));
  world.killed_by(run, SIGKILL);
  EXPECT_EQ(events_of("slow.sh"),
            (std::vector<std::string>{
                "started argv=", "timed_out timeout=10", "stopping signal=SIGTERM reason=timeout",
                "killed signal=SIGKILL after=3 stop_signal=SIGTERM", "exited signal=SIGKILL"}));
  EXPECT_EQ(state("slow.sh"), plugin_state::failed);
  EXPECT_TRUE(world.is_finished);
}

TEST_F(machine_test, a_run_that_ends_before_its_timeout_cancels_it) {
  auto policy = restarting(restart_mode::never);
  policy.timeout = 10s;
  start({item("quick.sh", policy)});
  world.exit(current("quick.sh"), 0);
  EXPECT_TRUE(world.timers.empty());
  EXPECT_EQ(state("quick.sh"), plugin_state::exited);
}

TEST_F(machine_test, stop_signals_every_group_at_once_with_each_plugins_signal) {
  auto hup = restarting(restart_mode::always);
  hup.stop_signal = SIGHUP;
  start({item("a.sh"), item("b.sh", hup)});
  const auto a = current("a.sh"), b = current("b.sh");
  machine.stop("shutdown");
  EXPECT_EQ(world.processes.at(a).signals, (std::vector<int>{SIGTERM}));
  EXPECT_EQ(world.processes.at(b).signals, (std::vector<int>{SIGHUP}));
  EXPECT_EQ(machine.phase(), run_phase::stopping);
  world.exit(a, 0);
  world.exit(b, 0);
  EXPECT_EQ(state("b.sh"), plugin_state::stopped) << "no restart during a stop";
  EXPECT_FALSE(machine.any_failed());
  EXPECT_TRUE(world.is_finished);
}

TEST_F(machine_test, a_plugin_that_ignores_its_stop_signal_is_killed_and_its_held_pipes_closed) {
  start({item("stubborn.sh")});
  const auto run = current("stubborn.sh");
  machine.stop("shutdown");
  world.advance(4900ms);
  EXPECT_EQ(world.processes.at(run).signals, (std::vector<int>{SIGTERM}));
  world.advance(100ms);
  EXPECT_EQ(world.processes.at(run).signals, (std::vector<int>{SIGTERM, SIGKILL}));
  // Killed, but a process outside its group still holds its pipes: its group is empty, so
  // nothing is waited for: what the pipes hold is delivered, then they are closed.
  world.processes.at(run).group_alive = false;
  world.processes.at(run).output_open = true;
  machine.on_main_exit(run, {true, SIGKILL});
  EXPECT_EQ(world.trace.back(), "close stubborn.sh");
  EXPECT_EQ(world.trace[world.trace.size() - 2], "drain stubborn.sh");
  EXPECT_TRUE(world.is_finished);
  EXPECT_FALSE(machine.any_failed()) << "stopped by plughost";
}

TEST_F(machine_test, a_killed_plugin_whose_group_lives_on_has_its_pipes_closed_after_the_grace) {
  start({item("stubborn.sh")});
  const auto run = current("stubborn.sh");
  machine.stop("shutdown");
  world.advance(5s);
  // Its main process is gone, something in its group is not (in the kernel, unkillable).
  machine.on_main_exit(run, {true, SIGKILL});
  EXPECT_NE(world.trace.back(), "close stubborn.sh");
  world.advance(kill_grace);
  EXPECT_EQ(world.trace.back(), "close stubborn.sh");
}

TEST_F(machine_test, a_run_ends_when_its_group_is_empty_whoever_holds_its_pipes) {
  // A descendant that called setsid() holds the pipes: neither run() nor a stop waits for it.
  start({item("escapes.sh")});
  const auto run = current("escapes.sh");
  world.processes.at(run).group_alive = false;
  machine.on_main_exit(run, {false, 0});
  EXPECT_EQ(world.trace.back(), "close escapes.sh");
  EXPECT_TRUE(world.is_finished);
}

TEST_F(machine_test, what_is_left_of_a_plugin_whose_main_process_exited_is_stopped_and_killed) {
  start({item("left.sh")});
  const auto run = current("left.sh");
  machine.on_main_exit(run, {false, 0});  // its group lives on: a background process
  machine.stop("shutdown");
  world.advance(1s);
  machine.stop_signal("SIGTERM");  // a second SIGTERM, a second later
  EXPECT_EQ(events_of("left.sh"),
            (std::vector<std::string>{"started argv=", "exited exit_code=0",
                                      "stopping signal=SIGTERM reason=shutdown",
                                      "killed signal=SIGKILL after=1 stop_signal=SIGTERM"}));
  EXPECT_EQ(world.processes.at(run).signals, (std::vector<int>{SIGTERM, SIGKILL}));
}

TEST_F(machine_test, a_stopping_plugin_is_stopped_once_and_a_later_stop_signal_kills_it) {
  start({item("a.sh")});
  const auto run = current("a.sh");
  EXPECT_TRUE(machine.stop_signal("SIGTERM"));
  machine.stop("shutdown");
  world.advance(999ms);
  EXPECT_FALSE(machine.stop_signal("SIGTERM")) << "timeout(1) signals the child, then its group";
  EXPECT_EQ(world.processes.at(run).signals, (std::vector<int>{SIGTERM}));
  world.advance(1ms);
  EXPECT_FALSE(machine.stop_signal("SIGTERM"));
  EXPECT_EQ(world.processes.at(run).signals, (std::vector<int>{SIGTERM, SIGKILL}));
}

TEST_F(machine_test, a_cap_on_the_stop_grace_shortens_a_stop_already_under_way) {
  auto patient = restarting(restart_mode::never);
  patient.stop_timeout = 30s;
  start({item("a.sh", patient)});
  const auto run = current("a.sh");
  machine.stop("shutdown");
  world.advance(2s);
  machine.cap_stop_grace(1s, "parent exited");
  world.advance(999ms);
  EXPECT_EQ(world.processes.at(run).signals, (std::vector<int>{SIGTERM}));
  world.advance(1ms);
  EXPECT_EQ(world.processes.at(run).signals, (std::vector<int>{SIGTERM, SIGKILL}));
}

TEST_F(machine_test, a_stop_during_start_up_starts_nothing_more) {
  machine.add(item("a.sh"));
  machine.stop("shutdown");
  machine.add(item("b.sh"));
  machine.started_all();
  EXPECT_EQ(world.processes.size(), 1u);
  EXPECT_FALSE(world.is_finished);
  world.exit(current("a.sh"), 0);
  EXPECT_TRUE(world.is_finished);
}

TEST_F(machine_test, the_run_cannot_finish_during_start_up) {
  machine.add(item("a.sh"));
  world.exit(current("a.sh"), 0);
  EXPECT_FALSE(world.is_finished);
  machine.started_all();
  EXPECT_TRUE(world.is_finished);
}

TEST_F(machine_test, the_exit_event_comes_after_the_pipes_are_drained) {
  start({item("a.sh")});
  world.exit(current("a.sh"), 0);
  const auto drained = std::find(world.trace.begin(), world.trace.end(), "drain a.sh");
  const auto exited =
      std::find(world.trace.begin(), world.trace.end(), "event a.sh exited exit_code=0");
  ASSERT_NE(drained, world.trace.end());
  EXPECT_LT(drained, exited);
}

// ---- reload ---------------------------------------------------------------------------------

TEST_F(machine_test, reload_starts_new_restarts_changed_stops_removed_and_keeps_the_rest) {
  start({item("same.sh"), item("changed.sh"), item("removed.sh")});
  const auto same = current("same.sh"), changed = current("changed.sh"),
             removed = current("removed.sh");
  auto faster = restarting(restart_mode::always);
  machine.reload({item("same.sh", faster), item("changed.sh", {}, "v2"), item("new.sh")});
  EXPECT_EQ(current("same.sh"), same) << "untouched";
  EXPECT_TRUE(world.processes.at(same).signals.empty());
  EXPECT_EQ(state("new.sh"), plugin_state::running);
  EXPECT_EQ(state("changed.sh"), plugin_state::replacing);
  EXPECT_EQ(events_of("changed.sh").back(), "stopping signal=SIGTERM reason=reload");
  EXPECT_EQ(state("removed.sh"), plugin_state::retired);
  EXPECT_EQ(events_of("removed.sh").back(), "stopping signal=SIGTERM reason=removed");

  world.exit(changed, 0);
  EXPECT_EQ(state("changed.sh"), plugin_state::running) << "the new file starts once the old ends";
  EXPECT_NE(current("changed.sh"), changed);
  world.exit(removed, 0);
  EXPECT_EQ(state("removed.sh"), plugin_state::retired) << "never starts again";
  // The unchanged plugin's new policy applies to its next run.
  world.exit(same, 0);
  EXPECT_EQ(state("same.sh"), plugin_state::backoff);
}

TEST_F(machine_test, reload_starts_a_changed_plugin_at_once_when_it_was_waiting_to_restart) {
  start({item("a.sh", restarting(restart_mode::on_failure))});
  world.exit(current("a.sh"), 1);
  ASSERT_EQ(state("a.sh"), plugin_state::backoff);
  machine.reload({item("a.sh", restarting(restart_mode::on_failure), "v2")});
  EXPECT_EQ(state("a.sh"), plugin_state::running);
  EXPECT_FALSE(world.timer(timer_key::kind::restart, 1)) << "the pending restart is cancelled";
}

TEST_F(machine_test, a_removed_plugin_waiting_to_restart_never_starts_again) {
  start({item("a.sh", restarting(restart_mode::on_failure)), item("b.sh")});
  world.exit(current("a.sh"), 1);
  machine.reload({item("b.sh")});
  world.advance(1h);
  EXPECT_EQ(state("a.sh"), plugin_state::retired);
  EXPECT_EQ(world.processes.size(), 2u);
}

TEST_F(machine_test, a_plugin_that_failed_still_counts_once_a_reload_removed_it) {
  start({item("fail.sh"), item("long.sh")});
  world.exit(current("fail.sh"), 3);
  machine.reload({item("long.sh")});
  EXPECT_EQ(state("fail.sh"), plugin_state::retired);
  EXPECT_TRUE(machine.any_failed());
}

TEST_F(machine_test, a_failed_plugin_changed_by_a_reload_counts_by_its_new_run) {
  start({item("a.sh"), item("long.sh")});
  world.exit(current("a.sh"), 3);
  machine.reload({item("a.sh", {}, "v2"), item("long.sh")});
  EXPECT_FALSE(machine.any_failed());
  world.exit(current("a.sh"), 0);
  EXPECT_FALSE(machine.any_failed());
}

TEST_F(machine_test, a_reload_during_start_up_is_applied_once_it_is_over) {
  machine.add(item("a.sh"));
  machine.reload({item("a.sh"), item("b.sh")});
  EXPECT_EQ(world.processes.size(), 1u) << "b.sh would start before the start-up added it";
  machine.add(item("c.sh"));  // the rest of the start-up
  machine.started_all();
  EXPECT_EQ(state("b.sh"), plugin_state::running);
  EXPECT_EQ(state("c.sh"), plugin_state::retired) << "the reload's list has no c.sh";
  EXPECT_EQ(current("a.sh"), 2u) << "a.sh untouched";
}

TEST_F(machine_test, a_reload_while_a_plugin_is_replaced_compares_with_the_file_waiting_to_run) {
  auto limited = restarting(restart_mode::never);
  limited.timeout = 1s;
  for (const auto* back_to : {"v2", "v1"}) {  // the same new file again; the old file again
    fake_world w;
    supervision_machine m(w);
    w.machine = &m;
    m.add(item("a.sh"));
    m.started_all();
    const auto old = m.plugins().front().current.value();
    m.reload({item("a.sh", {}, "v2")});
    ASSERT_EQ(m.plugins().front().state, plugin_state::replacing);
    m.reload({item("a.sh", limited, back_to)});  // with a new policy
    w.exit(old, 0);
    const auto fresh = m.plugins().front().current.value();
    w.advance(1s);
    EXPECT_EQ(w.processes.at(fresh).signals, (std::vector<int>{SIGTERM}))
        << "back to " << back_to << ": the new run has the new policy (its timeout)";
  }
}

TEST_F(machine_test, what_an_ended_plugin_left_is_stopped_when_a_reload_changes_or_removes_it) {
  start({item("a.sh"), item("b.sh"), item("long.sh")});
  const auto a = current("a.sh"), b = current("b.sh");
  world.exit(a, 0, /*leaves=*/true);
  world.exit(b, 0, /*leaves=*/true);
  machine.reload({item("a.sh", {}, "v2"), item("long.sh")});
  EXPECT_EQ(world.processes.at(a).signals, (std::vector<int>{SIGTERM}));
  EXPECT_EQ(world.processes.at(b).signals, (std::vector<int>{SIGTERM}));
  EXPECT_EQ(state("a.sh"), plugin_state::running);
}

TEST_F(machine_test, a_removed_plugin_that_comes_back_is_the_same_plugin_again) {
  // Its failure before the removal does not count once it runs again, as for an edited file.
  start({item("a.sh"), item("long.sh")});
  const auto old = current("a.sh");
  world.exit(old, 3);
  machine.reload({item("long.sh")});
  machine.reload({item("a.sh", {}, "v2"), item("long.sh")});
  EXPECT_EQ(state("a.sh"), plugin_state::running);
  EXPECT_EQ(machine.plugins().size(), 2u) << "no second entry for a.sh";
  world.exit(current("a.sh"), 0);
  EXPECT_FALSE(machine.any_failed());
}

TEST_F(machine_test, a_removed_plugin_that_comes_back_waits_for_its_old_run_to_end) {
  start({item("a.sh")});
  const auto old = current("a.sh");
  machine.reload({});
  ASSERT_EQ(state("a.sh"), plugin_state::retired);
  machine.reload({item("a.sh")});
  EXPECT_EQ(world.processes.size(), 1u) << "never two runs of a.sh at once";
  EXPECT_EQ(state("a.sh"), plugin_state::replacing);
  world.exit(old, 0);
  EXPECT_EQ(state("a.sh"), plugin_state::running);
  EXPECT_EQ(world.processes.size(), 2u);
}

TEST_F(machine_test, a_run_already_stopping_does_not_time_out) {
  auto policy = restarting(restart_mode::never);
  policy.timeout = 2s;
  start({item("a.sh", policy)});
  machine.stop("shutdown");
  world.advance(2s);
  EXPECT_EQ(events_of("a.sh").back(), "stopping signal=SIGTERM reason=shutdown");
}

TEST_F(machine_test, nothing_is_reloaded_once_stopping) {
  start({item("a.sh")});
  machine.stop("shutdown");
  machine.reload({item("a.sh"), item("b.sh")});
  EXPECT_EQ(world.processes.size(), 1u);
}

TEST_F(machine_test, an_interval_plugin_starts_every_interval_and_never_gives_up) {
  auto policy = restarting(restart_mode::interval);
  policy.interval = 10s;
  policy.max_restarts = 1;
  start({item("job.sh", policy)});
  world.advance(3s);
  world.exit(current("job.sh"), 1);  // a failed run changes nothing
  EXPECT_EQ(events_of("job.sh").back(), "next_run delay=7");
  world.advance(7s);
  ASSERT_EQ(state("job.sh"), plugin_state::running);
  world.advance(15s);  // longer than the interval: the next follows at once
  world.exit(current("job.sh"), 0);
  EXPECT_EQ(events_of("job.sh").back(), "next_run delay=0");
  for (int i = 0; i < 5; ++i) {
    world.advance(1ms);
    world.exit(current("job.sh"), 2);
    world.advance(10s);
  }
  EXPECT_EQ(state("job.sh"), plugin_state::running) << "max_restarts does not apply";
  EXPECT_FALSE(machine.any_failed());
  EXPECT_EQ(world.processes.size(), 8u);
}

// ---- by hand --------------------------------------------------------------------------------

TEST_F(machine_test, a_plugin_stopped_by_hand_stays_stopped_and_keeps_the_run_going) {
  start({item("a.sh", restarting(restart_mode::always))});
  const auto first = current("a.sh");
  EXPECT_EQ(machine.stop_by_hand("a.sh"), "stopping");
  EXPECT_EQ(events_of("a.sh").back(), "stopping signal=SIGTERM reason=stopped by hand");
  world.exit(first, 0);
  world.advance(1h);
  EXPECT_EQ(state("a.sh"), plugin_state::held);
  EXPECT_EQ(view("a.sh").by_hand, "stopped");
  EXPECT_EQ(world.processes.size(), 1u) << "its restart policy does not start it";
  EXPECT_FALSE(world.is_finished) << "whoever stopped it may start it again";
  EXPECT_FALSE(machine.any_failed());

  EXPECT_EQ(machine.start_by_hand("a.sh"), "started");
  EXPECT_EQ(state("a.sh"), plugin_state::running);
  EXPECT_EQ(view("a.sh").by_hand, "started");
  EXPECT_EQ(machine.start_by_hand("a.sh"), "already running");
  EXPECT_EQ(world.processes.size(), 2u);
}

TEST_F(machine_test, a_plugin_stopped_by_hand_while_waiting_to_restart_does_not_restart) {
  start({item("a.sh", restarting(restart_mode::on_failure)), item("b.sh")});
  world.exit(current("a.sh"), 1);
  ASSERT_EQ(state("a.sh"), plugin_state::backoff);
  EXPECT_EQ(machine.stop_by_hand("a.sh"), "was waiting to restart: it will not");
  world.advance(1h);
  EXPECT_EQ(state("a.sh"), plugin_state::held);
  EXPECT_EQ(world.processes.size(), 2u);
  machine.stop("shutdown");
  world.exit(current("b.sh"), 0);
  EXPECT_TRUE(world.is_finished) << "a plugin held by hand does not hold up a shutdown";
}

TEST_F(machine_test, a_failed_plugin_started_by_hand_starts_its_restarts_in_a_row_anew) {
  auto policy = restarting(restart_mode::on_failure);
  policy.max_restarts = 1;
  start({item("a.sh", policy), item("b.sh")});
  world.exit(current("a.sh"), 1);
  world.advance(1s);
  world.exit(current("a.sh"), 1);
  ASSERT_EQ(state("a.sh"), plugin_state::failed);
  EXPECT_EQ(machine.start_by_hand("a.sh"), "started");
  world.exit(current("a.sh"), 1);
  EXPECT_EQ(state("a.sh"), plugin_state::backoff) << "one restart allowed again";
}

TEST_F(machine_test, restart_by_hand_starts_a_new_run_once_the_old_has_ended) {
  start({item("a.sh")});
  const auto first = current("a.sh");
  EXPECT_EQ(machine.restart_by_hand("a.sh"), "restarting");
  EXPECT_EQ(events_of("a.sh").back(), "stopping signal=SIGTERM reason=restart by hand");
  EXPECT_EQ(world.processes.size(), 1u) << "never two runs at once";
  world.exit(first, 0);
  EXPECT_EQ(state("a.sh"), plugin_state::running);
  EXPECT_NE(current("a.sh"), first);
  EXPECT_EQ(view("a.sh").by_hand, "");
  EXPECT_FALSE(machine.any_failed()) << "a run stopped by hand is no failure";
}

TEST_F(machine_test, start_by_hand_while_the_stop_by_hand_is_under_way_starts_it_after) {
  start({item("a.sh")});
  const auto first = current("a.sh");
  machine.stop_by_hand("a.sh");
  EXPECT_EQ(machine.start_by_hand("a.sh"), "starts once its current run has stopped");
  world.exit(first, 0);
  EXPECT_EQ(state("a.sh"), plugin_state::running);
  EXPECT_EQ(world.processes.size(), 2u);
}

TEST_F(machine_test, restarting_a_stopped_plugin_by_hand_shows_as_started_by_hand) {
  start({item("a.sh"), item("b.sh")});
  machine.stop_by_hand("a.sh");
  world.exit(current("a.sh"), 0);
  ASSERT_EQ(view("a.sh").by_hand, "stopped");
  EXPECT_EQ(machine.restart_by_hand("a.sh"), "started");
  EXPECT_EQ(view("a.sh").by_hand, "started") << "as start would have shown it";
  EXPECT_EQ(machine.restart_by_hand("b.sh"), "restarting");
  EXPECT_EQ(view("b.sh").by_hand, "") << "a running plugin restarted is not started by hand";
}

TEST_F(machine_test, a_reload_forgets_what_was_done_by_hand) {
  start({item("a.sh"), item("b.sh")});
  machine.stop_by_hand("a.sh");
  world.exit(current("a.sh"), 0);
  ASSERT_EQ(view("a.sh").by_hand, "stopped");
  EXPECT_EQ(machine.reload({item("a.sh"), item("b.sh")}).said,
            "reloaded: 0 started, 0 restarted, 0 stopped, 1 stopped by hand started again");
  EXPECT_EQ(state("a.sh"), plugin_state::running) << "the configuration wants it running";
  EXPECT_EQ(view("a.sh").by_hand, "");
}

TEST_F(machine_test, by_hand_names_what_is_wrong) {
  EXPECT_THROW(machine.stop_by_hand("a.sh"), std::invalid_argument) << "still starting";
  start({item("a.sh")});
  try {
    machine.stop_by_hand("nope.sh");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "no plugin named nope.sh");
  }
  world.unstartable.insert("a.sh");
  machine.stop_by_hand("a.sh");
  world.exit(current("a.sh"), 0);
  EXPECT_EQ(machine.start_by_hand("a.sh"), "could not start: no such interpreter");
  machine.stop("shutdown");
  EXPECT_THROW(machine.start_by_hand("a.sh"), std::invalid_argument);
}

TEST_F(machine_test, exits_are_counted_by_code_and_signal) {
  start({item("a.sh", restarting(restart_mode::always))});
  world.exit(current("a.sh"), 3);
  world.advance(1s);
  world.exit(current("a.sh"), 3);
  world.advance(2s);
  world.killed_by(current("a.sh"), SIGKILL);
  EXPECT_EQ(view("a.sh").exit_codes, (std::map<int, std::uint64_t>{{3, 2}}));
  EXPECT_EQ(view("a.sh").exit_signals, (std::map<std::string, std::uint64_t>{{"SIGKILL", 1}}));
}

}  // namespace
}  // namespace plughost::detail

// ---- behaviours each guarded by a test of its own (issue 24's list) --------------------------

namespace plughost::detail {
namespace {

using namespace fakes;

TEST_F(machine_test, a_reload_resumes_a_plugin_still_stopping_by_hand_even_under_restart_never) {
  start({item("a.sh", restarting(restart_mode::never))});
  const auto first = current("a.sh");
  machine.stop_by_hand("a.sh");
  EXPECT_EQ(machine.reload({item("a.sh", restarting(restart_mode::never))}).said,
            "reloaded: 0 started, 0 restarted, 0 stopped, 1 stopped by hand started again");
  world.exit(first, 0);
  EXPECT_EQ(state("a.sh"), plugin_state::running) << "it said it started it again";
  EXPECT_NE(current("a.sh"), first);
}

TEST_F(machine_test, what_an_ended_run_left_is_stopped_before_a_start_by_hand_or_a_resume) {
  start({item("a.sh", restarting(restart_mode::never)),
         item("b.sh", restarting(restart_mode::never))});
  const auto a = current("a.sh");
  const auto b = current("b.sh");
  world.exit(a, 0, /*leaves=*/true);
  world.exit(b, 0, /*leaves=*/true);
  machine.stop_by_hand("b.sh");
  EXPECT_EQ(machine.start_by_hand("a.sh"), "started");
  EXPECT_EQ(world.processes.at(a).signals, (std::vector<int>{SIGTERM}));
  machine.reload({item("a.sh", restarting(restart_mode::never)),
                  item("b.sh", restarting(restart_mode::never))});
  EXPECT_EQ(world.processes.at(b).signals, (std::vector<int>{SIGTERM}));
  EXPECT_EQ(state("b.sh"), plugin_state::running);
}

TEST_F(machine_test, a_file_a_reload_changes_counts_its_restarts_anew_waiting_or_running) {
  auto policy = restarting(restart_mode::always);
  start({item("a.sh", policy), item("b.sh", policy)});
  for (int i = 0; i < 3; ++i) {
    world.exit(current("a.sh"), 1);
    world.exit(current("b.sh"), 1);
    world.advance(8s);
  }
  world.exit(current("a.sh"), 1);  // a.sh waits for its 4th restart; b.sh runs its 3rd
  ASSERT_EQ(view("a.sh").restarts_in_a_row, 4);
  ASSERT_EQ(view("b.sh").restarts_in_a_row, 3);
  machine.reload({item("a.sh", policy, "v2"), item("b.sh", policy, "v2")});
  world.exit(current("b.sh"), 0);  // the replaced run ends: the new file starts
  world.exit(current("a.sh"), 1);
  world.exit(current("b.sh"), 1);
  EXPECT_EQ(events_of("a.sh").back(), "restarting attempt=1 delay=1");
  EXPECT_EQ(events_of("b.sh").back(), "restarting attempt=1 delay=1");
}

TEST_F(machine_test, a_plugin_stopped_by_hand_while_replaced_does_not_start_its_new_file) {
  start({item("a.sh"), item("b.sh")});
  const auto old = current("a.sh");
  machine.reload({item("a.sh", {}, "v2"), item("b.sh")});
  ASSERT_EQ(state("a.sh"), plugin_state::replacing);
  EXPECT_EQ(machine.stop_by_hand("a.sh"), "stopping");
  world.exit(old, 0);
  EXPECT_EQ(state("a.sh"), plugin_state::held);
  EXPECT_EQ(world.spawns, 2u);
  machine.start_by_hand("a.sh");
  EXPECT_EQ(world.processes.at(current("a.sh")).plugin, "a.sh");
  EXPECT_EQ(machine.reload({item("a.sh", {}, "v2"), item("b.sh")}).said,
            "reloaded: 0 started, 0 restarted, 0 stopped")
      << "the file it started by hand is the new one";
}

TEST_F(machine_test, a_plugin_stopped_by_hand_then_removed_lets_the_run_finish) {
  start({item("a.sh", restarting(restart_mode::never))});
  machine.stop_by_hand("a.sh");
  world.exit(current("a.sh"), 0);
  ASSERT_FALSE(world.is_finished) << "stopped by hand keeps the run going";
  machine.reload({});
  EXPECT_TRUE(world.is_finished);
}

TEST_F(machine_test, the_recheck_of_what_a_run_left_doubles_up_to_a_minute) {
  start({item("a.sh", restarting(restart_mode::never))});
  const auto run = current("a.sh");
  world.exit(run, 0, /*leaves=*/true);
  std::vector<clock::duration> gaps;
  for (int i = 0; i < 12; ++i) {
    const auto at = world.timer(timer_key::kind::recheck, run).value();
    gaps.push_back(at - world.now());
    world.advance(at - world.now());
  }
  EXPECT_EQ(gaps.front(), clock::duration(100ms));
  EXPECT_EQ(gaps[1], clock::duration(200ms));
  EXPECT_EQ(gaps.back(), clock::duration(60s));
}

TEST_F(machine_test, a_cap_on_the_stop_grace_never_makes_a_sooner_kill_later) {
  auto quick = restarting(restart_mode::never);
  quick.stop_timeout = 2s;
  start({item("a.sh", quick)});
  const auto run = current("a.sh");
  machine.stop("shutdown");
  machine.cap_stop_grace(10s, "parent exited");
  world.advance(2s);
  EXPECT_EQ(world.processes.at(run).signals, (std::vector<int>{SIGTERM, SIGKILL}));
}

TEST_F(machine_test, a_run_being_killed_is_not_stopped_again_nor_its_kill_grace_deferred) {
  auto quick = restarting(restart_mode::never);
  quick.stop_timeout = 2s;
  start({item("a.sh", quick), item("b.sh")});
  const auto run = current("a.sh");
  machine.stop_by_hand("a.sh");
  world.advance(2s);  // the stop timeout: SIGKILL
  ASSERT_EQ(world.processes.at(run).signals, (std::vector<int>{SIGTERM, SIGKILL}));
  const auto grace_ends = world.timer(timer_key::kind::stop, run).value();
  world.advance(500ms);
  machine.reload({item("b.sh")});  // removed: stopped again?
  EXPECT_EQ(world.processes.at(run).signals, (std::vector<int>{SIGTERM, SIGKILL}));
  EXPECT_EQ(world.timer(timer_key::kind::stop, run).value(), grace_ends);
}

TEST_F(machine_test, a_could_not_start_does_not_outlive_a_good_start) {
  world.unstartable.insert("a.sh");
  start({item("a.sh", restarting(restart_mode::never)), item("b.sh")});
  ASSERT_EQ(state("a.sh"), plugin_state::failed);
  ASSERT_TRUE(machine.any_failed());
  world.unstartable.clear();
  EXPECT_EQ(machine.start_by_hand("a.sh"), "started");
  EXPECT_FALSE(machine.any_failed());
  world.exit(current("a.sh"), 0);
  machine.stop_by_hand("a.sh");
  EXPECT_EQ(machine.start_by_hand("a.sh"), "started");
}

TEST_F(machine_test, a_restart_by_hand_and_the_by_hand_mark_end_where_they_should) {
  start({item("a.sh", restarting(restart_mode::never)), item("b.sh")});
  const auto first = current("a.sh");
  machine.restart_by_hand("a.sh");
  machine.stop_by_hand("a.sh");  // the restart is off
  world.exit(first, 0);
  EXPECT_EQ(state("a.sh"), plugin_state::held);
  machine.start_by_hand("a.sh");
  EXPECT_EQ(view("a.sh").by_hand, "started");
  machine.reload({item("a.sh", restarting(restart_mode::never)), item("b.sh")});
  EXPECT_EQ(view("a.sh").by_hand, "") << "a reload forgets it";
  const auto second = current("a.sh");
  machine.restart_by_hand("a.sh");
  machine.reload({item("b.sh")});  // removed while restarting: it never starts again
  world.exit(second, 0);
  EXPECT_EQ(state("a.sh"), plugin_state::retired);
}

TEST_F(machine_test, a_reload_gives_the_next_run_the_new_environment) {
  start({item("a.sh", restarting(restart_mode::always))});
  auto changed = item("a.sh", restarting(restart_mode::always));
  changed.environment.own = {"LEVEL=debug"};
  machine.reload({changed});
  const auto first = current("a.sh");
  world.exit(first, 1);
  world.advance(1s);
  EXPECT_EQ(world.environments.at(current("a.sh")), (std::vector<std::string>{"LEVEL=debug"}));
}

}  // namespace
}  // namespace plughost::detail
