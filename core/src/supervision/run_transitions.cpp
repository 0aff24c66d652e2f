// A run's actions, as the cells of run_table (supervision_table.hpp) name them: its exit, its
// time limit, its stop sequence (stop signal, SIGKILL at the stop timeout, its pipes closed
// after the kill grace), and looking again at what it left.
#include <fmt/format.h>
#include <signal.h>

#include <cmath>

#include "common/log.hpp"
#include "plughost/events.hpp"
#include "plughost/sink_helpers.hpp"
#include "supervision/supervision_machine.hpp"

namespace plughost::detail {

namespace {

constexpr std::chrono::milliseconds recheck_first{100};
constexpr std::chrono::seconds recheck_longest{60};

double seconds(std::chrono::nanoseconds d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

std::string signal_name(int signal) {
  if (const char* abbrev = ::sigabbrev_np(signal)) return std::string("SIG") + abbrev;
  return "SIG" + std::to_string(signal);
}

void supervision_machine::act(run& r, run_action a, const run_input& in) {
  switch (a) {
    case run_action::nothing:
    case run_action::impossible:
      return;
    case run_action::exit:
    case run_action::exit_held:
      // exit_drained brings no status: a held exit's is the one kept when it was held.
      return exit(r, r.state == run_state::draining ? r.held_exit : in.status);
    case run_action::hold_exit:
      r.held_exit = in.status;
      port_.cancel({timer_key::kind::limit, r.id});  // it ended in time, whatever it wrote
      cancel_health_timers(r);
      r.state = run_state::draining;
      return;
    case run_action::time_out:
      return time_out(r);
    case run_action::fail_health:
      return signal_stop(r, r.unhealthy_for);
    case run_action::signal_stop:
      return signal_stop(r, in.reason);
    case run_action::kill_late:  // a warning only for the plugin itself; what it left is killed
      if (r.state == run_state::stopping) {
        log().warn("plugin {} did not stop in time: sending SIGKILL", visible_name(r.name));
      }
      [[fallthrough]];
    case run_action::signal_kill:
      return signal_kill(r);
    case run_action::close_held:
      return close_held_output(r);
    case run_action::recheck_later:
      return recheck_later(r);
    case run_action::shorten:
      if (r.stop_deadline > port_.now() + in.cap) arm_stop(r, in.cap);
      return;
    case run_action::exit_then_stop:  // its exit first: the plugin may stop what is left itself
      exit(r, r.held_exit);
      if (r.state == run_state::lingering) signal_stop(r, in.reason);
      return;
  }
}

// Its main process ended: what it wrote first (drained now), then `exited`, then its plugin
// hears of it. A run that plughost had signalled did not fail, unless it went past its time
// limit.
void supervision_machine::exit(run& r, exit_status status) {
  port_.drain_output(r.id);
  port_.cancel({timer_key::kind::limit, r.id});
  cancel_health_timers(r);
  const bool signalled = r.state == run_state::stopping || r.state == run_state::killing;
  r.state = r.state == run_state::stopping  ? run_state::lingering_stopping
            : r.state == run_state::killing ? run_state::lingering_killing
                                            : run_state::lingering;
  ended_.insert(r.id);
  bool failed = status.by_signal || status.value != 0;
  if (!status.by_signal) {
    const event_field fields[] = {{"exit_code", std::int64_t{status.value}}};
    port_.event(r.name, r.pid, events::exited, fields);
  } else {
    const auto name = signal_name(status.value);
    const event_field fields[] = {{"signal", std::string_view(name)},
                                  {"reason", std::string_view("oom_killed")}};
    port_.event(r.name, r.pid, events::exited, std::span(fields, status.oom_killed ? 2 : 1));
  }
  if (signalled && !r.timed_out && r.unhealthy_for.empty()) failed = false;
  auto* p = find_plugin(r.owner);
  if (!p) return;
  if (status.by_signal) ++p->exit_signals[signal_name(status.value)];
  if (!status.by_signal) ++p->exit_codes[status.value];
  if (p->current == r.id) {
    p->current.reset();
    p->last_exit = status;
    on(*p, plugin_event::run_ended, {{}, failed, port_.now() - r.started});
  }
  // Background processes of a plugin that runs again must not pile up beside its next run.
  if ((p->current || p->state == plugin_state::backoff) && port_.group_alive(r.pid)) {
    on(r, run_event::stop, {{}, "restart"});
  }
}

void supervision_machine::time_out(run& r) {
  r.timed_out = true;
  const auto limit = seconds(*r.policy.timeout);
  log().warn("plugin {} ran longer than its timeout of {}s: stopping it", visible_name(r.name),
             limit);
  const event_field fields[] = {{"timeout", limit}};
  port_.event(r.name, r.pid, events::timed_out, fields);
  signal_stop(r, "timeout");
}

// Its stop signal to the whole group (to what is left of it once the main process has
// exited); SIGKILL once its stop timeout has passed.
void supervision_machine::signal_stop(run& r, std::string_view reason) {
  if (done(r)) return;
  const bool main_runs = !main_ended(r.state);
  const int sig = r.policy.stop_signal;
  if (main_runs || port_.group_alive(r.pid)) {
    const auto name = signal_name(sig);
    const event_field fields[] = {{"signal", std::string_view(name)}, {"reason", reason}};
    port_.event(r.name, r.pid, events::stopping, fields);
  }
  port_.signal_group(r.pid, sig);
  r.stop_sent = port_.now();
  r.state = main_runs ? run_state::stopping : run_state::lingering_stopping;
  arm_stop(r, stop_grace(r));
}

void supervision_machine::signal_kill(run& r) {
  if (done(r)) return;
  const bool main_runs = !main_ended(r.state);
  if (main_runs || port_.group_alive(r.pid)) {
    // What was sent, and how long after the stop signal it really came (a second SIGTERM
    // kills before the stop timeout).
    const auto elapsed = r.stop_sent ? port_.now() - *r.stop_sent : clock::duration::zero();
    const auto after = std::round(seconds(elapsed) * 1000) / 1000;
    const auto stop_signal = signal_name(r.policy.stop_signal);
    const event_field fields[] = {{"signal", std::string_view("SIGKILL")},
                                  {"after", after},
                                  {"stop_signal", std::string_view(stop_signal)}};
    port_.event(r.name, r.pid, events::killed, std::span(fields, r.stop_sent ? 3 : 2));
  }
  port_.signal_group(r.pid, SIGKILL);
  r.state = main_runs ? run_state::killing : run_state::lingering_killing;
  port_.arm({timer_key::kind::stop, r.id}, kill_grace);
}

void supervision_machine::arm_stop(run& r, clock::duration grace) {
  r.stop_deadline = port_.now() + grace;
  port_.arm({timer_key::kind::stop, r.id}, grace);
}

supervision_machine::clock::duration supervision_machine::stop_grace(const run& r) const {
  return std::min<clock::duration>(r.policy.stop_timeout, stop_grace_cap_);
}

// Delivers what a run's pipes hold, and closes them if that did not reach their end: a process
// outside its process group holds them.
void supervision_machine::close_held_output(run& r) {
  if (!port_.output_open(r.id)) return;
  port_.drain_output(r.id);
  if (!port_.output_open(r.id)) return;
  log().warn(
      "output of plugin {} is still held open by a process outside its process group: closing "
      "it",
      r.name);
  port_.close_output(r.id);
}

// Main process exited, group and pipes live on: look again after 0.1 s, then twice as long
// each time, up to a minute (a plugin that runs on in the background is looked at once a
// minute); settle() does the looking.
void supervision_machine::recheck_later(run& r) {
  r.recheck_after = r.recheck_after == clock::duration::zero()
                        ? clock::duration(recheck_first)
                        : std::min<clock::duration>(r.recheck_after * 2, recheck_longest);
  port_.arm({timer_key::kind::recheck, r.id}, r.recheck_after);
}

}  // namespace plughost::detail
