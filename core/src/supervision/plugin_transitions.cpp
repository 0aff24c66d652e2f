// A plugin's actions, as the cells of plugin_table (supervision_table.hpp) name them: starting a
// run, what the policy does when it ends, restarts, reloads, what is done by hand, the shutdown.
#include <fmt/format.h>

#include <cmath>

#include "common/log.hpp"
#include "plughost/events.hpp"
#include "plughost/sink_helpers.hpp"
#include "supervision/supervision_machine.hpp"

namespace plughost::detail {

namespace {

double seconds(std::chrono::nanoseconds d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

std::string supervision_machine::act(plugin& p, plugin_action a, plugin_input& in) {
  switch (a) {
    case plugin_action::nothing:
    case plugin_action::impossible:
      return {};
    case plugin_action::by_policy:
      by_policy(p, in.failed, in.ran_for);
      return {};
    case plugin_action::restart:
      restart(p);
      return {};
    case plugin_action::start_replacement:
      p.item = std::move(*p.replacement);
      p.replacement.reset();
      [[fallthrough]];
    case plugin_action::start_again:
      p.attempts = 0;
      start_run(p);
      return {};
    case plugin_action::shut:
      p.replacement.reset();
      p.state = plugin_state::stopping;
      return {};
    case plugin_action::stopped_now:
      port_.cancel({timer_key::kind::restart, p.id});
      p.state = plugin_state::stopped;
      return {};
    case plugin_action::end_held:
      p.state = plugin_state::held;
      return {};
    case plugin_action::end_stopped:
      p.state = plugin_state::stopped;
      return {};
    case plugin_action::start_waited:
      start_run(p, /*waited=*/true);
      return {};
    case plugin_action::gate_timed_out:
      gate_timed_out(p);
      return {};
    case plugin_action::fail_waiting:
      fail_waiting(p);
      return {};
    case plugin_action::lose_requirement:
      lose_requirement(p);
      return {};
    default:
      return act_on_request(p, a, in);
  }
}

// The actions of a reload and of what is done by hand.
std::string supervision_machine::act_on_request(plugin& p, plugin_action a, plugin_input& in) {
  switch (a) {
    case plugin_action::keep_policy:
      keep_policy(p, std::move(*in.item));
      return {};
    case plugin_action::resume_now:
    case plugin_action::resume_after:
      return resume(p, a, std::move(*in.item));
    case plugin_action::replace_now:
      p.item = std::move(*in.item);
      return start_anew(p, "reload");
    case plugin_action::replace_after:
      p.replacement = std::move(*in.item);
      p.state = plugin_state::replacing;
      stop_current(p, "reload");
      return {};
    case plugin_action::replace_newer:
      p.replacement = std::move(*in.item);
      return {};
    case plugin_action::retire:
      return retire(p);
    case plugin_action::come_back:
      come_back(p, std::move(*in.item));
      return {};
    default:
      return act_by_hand(p, a);
  }
}

std::string supervision_machine::act_by_hand(plugin& p, plugin_action a) {
  switch (a) {
    case plugin_action::start:
      p.started_by_hand = true;
      return start_anew(p, "restart");
    case plugin_action::hold:
      port_.cancel({timer_key::kind::restart, p.id});
      p.state = plugin_state::held;
      p.started_by_hand = false;
      return {};
    case plugin_action::hold_replacement:  // its new file is what starts next, by hand
      p.item = std::move(*p.replacement);
      p.replacement.reset();
      [[fallthrough]];
    case plugin_action::hold_after:
      p.state = plugin_state::stopping_by_hand;
      p.started_by_hand = false;
      stop_current(p, "stopped by hand");
      return {};
    case plugin_action::start_after:
      p.state = plugin_state::restarting;
      [[fallthrough]];
    case plugin_action::note_start:
      p.started_by_hand = true;
      return {};
    case plugin_action::start_if_stopping:
      return start_if_stopping(p);
    case plugin_action::restart_run:
      p.state = plugin_state::restarting;
      stop_current(p, "restart by hand");
      return {};
    default:
      return {};
  }
}

// A plugin stopped by hand that a reload keeps: the configuration wants it running again.
std::string supervision_machine::resume(plugin& p, plugin_action a, launch_item item) {
  keep_policy(p, std::move(item));
  ++tally_->resumed;
  if (a == plugin_action::resume_now) return start_anew(p, "restart");
  p.state = plugin_state::restarting;
  return {};
}

void supervision_machine::start_run(plugin& p, bool waited) {
  p.lost_requirement = false;
  if (!waited && must_wait(p)) return;
  p.state = plugin_state::starting;
  p.failed_for_good = false;  // a new file, or a restart: what counts now is how this run ends
  const auto id = next_id_++;
  auto result = port_.spawn(id, p.item);
  p.start_error.clear();
  if (auto* error = std::get_if<std::string>(&result)) {
    p.start_error = *error;
    log().error("plugin {}: {}", visible_name(p.item.name), *error);
    const event_field fields[] = {{"message", std::string_view(*error)}};
    port_.event(p.item.name, 0, events::error, fields);
    on(p, plugin_event::run_ended, {{}, /*failed=*/true, clock::duration::zero()});
    return;
  }
  auto& r = runs_[id];
  r.id = id;
  r.owner = p.id;
  r.name = p.item.name;
  r.pid = std::get<pid_t>(result);
  r.policy = p.item.policy;
  r.started = port_.now();
  p.state = plugin_state::running;
  p.current = id;
  if (!p.first_started) p.first_started = r.started;
  if (!p.first_ready && !r.policy.signals_ready()) p.first_ready = r.started;
  const event_field started[] = {{"argv", std::span<const std::string>(p.item.argv)}};
  port_.event(r.name, r.pid, events::started, started);
  if (r.policy.timeout) port_.arm({timer_key::kind::limit, id}, *r.policy.timeout);
  if (r.policy.signals_ready()) r.health = health_state::starting;
  if (r.policy.watchdog.count() > 0) port_.arm({timer_key::kind::watchdog, id}, r.policy.watchdog);
  r.started_up = !r.policy.probe(probe_kind::startup);
  arm_probes(r);
}

// A plugin that is not running starts now, as if new: no restart in a row counted, and what
// its earlier runs left behind stopped.
std::string supervision_machine::start_anew(plugin& p, std::string_view reason) {
  port_.cancel({timer_key::kind::restart, p.id});
  stop_leftovers(p, reason);
  p.attempts = 0;
  start_run(p);
  if (p.state == plugin_state::waiting) return "waiting for " + p.waiting_for;
  return p.start_error.empty() ? "started" : "could not start: " + p.start_error;
}

// Its run ended (or could not start): the policy says what follows.
void supervision_machine::by_policy(plugin& p, bool failed, clock::duration ran_for) {
  const auto& policy = p.item.policy;
  if (policy.restart == restart_mode::schedule && policy.timetable.shared &&
      policy.timetable.shared->cron) {
    return schedule_run(p, ran_for);
  }
  if (policy.restart == restart_mode::interval && policy.interval.count() > 0) {
    // A periodic job: the next run is due `interval` after this one started, whatever this one
    // did; never given up on. A run longer than the interval is followed at once.
    const auto delay =
        std::max<clock::duration>(policy.interval - ran_for, clock::duration::zero());
    const event_field fields[] = {{"delay", seconds(delay)}};
    port_.event(p.item.name, 0, events::next_run, fields);
    return schedule(p, delay);
  }
  const bool again = policy.restart == restart_mode::always ||
                     (policy.restart == restart_mode::on_failure && failed);
  if (!again) return end_for_good(p, failed);
  if (ran_for >= policy.restart_reset_after) p.attempts = 0;
  ++p.attempts;
  if (p.attempts > policy.max_restarts) {
    end_for_good(p, true);
    const auto reason = fmt::format("{} restarts in a row, each run shorter than {}s",
                                    policy.max_restarts, seconds(policy.restart_reset_after));
    log().error("plugin {} gave up: {}", visible_name(p.item.name), reason);
    const event_field fields[] = {{"restarts", std::int64_t{policy.max_restarts}},
                                  {"reason", std::string_view(reason)}};
    port_.event(p.item.name, 0, events::gave_up, fields);
    return;
  }
  const auto delay = policy.backoff(p.attempts);
  const event_field fields[] = {{"attempt", std::int64_t{p.attempts}}, {"delay", seconds(delay)}};
  port_.event(p.item.name, 0, events::restarting, fields);
  schedule(p, delay);
}

void supervision_machine::end_for_good(plugin& p, bool failed) {
  p.state = failed ? plugin_state::failed : plugin_state::exited;
  p.failed_for_good = failed;
  if (failed) dependents_lose(p, "failed for good");
}

void supervision_machine::schedule(plugin& p, clock::duration delay) {
  p.state = plugin_state::backoff;
  p.restart_due = port_.now() + delay;
  port_.arm({timer_key::kind::restart, p.id}, delay);
}

// Due during the start-up too (it polls the loop between starts): the restart happens now, as
// the start-up's own starts do; only a stop (which cancels the timer) prevents it.
void supervision_machine::restart(plugin& p) {
  if (!port_.output_room(p.item.name)) {  // its sink is full: the restart waits for room
    port_.arm_on_room({timer_key::kind::restart, p.id}, p.item.name);
    return;
  }
  ++p.restarts;
  start_run(p);
}

// The same file: its next run gets the new policy and environment; this one goes on untouched.
void supervision_machine::keep_policy(plugin& p, launch_item item) {
  auto& next = p.state == plugin_state::replacing ? *p.replacement : p.item;
  next.policy = item.policy;
  next.environment = std::move(item.environment);
}

// Returns "stopped" when something of the plugin was still running.
std::string supervision_machine::retire(plugin& p) {
  p.state = plugin_state::retired;
  p.started_by_hand = false;
  p.replacement.reset();
  port_.cancel({timer_key::kind::restart, p.id});
  const bool running = p.current.has_value();
  if (running) stop_current(p, "removed");
  const bool any = stop_leftovers(p, "removed") || running;
  if (any && tally_) ++tally_->stopped;
  dependents_lose(p, "a reload removed");
  return any ? "stopped" : "";
}

// A plugin a reload removed is back: the same plugin again, changed as a changed plugin is (its
// run, if one is still being stopped, ends before the new one starts).
void supervision_machine::come_back(plugin& p, launch_item item) {
  if (p.current) {
    p.state = plugin_state::replacing;
    p.replacement = std::move(item);
    return;
  }
  p.item = std::move(item);
  start_anew(p, "reload");
}

void supervision_machine::stop_current(plugin& p, std::string_view reason) {
  on(runs_.at(*p.current), run_event::stop, {{}, reason});
}

// Started by hand while it runs: "already running", unless its run is being stopped (a time
// limit): then it starts again once that run has ended.
std::string supervision_machine::start_if_stopping(plugin& p) {
  const auto s = runs_.at(*p.current).state;
  if (s == run_state::running || s == run_state::draining) return {};
  p.state = plugin_state::restarting;
  p.started_by_hand = true;
  return "starts once its current run has stopped";
}

// Stops what earlier runs of `p` left in their process groups (its current run aside). Returns
// whether there was any.
bool supervision_machine::stop_leftovers(plugin& p, std::string_view reason) {
  bool any = false;
  for (auto& [id, r] : runs_) {
    if (r.owner != p.id || p.current == id) continue;
    on(r, run_event::stop, {{}, reason});
    any = true;
  }
  return any;
}

}  // namespace plughost::detail
