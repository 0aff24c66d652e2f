// Supervision as three tables, (state, event) → (action, the states it may end in): the whole
// run's, a plugin's and a run's. Every transition of supervision_machine.cpp goes through a cell
// here, and docs/architecture.md shows these tables as markdown_tables() writes them (a test
// checks that the two agree). Row by row, each a state; column by column, each an event.
//
// Besides its state, a plugin record keeps data that no transition reads, only what it reports:
// `started_by_hand` (status says "started" by hand), `failed_for_good` (the exit code: a
// failed plugin a reload then retires still failed), `start_error`, counters. A run keeps
// `timed_out` (why it was stopped: a time limit it went past is its failure, a stop by
// plughost is not) and its held exit status. None of these chooses a transition.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "supervision/supervision_states.hpp"

namespace plughost::detail {

/// What a cell does: supervision_machine.cpp has one function per action.
enum class phase_action : std::uint8_t {
  nothing,
  start_running,
  stop_all,
  kill_if_repeated,
  cap_then_stop,
  shorten_stops,
  defer_reload,
  apply_reload,
  ignore_reload,
  finish_if_idle,
};
enum class plugin_action : std::uint8_t {
  nothing,
  impossible,
  by_policy,
  restart,
  start,
  start_replacement,
  start_again,
  keep_policy,
  resume_now,
  resume_after,
  replace_now,
  replace_after,
  replace_newer,
  retire,
  come_back,
  hold,
  hold_after,
  hold_replacement,
  start_after,
  start_if_stopping,
  restart_run,
  shut,
  stopped_now,
  end_held,
  end_stopped,
  note_start,
  start_waited,
  gate_timed_out,
  fail_waiting,
  lose_requirement,
};
enum class run_action : std::uint8_t {
  nothing,
  impossible,
  exit,
  hold_exit,
  exit_held,
  time_out,
  signal_stop,
  signal_kill,
  kill_late,
  close_held,
  recheck_later,
  shorten,
  exit_then_stop,
  fail_health,
};
enum class health_action : std::uint8_t {
  nothing,
  mark_ready,
  mark_unhealthy,
  feed_watchdog,
  fail_run,
};

template <typename Action>
struct transition {
  Action act = Action::nothing;
  std::uint32_t next = 0;    ///< the states it may end in, as bits (0: it stays as it is)
  std::string_view does;     ///< in words, for the docs
  std::string_view reply{};  ///< by hand: what the caller is told, unless the action says
};

template <typename... States>
constexpr std::uint32_t to(States... s) {
  return ((std::uint32_t{1} << static_cast<unsigned>(s)) | ...);
}

using phase_cell = transition<phase_action>;
using plugin_cell = transition<plugin_action>;
using run_cell = transition<run_action>;
using health_cell = transition<health_action>;

// clang-format off
// ---- the whole run --------------------------------------------------------------------------
// Columns: started_all, stop, stop_again, cap_grace, reload, nothing_left.
inline constexpr std::array<std::array<phase_cell, 6>, 4> phase_table{{
  /* starting */ {{
    {phase_action::start_running, to(run_phase::running), "apply a reload that waited → running"},
    {phase_action::stop_all, to(run_phase::stopping), "stop every plugin and run → stopping"},
    {phase_action::stop_all, to(run_phase::stopping), "as stop"},
    {phase_action::cap_then_stop, to(run_phase::stopping), "cap, then as stop"},
    {phase_action::defer_reload, 0, "keep it until start-up is over (the latest wins)"},
    {phase_action::nothing, 0, "— (start-up cannot finish the run)"}}},
  /* running */ {{
    {phase_action::nothing, 0, "—"},
    {phase_action::stop_all, to(run_phase::stopping), "stop every plugin and run → stopping"},
    {phase_action::stop_all, to(run_phase::stopping), "as stop"},
    {phase_action::cap_then_stop, to(run_phase::stopping), "cap, then as stop"},
    {phase_action::apply_reload, 0, "each plugin hears its reload event"},
    {phase_action::finish_if_idle, to(run_phase::running, run_phase::finished),
     "→ finished, unless a plugin is in backoff or held"}}},
  /* stopping */ {{
    {phase_action::nothing, 0, "—"},
    {phase_action::nothing, 0, "— (once is enough)"},
    {phase_action::kill_if_repeated, 0, "a second later or more: SIGKILL to every run"},
    {phase_action::shorten_stops, 0, "every run hears cap_grace"},
    {phase_action::ignore_reload, 0, "ignored: plughost is stopping"},
    {phase_action::finish_if_idle, to(run_phase::finished), "→ finished"}}},
  /* finished */ {{
    {phase_action::nothing, 0, "—"}, {phase_action::nothing, 0, "—"},
    {phase_action::nothing, 0, "—"}, {phase_action::nothing, 0, "—"},
    {phase_action::ignore_reload, 0, "ignored"}, {phase_action::nothing, 0, "—"}}},
}};

// ---- a plugin -------------------------------------------------------------------------------
// Columns: run_ended, restart_due, reload_same, reload_changed, reload_removed, stop_by_hand,
// start_by_hand, restart_by_hand, shutdown, may_start, gate_failed, required_failed. "Start" is: cancel the restart timer, stop what
// earlier runs left in their groups, restarts in a row back to 0, spawn (a spawn that fails is
// a run that ended in failure), unless the plugin must wait (docs/health.md): then waiting,
// where the last three events come (only there, and required_failed in running too, and
// may_start in failed, to a plugin that failed for what it requires once that is back; the
// machine sends them to no other state). A reload's "by hand" is forgotten: the configuration
// decides.
// Stopping a run whose exit waits for room (draining) ends it at once: a cell that stops the
// run may also end where the run's end leads.
inline constexpr auto starts = to(plugin_state::running, plugin_state::backoff,
                                   plugin_state::exited, plugin_state::failed,
                                   plugin_state::waiting);
inline constexpr std::array<std::array<plugin_cell, plugin_event_count>, plugin_state_count>
    plugin_table{{
  /* starting */ {{
    {plugin_action::by_policy, starts, "could not start: by the policy"},
    {plugin_action::impossible, 0, "(a spawn is synchronous)"},
    {plugin_action::impossible, 0, "(a spawn is synchronous)"},
    {plugin_action::impossible, 0, "(a spawn is synchronous)"},
    {plugin_action::impossible, 0, "(a spawn is synchronous)"},
    {plugin_action::impossible, 0, "(a spawn is synchronous)"},
    {plugin_action::impossible, 0, "(a spawn is synchronous)"},
    {plugin_action::impossible, 0, "(a spawn is synchronous)"},
    {plugin_action::impossible, 0, "(a spawn is synchronous)"},
    {plugin_action::impossible, 0, "(a spawn is synchronous)"},
    {plugin_action::impossible, 0, "(a spawn is synchronous)"},
    {plugin_action::impossible, 0, "(a spawn is synchronous)"}}},
  /* running */ {{
    {plugin_action::by_policy, to(plugin_state::backoff, plugin_state::exited, plugin_state::failed),
     "by the policy: backoff (restart timer), exited, or failed (gave_up)"},
    {plugin_action::impossible, 0, "(its timer was cancelled)"},
    {plugin_action::keep_policy, 0, "new policy and environment for its next run"},
    {plugin_action::replace_after, to(plugin_state::replacing) | starts, "stop the run → replacing"},
    {plugin_action::retire, to(plugin_state::retired), "stop the run → retired"},
    {plugin_action::hold_after, to(plugin_state::stopping_by_hand, plugin_state::held), "stop the run → stopping_by_hand", "stopping"},
    {plugin_action::start_if_stopping, to(plugin_state::running, plugin_state::restarting),
     "a run a time limit is stopping → restarting; else —", "already running"},
    {plugin_action::restart_run, to(plugin_state::restarting) | starts, "stop the run → restarting", "restarting"},
    {plugin_action::shut, to(plugin_state::stopping, plugin_state::stopped), "→ stopping"},
    {plugin_action::impossible, 0, "(not waiting)"},
    {plugin_action::impossible, 0, "(not waiting)"},
    {plugin_action::lose_requirement, to(plugin_state::restarting) | starts,
     "stop the run → restarting (its next start finds it failed)"}}},
  /* stopping_by_hand */ {{
    {plugin_action::end_held, to(plugin_state::held), "→ held"},
    {plugin_action::impossible, 0, "(no timer)"},
    {plugin_action::resume_after, to(plugin_state::restarting), "new policy → restarting"},
    {plugin_action::replace_after, to(plugin_state::replacing) | starts, "→ replacing"},
    {plugin_action::retire, to(plugin_state::retired), "→ retired"},
    {plugin_action::nothing, 0, "—", "stopping"},
    {plugin_action::start_after, to(plugin_state::restarting), "→ restarting",
     "starts once its current run has stopped"},
    {plugin_action::start_after, to(plugin_state::restarting), "→ restarting", "restarting"},
    {plugin_action::shut, to(plugin_state::stopping, plugin_state::stopped), "→ stopping"},
    {plugin_action::impossible, 0, "(not waiting)"},
    {plugin_action::impossible, 0, "(not waiting)"},
    {plugin_action::impossible, 0, "(not waiting)"}}},
  /* restarting */ {{
    {plugin_action::start_again, starts, "start"},
    {plugin_action::impossible, 0, "(no timer)"},
    {plugin_action::keep_policy, 0, "new policy and environment for its next run"},
    {plugin_action::replace_after, to(plugin_state::replacing) | starts, "→ replacing"},
    {plugin_action::retire, to(plugin_state::retired), "→ retired"},
    {plugin_action::hold_after, to(plugin_state::stopping_by_hand, plugin_state::held), "→ stopping_by_hand", "stopping"},
    {plugin_action::note_start, 0, "—", "starts once its current run has stopped"},
    {plugin_action::nothing, 0, "—", "restarting"},
    {plugin_action::shut, to(plugin_state::stopping, plugin_state::stopped), "→ stopping"},
    {plugin_action::impossible, 0, "(not waiting)"},
    {plugin_action::impossible, 0, "(not waiting)"},
    {plugin_action::impossible, 0, "(not waiting)"}}},
  /* replacing */ {{
    {plugin_action::start_replacement, starts, "start the new file"},
    {plugin_action::impossible, 0, "(no timer)"},
    {plugin_action::keep_policy, 0, "the same as the file waiting: new policy for it"},
    {plugin_action::replace_newer, 0, "the newer file waits instead"},
    {plugin_action::retire, to(plugin_state::retired), "→ retired"},
    {plugin_action::hold_replacement, to(plugin_state::stopping_by_hand),
     "the new file is its file → stopping_by_hand", "stopping"},
    {plugin_action::note_start, 0, "—", "starts once its current run has stopped"},
    {plugin_action::nothing, 0, "—", "restarting already (a reload changed its file)"},
    {plugin_action::shut, to(plugin_state::stopping, plugin_state::stopped), "forget the new file → stopping"},
    {plugin_action::impossible, 0, "(not waiting)"},
    {plugin_action::impossible, 0, "(not waiting)"},
    {plugin_action::impossible, 0, "(not waiting)"}}},
  /* stopping */ {{
    {plugin_action::end_stopped, to(plugin_state::stopped), "→ stopped"},
    {plugin_action::impossible, 0, "(no timer)"},
    {plugin_action::impossible, 0, "(no reload while stopping)"},
    {plugin_action::impossible, 0, "(no reload while stopping)"},
    {plugin_action::impossible, 0, "(no reload while stopping)"},
    {plugin_action::impossible, 0, "(refused while stopping)"},
    {plugin_action::impossible, 0, "(refused while stopping)"},
    {plugin_action::impossible, 0, "(refused while stopping)"},
    {plugin_action::impossible, 0, "(the shutdown happens once)"},
    {plugin_action::impossible, 0, "(not waiting)"},
    {plugin_action::impossible, 0, "(not waiting)"},
    {plugin_action::impossible, 0, "(not waiting)"}}},
  /* backoff */ {{
    {plugin_action::impossible, 0, "(no run)"},
    {plugin_action::restart, to(plugin_state::running, plugin_state::backoff, plugin_state::exited,
                                plugin_state::failed, plugin_state::waiting),
     "start a run; while its block sink is full, wait for room"},
    {plugin_action::keep_policy, 0, "new policy for its next run"},
    {plugin_action::replace_now, starts, "start the new file"},
    {plugin_action::retire, to(plugin_state::retired), "cancel the timer → retired"},
    {plugin_action::hold, to(plugin_state::held), "cancel the timer → held",
     "was waiting to restart: it will not"},
    {plugin_action::start, starts, "start"},
    {plugin_action::start, starts, "start"},
    {plugin_action::stopped_now, to(plugin_state::stopped), "cancel the timer → stopped"},
    {plugin_action::impossible, 0, "(not waiting)"},
    {plugin_action::impossible, 0, "(not waiting)"},
    {plugin_action::impossible, 0, "(not waiting)"}}},
  /* held */ {{
    {plugin_action::impossible, 0, "(no run)"},
    {plugin_action::impossible, 0, "(no timer)"},
    {plugin_action::resume_now, starts, "new policy, start"},
    {plugin_action::replace_now, starts, "start the new file"},
    {plugin_action::retire, to(plugin_state::retired), "→ retired"},
    {plugin_action::nothing, 0, "—", "was not running"},
    {plugin_action::start, starts, "start"},
    {plugin_action::start, starts, "start"},
    {plugin_action::nothing, 0, "—"},
    {plugin_action::impossible, 0, "(not waiting)"},
    {plugin_action::impossible, 0, "(not waiting)"},
    {plugin_action::impossible, 0, "(not waiting)"}}},
  /* exited */ {{
    {plugin_action::impossible, 0, "(no run)"},
    {plugin_action::impossible, 0, "(no timer)"},
    {plugin_action::keep_policy, 0, "new policy for its next run"},
    {plugin_action::replace_now, starts, "start the new file"},
    {plugin_action::retire, to(plugin_state::retired), "→ retired"},
    {plugin_action::hold, to(plugin_state::held), "→ held", "was not running"},
    {plugin_action::start, starts, "start"},
    {plugin_action::start, starts, "start"},
    {plugin_action::nothing, 0, "—"},
    {plugin_action::impossible, 0, "(not waiting)"},
    {plugin_action::impossible, 0, "(not waiting)"},
    {plugin_action::impossible, 0, "(not waiting)"}}},
  /* failed */ {{
    {plugin_action::impossible, 0, "(no run)"},
    {plugin_action::impossible, 0, "(no timer)"},
    {plugin_action::keep_policy, 0, "new policy for its next run"},
    {plugin_action::replace_now, starts, "start the new file"},
    {plugin_action::retire, to(plugin_state::retired), "→ retired (still failed)"},
    {plugin_action::hold, to(plugin_state::held), "→ held", "was not running"},
    {plugin_action::start, starts, "start"},
    {plugin_action::start, starts, "start"},
    {plugin_action::nothing, 0, "—"},
    {plugin_action::start_again, starts,
     "failed for a plugin it requires, which is back: start (restarts in a row at zero)"},
    {plugin_action::impossible, 0, "(not waiting)"},
    {plugin_action::impossible, 0, "(not waiting)"}}},
  /* stopped */ {{
    {plugin_action::impossible, 0, "(no run)"},
    {plugin_action::impossible, 0, "(no timer)"},
    {plugin_action::impossible, 0, "(no reload while stopping)"},
    {plugin_action::impossible, 0, "(no reload while stopping)"},
    {plugin_action::impossible, 0, "(no reload while stopping)"},
    {plugin_action::impossible, 0, "(refused while stopping)"},
    {plugin_action::impossible, 0, "(refused while stopping)"},
    {plugin_action::impossible, 0, "(refused while stopping)"},
    {plugin_action::impossible, 0, "(the shutdown happens once)"},
    {plugin_action::impossible, 0, "(not waiting)"},
    {plugin_action::impossible, 0, "(not waiting)"},
    {plugin_action::impossible, 0, "(not waiting)"}}},
  /* retired */ {{
    {plugin_action::nothing, 0, "—"},
    {plugin_action::impossible, 0, "(its timer was cancelled)"},
    {plugin_action::impossible, 0, "(back counts as changed)"},
    {plugin_action::come_back, to(plugin_state::replacing) | starts,
     "back: replacing while its old run is being stopped, else start the new file"},
    {plugin_action::impossible, 0, "(no longer in the configuration)"},
    {plugin_action::impossible, 0, "(not found by name)"},
    {plugin_action::impossible, 0, "(not found by name)"},
    {plugin_action::impossible, 0, "(not found by name)"},
    {plugin_action::nothing, 0, "—"},
    {plugin_action::impossible, 0, "(not waiting)"},
    {plugin_action::impossible, 0, "(not waiting)"},
    {plugin_action::impossible, 0, "(not waiting)"}}},
  /* waiting */ {{
    {plugin_action::impossible, 0, "(no run)"},
    {plugin_action::impossible, 0, "(no timer)"},
    {plugin_action::keep_policy, 0, "new policy: what it waits for is looked at again"},
    {plugin_action::replace_now, starts, "start the new file (or wait again)"},
    {plugin_action::retire, to(plugin_state::retired), "stop waiting → retired"},
    {plugin_action::hold, to(plugin_state::held), "stop waiting → held",
     "was waiting to start: it will not"},
    {plugin_action::nothing, 0, "—", "waiting: it starts once what it waits for is there"},
    {plugin_action::nothing, 0, "—", "waiting: it starts once what it waits for is there"},
    {plugin_action::stopped_now, to(plugin_state::stopped), "stop waiting → stopped"},
    {plugin_action::start_waited, starts, "start (its restarts in a row kept)"},
    {plugin_action::gate_timed_out, to(plugin_state::backoff, plugin_state::exited, plugin_state::failed),
     "`error` event, then by the policy, as a run that failed"},
    {plugin_action::fail_waiting, to(plugin_state::failed), "`error` event → failed"}}},
}};

// ---- a run ----------------------------------------------------------------------------------
// Columns: main_exit, exit_held, exit_drained, time_limit, stop, kill, stop_timer, recheck,
// cap_grace, unhealthy. "Exit" is: drain its pipes, the `exited` record, its plugin hears run_ended. A run
// is released (gone) once its main process has exited and the plugin heard of it, its pipes are
// closed and no process of it is left, whatever its state.
inline constexpr std::array<std::array<run_cell, run_event_count>, run_state_count> run_table{{
  /* running */ {{
    {run_action::exit, to(run_state::lingering, run_state::lingering_stopping),
     "exit → lingering (stop what is left if the plugin runs again)"},
    {run_action::hold_exit, to(run_state::draining), "cancel the time limit → draining"},
    {run_action::impossible, 0, "(not held)"},
    {run_action::time_out, to(run_state::stopping), "`timed_out`, stop signal → stopping"},
    {run_action::signal_stop, to(run_state::stopping), "stop signal → stopping (stop timeout)"},
    {run_action::impossible, 0, "(the stop stopped every run)"},
    {run_action::impossible, 0, "(no stop timer)"},
    {run_action::impossible, 0, "(main process runs)"},
    {run_action::impossible, 0, "(the stop stopped every run)"},
    {run_action::fail_health, to(run_state::stopping), "its health failed: stop signal → stopping (a failure)"}}},
  /* stopping */ {{
    {run_action::exit, to(run_state::lingering_stopping), "exit → lingering_stopping"},
    {run_action::exit_held, to(run_state::lingering_stopping), "exit now → lingering_stopping"},
    {run_action::impossible, 0, "(not held)"},
    {run_action::nothing, 0, "—"},
    {run_action::nothing, 0, "— (not sent again)"},
    {run_action::signal_kill, to(run_state::killing), "SIGKILL → killing"},
    {run_action::kill_late, to(run_state::killing), "SIGKILL → killing (kill grace)"},
    {run_action::impossible, 0, "(main process runs)"},
    {run_action::shorten, 0, "SIGKILL sooner, never later"},
    {run_action::impossible, 0, "(a run being stopped hears nothing of its health)"}}},
  /* killing */ {{
    {run_action::exit, to(run_state::lingering_killing), "exit → lingering_killing"},
    {run_action::exit_held, to(run_state::lingering_killing), "exit now → lingering_killing"},
    {run_action::impossible, 0, "(not held)"},
    {run_action::nothing, 0, "—"},
    {run_action::nothing, 0, "—"},
    {run_action::nothing, 0, "— (not sent again)"},
    {run_action::close_held, 0, "close its pipes if still held"},
    {run_action::impossible, 0, "(main process runs)"},
    {run_action::nothing, 0, "—"},
    {run_action::impossible, 0, "(a run being stopped hears nothing of its health)"}}},
  /* draining */ {{
    {run_action::impossible, 0, "(reaped already)"},
    {run_action::impossible, 0, "(reaped already)"},
    {run_action::exit, to(run_state::lingering, run_state::lingering_stopping),
     "exit (read already) → lingering"},
    {run_action::impossible, 0, "(limit cancelled)"},
    {run_action::exit_then_stop, to(run_state::lingering, run_state::lingering_stopping),
     "exit now (read it all), stop signal to what is left → lingering_stopping"},
    {run_action::impossible, 0, "(the stop stopped every run)"},
    {run_action::impossible, 0, "(no stop timer)"},
    {run_action::impossible, 0, "(not armed yet)"},
    {run_action::impossible, 0, "(the stop stopped every run)"},
    {run_action::impossible, 0, "(its watchdog was cancelled)"}}},
  /* lingering */ {{
    {run_action::impossible, 0, "(reaped already)"},
    {run_action::impossible, 0, "(reaped already)"},
    {run_action::impossible, 0, "(not held)"},
    {run_action::impossible, 0, "(limit cancelled)"},
    {run_action::signal_stop, to(run_state::lingering, run_state::lingering_stopping),
     "stop signal to what is left → lingering_stopping"},
    {run_action::impossible, 0, "(the stop stopped every run)"},
    {run_action::impossible, 0, "(no stop timer)"},
    {run_action::recheck_later, 0, "look again after twice as long (up to a minute)"},
    {run_action::impossible, 0, "(the stop stopped every run)"},
    {run_action::impossible, 0, "(its watchdog was cancelled)"}}},
  /* lingering_stopping */ {{
    {run_action::impossible, 0, "(reaped already)"},
    {run_action::impossible, 0, "(reaped already)"},
    {run_action::impossible, 0, "(not held)"},
    {run_action::impossible, 0, "(limit cancelled)"},
    {run_action::nothing, 0, "— (not sent again)"},
    {run_action::signal_kill, to(run_state::lingering_stopping, run_state::lingering_killing),
     "SIGKILL → lingering_killing"},
    {run_action::kill_late, to(run_state::lingering_stopping, run_state::lingering_killing),
     "SIGKILL → lingering_killing"},
    {run_action::recheck_later, 0, "look again after twice as long"},
    {run_action::shorten, 0, "SIGKILL sooner, never later"},
    {run_action::impossible, 0, "(its watchdog was cancelled)"}}},
  /* lingering_killing */ {{
    {run_action::impossible, 0, "(reaped already)"},
    {run_action::impossible, 0, "(reaped already)"},
    {run_action::impossible, 0, "(not held)"},
    {run_action::impossible, 0, "(limit cancelled)"},
    {run_action::nothing, 0, "—"},
    {run_action::nothing, 0, "— (not sent again)"},
    {run_action::close_held, 0, "close its pipes if still held"},
    {run_action::recheck_later, 0, "look again after twice as long"},
    {run_action::nothing, 0, "—"},
    {run_action::impossible, 0, "(its watchdog was cancelled)"}}},
}};

// ---- a run's health -------------------------------------------------------------------------
// Columns: ready, not_ready, watchdog, failed. What the run says, and what its probes find,
// change its health; only `failed` (its watchdog's silence, a failed liveness or startup probe)
// acts on the run, through its `unhealthy` event.
inline constexpr std::array<std::array<health_cell, health_event_count>, health_state_count>
    health_table{{
  /* starting */ {{
    {health_action::mark_ready, to(health_state::ready), "`ready` event → ready"},
    {health_action::nothing, 0, "— (not ready yet)"},
    {health_action::feed_watchdog, 0, "its watchdog starts again"},
    {health_action::fail_run, 0, "why (`watchdog` or `probe` event); the run hears unhealthy"}}},
  /* ready */ {{
    {health_action::nothing, 0, "—"},
    {health_action::mark_unhealthy, to(health_state::unhealthy), "→ unhealthy"},
    {health_action::feed_watchdog, 0, "its watchdog starts again"},
    {health_action::fail_run, 0, "why (`watchdog` or `probe` event); the run hears unhealthy"}}},
  /* unhealthy */ {{
    {health_action::mark_ready, to(health_state::ready), "`ready` event → ready"},
    {health_action::nothing, 0, "—"},
    {health_action::feed_watchdog, 0, "its watchdog starts again"},
    {health_action::fail_run, 0, "why (`watchdog` or `probe` event); the run hears unhealthy"}}},
}};
// clang-format on

/// The four tables in Markdown, as docs/architecture.md shows them.
std::string markdown_tables();

}  // namespace plughost::detail
