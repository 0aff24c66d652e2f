// Every transition of supervision: a plugin's (start, end of a run, restart, reload, retire) and
// a run's (time limit, stop, kill, drain), and when the whole run is over.
#include "supervision/supervision_machine.hpp"

#include <fmt/format.h>
#include <signal.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <stdexcept>

#include "common/log.hpp"
#include "common/nearest.hpp"
#include "plughost/sink_helpers.hpp"

namespace plughost::detail {

namespace {

constexpr std::chrono::milliseconds recheck_first{100};
constexpr std::chrono::seconds recheck_longest{60};

double seconds(std::chrono::nanoseconds d) {
  return std::chrono::duration<double>(d).count();
}

// Every event counts its depth: nested events (a drain that reaches the end of a pipe calls
// on_output_closed) leave the settling to the outermost one.
class in_event {
 public:
  explicit in_event(int& depth) : depth_(depth) { ++depth_; }
  ~in_event() { --depth_; }
  bool outermost() const { return depth_ == 1; }

 private:
  int& depth_;
};

}  // namespace

std::string signal_name(int signal) {
  if (const char* abbrev = ::sigabbrev_np(signal)) return std::string("SIG") + abbrev;
  return "SIG" + std::to_string(signal);
}

std::string_view to_string(run_phase p) noexcept {
  switch (p) {
    case run_phase::starting:
      return "starting";
    case run_phase::running:
      return "running";
    case run_phase::stopping:
      return "stopping";
    case run_phase::finished:
      return "finished";
  }
  return "?";
}

std::string_view to_string(plugin_state s) noexcept {
  switch (s) {
    case plugin_state::starting:
      return "starting";
    case plugin_state::running:
      return "running";
    case plugin_state::backoff:
      return "backoff";
    case plugin_state::replacing:
      return "replacing";
    case plugin_state::exited:
      return "exited";
    case plugin_state::failed:
      return "failed";
    case plugin_state::stopped:
      return "stopped";
    case plugin_state::retired:
      return "retired";
  }
  return "?";
}

std::string_view to_string(run_state s) noexcept {
  switch (s) {
    case run_state::running:
      return "running";
    case run_state::draining:
      return "draining";
    case run_state::stopping:
      return "stopping";
    case run_state::killing:
      return "killing";
  }
  return "?";
}

// ---- events ---------------------------------------------------------------------------------

void supervision_machine::add(launch_item item) {
  in_event e(depth_);
  if (phase_ == run_phase::stopping || phase_ == run_phase::finished) return;
  const auto id = next_id_++;
  auto& p = plugins_[id];
  p.id = id;
  p.item = std::move(item);
  by_name_[p.item.name] = id;
  start_run(p);
  if (e.outermost()) settle();
}

void supervision_machine::started_all() {
  in_event e(depth_);
  if (phase_ == run_phase::starting) phase_ = run_phase::running;
  if (pending_reload_) {
    auto items = std::move(*pending_reload_);
    pending_reload_.reset();
    reload(std::move(items));
  }
  if (e.outermost()) settle();
}

void supervision_machine::stop(std::string_view reason) {
  in_event e(depth_);
  if (phase_ == run_phase::starting || phase_ == run_phase::running) begin_stopping(reason);
  if (e.outermost()) settle();
}

void supervision_machine::kill_all() {
  in_event e(depth_);
  if (phase_ == run_phase::stopping) {
    for (auto& [id, r] : runs_) kill_run(r);
  }
  if (e.outermost()) settle();
}

void supervision_machine::cap_stop_grace(clock::duration cap, std::string_view reason) {
  in_event e(depth_);
  stop_grace_cap_ = std::min(stop_grace_cap_, cap);
  if (phase_ == run_phase::starting || phase_ == run_phase::running) {
    begin_stopping(reason);
  } else if (phase_ == run_phase::stopping) {
    // Already stopping: nobody waits for a graceful end any more.
    const auto deadline = port_.now() + cap;
    for (auto& [id, r] : runs_) {
      if (r.state == run_state::stopping && r.stop_deadline > deadline) arm_stop(r, cap);
    }
  }
  if (e.outermost()) settle();
}

std::string supervision_machine::reload(std::vector<launch_item> items) {
  in_event e(depth_);
  if (phase_ == run_phase::starting) {
    // Applied once every plugin of the start-up has been added: the latest one counts.
    static constexpr const char* later = "reload: applied once the start-up is over";
    log().info("{}", later);
    pending_reload_ = std::move(items);
    return later;
  }
  if (phase_ != run_phase::running) {
    static constexpr const char* ignored = "reload ignored: plughost is stopping";
    log().info("{}", ignored);
    return ignored;
  }
  std::set<std::string> wanted;
  std::size_t started = 0, restarted = 0, stopped = 0, resumed = 0;
  for (auto& item : items) {
    wanted.insert(item.name);
    const auto it = by_name_.find(item.name);
    if (it == by_name_.end()) {
      if (revive(item)) {
        ++restarted;
      } else {
        ++started;
        add(std::move(item));
      }
      continue;
    }
    auto& p = plugins_.at(it->second);
    // What was done by hand lasts until now: the configuration decides again.
    const bool was_held = std::exchange(p.held, false);
    p.started_by_hand = false;
    // What runs next: the file waiting to replace the current run, else the plugin's own.
    auto& next = p.state == plugin_state::replacing ? *p.replacement : p.item;
    if (next.fingerprint == item.fingerprint) {
      next.policy = item.policy;  // for its next run; this one goes on untouched
      next.environment = std::move(item.environment);
      if (was_held) {
        ++resumed;
        if (p.current) {
          p.restart_when_ended = true;
        } else {
          start_again(p);
        }
      }
    } else {
      ++restarted;
      change(p, std::move(item));
    }
  }
  for (auto it = by_name_.begin(); it != by_name_.end();) {
    if (wanted.count(it->first)) {
      ++it;
      continue;
    }
    stopped += retire(plugins_.at(it->second));
    it = by_name_.erase(it);
  }
  auto said =
      fmt::format("reloaded: {} started, {} restarted, {} stopped", started, restarted, stopped);
  if (resumed > 0) said += fmt::format(", {} stopped by hand started again", resumed);
  log().info("{}", said);
  if (e.outermost()) settle();
  return said;
}

// ---- by hand --------------------------------------------------------------------------------

supervision_machine::plugin& supervision_machine::by_hand(std::string_view name) {
  if (phase_ == run_phase::starting) {
    throw std::invalid_argument("plughost is still starting its plugins: try again in a moment");
  }
  if (phase_ != run_phase::running) throw std::invalid_argument("plughost is stopping");
  const auto it = by_name_.find(std::string(name));
  if (it == by_name_.end()) {
    std::vector<std::string> known;
    for (const auto& [n, at] : by_name_) known.push_back(n);
    throw std::invalid_argument(
        fmt::format("no plugin named {}{}", name, did_you_mean(name, known)));
  }
  return plugins_.at(it->second);
}

std::string supervision_machine::stop_by_hand(std::string_view name) {
  in_event e(depth_);
  auto& p = by_hand(name);
  p.held = true;
  p.started_by_hand = false;
  p.restart_when_ended = false;
  std::string said;
  if (p.state == plugin_state::replacing) {  // its new file is what starts next, by hand
    p.item = std::move(*p.replacement);
    p.replacement.reset();
    p.state = plugin_state::running;
  }
  if (p.current) {
    stop_run(runs_.at(*p.current), "stopped by hand");
    said = "stopping";
  } else {
    said = p.state == plugin_state::backoff ? "was waiting to restart: it will not"
                                            : "was not running";
    port_.cancel({timer_key::kind::restart, p.id});
    p.state = plugin_state::stopped;
  }
  if (e.outermost()) settle();
  return said;
}

std::string supervision_machine::start_by_hand(std::string_view name) {
  in_event e(depth_);
  auto& p = by_hand(name);
  const bool was_held = std::exchange(p.held, false);
  std::string said;
  if (p.current || p.state == plugin_state::replacing) {
    const auto& r = runs_.at(*p.current);
    if (was_held || p.restart_when_ended ||
        (r.state != run_state::running && r.state != run_state::draining)) {
      // Still being stopped (by hand a moment ago): it starts again once that run has ended.
      p.restart_when_ended = p.state != plugin_state::replacing;
      p.started_by_hand = true;
      said = "starts once its current run has stopped";
    } else {
      said = "already running";
    }
  } else {
    p.started_by_hand = true;
    said = start_again(p);
  }
  if (e.outermost()) settle();
  return said;
}

std::string supervision_machine::restart_by_hand(std::string_view name) {
  in_event e(depth_);
  auto& p = by_hand(name);
  // Restarting one that was stopped (by hand or for good) is starting it by hand, as start does.
  if (std::exchange(p.held, false) || !p.current) p.started_by_hand = true;
  std::string said;
  if (p.state == plugin_state::replacing) {
    said = "restarting already (a reload changed its file)";
  } else if (p.current) {
    p.restart_when_ended = true;
    stop_run(runs_.at(*p.current), "restart by hand");
    said = "restarting";
  } else {
    said = start_again(p);
  }
  if (e.outermost()) settle();
  return said;
}

// A plugin that is not running starts now, as if new: no restart in a row counted, and what
// its earlier runs left behind stopped.
std::string supervision_machine::start_again(plugin& p) {
  port_.cancel({timer_key::kind::restart, p.id});
  stop_leftovers(p, "restart");
  p.attempts = 0;
  start_run(p);
  return p.start_error.empty() ? "started" : "could not start: " + p.start_error;
}

void supervision_machine::on_main_exit(run_id id, exit_status status) {
  in_event e(depth_);
  auto* r = find_run(id);
  if (!r || r->main_exited) return;
  // Everything the plugin wrote before it exited is in its pipes now: deliver it first.
  port_.drain_output(id);
  r->main_exited = true;
  if (r->state == run_state::running) r->state = run_state::draining;
  port_.cancel({timer_key::kind::limit, id});
  bool failed = true;
  if (!status.by_signal) {
    const event_field fields[] = {{"exit_code", std::int64_t{status.value}}};
    port_.event(r->name, r->pid, "exited", fields);
    failed = status.value != 0;
  } else {
    const auto name = signal_name(status.value);
    const event_field fields[] = {{"signal", std::string_view(name)}};
    port_.event(r->name, r->pid, "exited", fields);
  }
  // What a plugin does after plughost asked it to stop is not its failure; a run-time limit it
  // went past is.
  if (r->stopped_by_us && !r->timed_out) failed = false;
  auto* p = find_plugin(r->owner);
  if (p && status.by_signal) ++p->exit_signals[signal_name(status.value)];
  if (p && !status.by_signal) ++p->exit_codes[status.value];
  if (p && p->current == id) {
    p->current.reset();
    p->last_exit = status;
    run_ended(*p, failed, port_.now() - r->started);
  }
  // Background processes of a plugin that runs again must not pile up beside its next run.
  if (p && (p->current || p->state == plugin_state::backoff) && port_.group_alive(r->pid)) {
    stop_run(*r, "restart");
  }
  if (e.outermost()) settle();
}

void supervision_machine::on_output_closed(run_id) {
  in_event e(depth_);
  if (e.outermost()) settle();
}

void supervision_machine::on_group_change() {
  in_event e(depth_);
  if (e.outermost()) settle();
}

void supervision_machine::on_timer(timer_key key) {
  in_event e(depth_);
  if (key.what == timer_key::kind::restart) {
    if (auto* p = find_plugin(key.owner)) on_restart_due(*p);
  } else if (auto* r = find_run(key.owner)) {
    if (key.what == timer_key::kind::limit) {
      on_time_limit(*r);
    } else if (key.what == timer_key::kind::recheck) {
      r->recheck_after = std::min<clock::duration>(r->recheck_after * 2, recheck_longest);
      port_.arm(key, r->recheck_after);  // settle() below looks at its group again
    } else {
      on_stop_timer(*r);
    }
  }
  if (e.outermost()) settle();
}

// ---- a plugin -------------------------------------------------------------------------------

void supervision_machine::start_run(plugin& p) {
  p.state = plugin_state::starting;
  p.failed = false;  // a new file, or a restart: what counts now is how this run ends
  const auto id = next_id_++;
  auto result = port_.spawn(id, p.item);
  p.start_error.clear();
  if (auto* error = std::get_if<std::string>(&result)) {
    p.start_error = *error;
    log().error("plugin {}: {}", visible_name(p.item.name), *error);
    const event_field fields[] = {{"message", std::string_view(*error)}};
    port_.event(p.item.name, 0, "error", fields);
    run_ended(p, /*failed=*/true, clock::duration::zero());
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
  const event_field started[] = {{"argv", std::span<const std::string>(p.item.argv)}};
  port_.event(r.name, r.pid, "started", started);
  if (r.policy.timeout) port_.arm({timer_key::kind::limit, id}, *r.policy.timeout);
}

// A run of `p` ended (or could not start).
void supervision_machine::run_ended(plugin& p, bool failed, clock::duration ran_for) {
  switch (p.state) {
    case plugin_state::retired:
      return;
    case plugin_state::replacing:
      if (phase_ != run_phase::running) break;
      // The new file starts now.
      p.item = std::move(*p.replacement);
      p.replacement.reset();
      p.attempts = 0;
      start_run(p);
      return;
    case plugin_state::starting:
    case plugin_state::running:
      if (phase_ != run_phase::running && phase_ != run_phase::starting) break;
      if (p.held) break;  // stopped by hand: it stays stopped
      if (std::exchange(p.restart_when_ended, false)) {
        p.attempts = 0;
        start_run(p);
        return;
      }
      schedule_restart(p, failed, ran_for);
      return;
    default:
      return;
  }
  p.replacement.reset();
  p.state = plugin_state::stopped;  // stopped by plughost: not a failure
}

void supervision_machine::schedule_restart(plugin& p, bool failed, clock::duration ran_for) {
  const auto& policy = p.item.policy;
  if (policy.restart == restart_mode::interval && policy.interval.count() > 0) {
    // A periodic job: the next run is due `interval` after this one started, whatever this one
    // did; never given up on. A run longer than the interval is followed at once.
    const auto delay =
        std::max<clock::duration>(policy.interval - ran_for, clock::duration::zero());
    const event_field fields[] = {{"delay", seconds(delay)}};
    port_.event(p.item.name, 0, "next_run", fields);
    p.state = plugin_state::backoff;
    p.restart_due = port_.now() + delay;
    port_.arm({timer_key::kind::restart, p.id}, delay);
    return;
  }
  const bool restart = policy.restart == restart_mode::always ||
                       (policy.restart == restart_mode::on_failure && failed);
  if (!restart) {
    p.state = failed ? plugin_state::failed : plugin_state::exited;
    p.failed = failed;
    return;
  }
  if (ran_for >= policy.restart_reset_after) p.attempts = 0;
  ++p.attempts;
  if (p.attempts > policy.max_restarts) {
    p.state = plugin_state::failed;
    p.failed = true;
    const auto reason = fmt::format("{} restarts in a row, each run shorter than {}s",
                                    policy.max_restarts, seconds(policy.restart_reset_after));
    log().error("plugin {} gave up: {}", visible_name(p.item.name), reason);
    const event_field fields[] = {{"restarts", std::int64_t{policy.max_restarts}},
                                  {"reason", std::string_view(reason)}};
    port_.event(p.item.name, 0, "gave_up", fields);
    return;
  }
  const auto delay = policy.backoff(p.attempts);
  const event_field fields[] = {{"attempt", std::int64_t{p.attempts}}, {"delay", seconds(delay)}};
  port_.event(p.item.name, 0, "restarting", fields);
  p.state = plugin_state::backoff;
  p.restart_due = port_.now() + delay;
  port_.arm({timer_key::kind::restart, p.id}, delay);
}

void supervision_machine::on_restart_due(plugin& p) {
  // Due during the start-up too (it polls the loop between starts): the restart happens now,
  // as the start-up's own starts do. Waiting for the start-up's end would hold a plugin (and a
  // periodic job) back by however long starting thousands of others takes; and its timer has
  // fired, so nothing else would ever start it. Only a stop (which cancels the timer) prevents
  // it.
  if (p.state != plugin_state::backoff ||
      (phase_ != run_phase::running && phase_ != run_phase::starting)) {
    return;
  }
  if (!port_.output_room(p.item.name)) {  // its sink is full: the restart waits for room
    port_.arm_on_room({timer_key::kind::restart, p.id}, p.item.name);
    return;
  }
  ++p.restarts;
  start_run(p);
}

// A reload changed the plugin's file or argv.
void supervision_machine::change(plugin& p, launch_item item) {
  if (p.current) {
    p.replacement = std::move(item);
    p.state = plugin_state::replacing;
    stop_run(runs_.at(*p.current), "reload");
    return;
  }
  // Ended, or waiting to restart: the new file starts now, without what the old one left.
  port_.cancel({timer_key::kind::restart, p.id});
  stop_leftovers(p, "reload");
  p.item = std::move(item);
  p.attempts = 0;
  start_run(p);
}

// Returns whether something of the plugin was still running.
bool supervision_machine::retire(plugin& p) {
  p.state = plugin_state::retired;
  p.held = p.started_by_hand = p.restart_when_ended = false;
  p.replacement.reset();
  port_.cancel({timer_key::kind::restart, p.id});
  const bool running = p.current.has_value();
  if (running) stop_run(runs_.at(*p.current), "removed");
  return stop_leftovers(p, "removed") || running;
}

// A plugin removed by an earlier reload is back: it is the same plugin again, changed as a
// changed plugin is (its run, if one is still being stopped, ends before the new one starts).
bool supervision_machine::revive(launch_item& item) {
  for (auto it = plugins_.rbegin(); it != plugins_.rend(); ++it) {
    auto& p = it->second;
    if (p.state != plugin_state::retired || p.item.name != item.name) continue;
    by_name_[item.name] = p.id;
    if (p.current) {
      p.state = plugin_state::replacing;
      p.replacement = std::move(item);
    } else {
      change(p, std::move(item));
    }
    return true;
  }
  return false;
}

// Stops what earlier runs of `p` left in their process groups (its current run aside). Returns
// whether there was any.
bool supervision_machine::stop_leftovers(plugin& p, std::string_view reason) {
  bool any = false;
  for (auto& [id, r] : runs_) {
    if (r.owner != p.id || p.current == id) continue;
    stop_run(r, reason);
    any = true;
  }
  return any;
}

// ---- a run ----------------------------------------------------------------------------------

void supervision_machine::on_time_limit(run& r) {
  if (r.state != run_state::running) return;  // already stopping, or its main process ended
  r.timed_out = true;
  const auto limit = seconds(*r.policy.timeout);
  log().warn("plugin {} ran longer than its timeout of {}s: stopping it", visible_name(r.name),
             limit);
  const event_field fields[] = {{"timeout", limit}};
  port_.event(r.name, r.pid, "timed_out", fields);
  stop_run(r, "timeout");
}

// The stop sequence of a run: its stop signal to the whole group; SIGKILL once its stop timeout
// has passed; a second later, its pipes are closed if something outside the group still holds
// them.
void supervision_machine::stop_run(run& r, std::string_view reason) {
  if (r.state == run_state::stopping || r.state == run_state::killing || done(r)) return;
  const int sig = r.policy.stop_signal;
  if (!r.main_exited) r.stopped_by_us = true;
  // Also for what is left of a plugin whose main process has exited: its group is stopped.
  if (!r.main_exited || port_.group_alive(r.pid)) {
    const auto name = signal_name(sig);
    const event_field fields[] = {{"signal", std::string_view(name)}, {"reason", reason}};
    port_.event(r.name, r.pid, "stopping", fields);
  }
  port_.signal_group(r.pid, sig);
  r.stop_sent = port_.now();
  r.state = run_state::stopping;
  arm_stop(r, stop_grace(r));
}

void supervision_machine::arm_stop(run& r, clock::duration grace) {
  r.stop_deadline = port_.now() + grace;
  port_.arm({timer_key::kind::stop, r.id}, grace);
}

supervision_machine::clock::duration supervision_machine::stop_grace(const run& r) const {
  return std::min<clock::duration>(r.policy.stop_timeout, stop_grace_cap_);
}

void supervision_machine::kill_run(run& r) {
  if (r.state == run_state::killing || done(r)) return;
  if (!r.main_exited) r.stopped_by_us = true;
  if (!r.main_exited || port_.group_alive(r.pid)) {
    if (!r.main_exited) {
      log().warn("plugin {} did not stop in time: sending SIGKILL", visible_name(r.name));
    }
    // What was sent, and how long after the stop signal it really came (a second SIGTERM
    // kills before the stop timeout).
    const auto elapsed = r.stop_sent ? port_.now() - *r.stop_sent : clock::duration::zero();
    const auto after = std::round(seconds(elapsed) * 1000) / 1000;
    const auto stop_signal = signal_name(r.policy.stop_signal);
    const event_field fields[] = {{"signal", std::string_view("SIGKILL")},
                                  {"after", after},
                                  {"stop_signal", std::string_view(stop_signal)}};
    port_.event(r.name, r.pid, "killed", std::span(fields, r.stop_sent ? 3 : 2));
  }
  port_.signal_group(r.pid, SIGKILL);
  r.state = run_state::killing;
  port_.arm({timer_key::kind::stop, r.id}, kill_grace);
}

void supervision_machine::on_stop_timer(run& r) {
  if (r.state == run_state::stopping) return kill_run(r);
  if (r.state == run_state::killing) close_held_output(r);
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

void supervision_machine::begin_stopping(std::string_view reason) {
  phase_ = run_phase::stopping;
  for (auto& [id, p] : plugins_) {
    if (p.state == plugin_state::backoff) {
      port_.cancel({timer_key::kind::restart, id});
      p.state = plugin_state::stopped;
    }
  }
  // Every group at once: the stop takes one stop timeout, not one per plugin.
  for (auto& [id, r] : runs_) stop_run(r, reason);
}

// ---- the whole run --------------------------------------------------------------------------

// Ended and left nothing behind: main process reaped, pipes closed, process group empty.
bool supervision_machine::done(const run& r) {
  return r.main_exited && !port_.output_open(r.id) && !port_.group_alive(r.pid);
}

void supervision_machine::settle() {
  if (phase_ == run_phase::finished) return;
  for (auto it = runs_.begin(); it != runs_.end();) {
    auto& r = it->second;
    // Its group is empty: what still holds its pipes escaped the group (setsid), and is not
    // waited for.
    if (r.main_exited && port_.output_open(r.id) && !port_.group_alive(r.pid)) {
      close_held_output(r);
    }
    if (!done(r)) {
      // No event says that the last process of a group left it (setsid), nor, without the
      // SIGCHLD handler, that it ended (its processes are init's children then): while its
      // main process has exited and its pipes are open or its group lives, look again now and
      // then (0.1 s, doubling up to a minute; a plugin that runs on in the background is looked
      // at once a minute).
      if (r.main_exited && r.recheck_after == clock::duration::zero() &&
          (port_.output_open(r.id) || port_.group_alive(r.pid))) {
        r.recheck_after = recheck_first;
        port_.arm({timer_key::kind::recheck, r.id}, r.recheck_after);
      }
      ++it;
      continue;
    }
    port_.cancel({timer_key::kind::recheck, it->first});
    port_.cancel({timer_key::kind::stop, it->first});
    port_.release(it->first, it->second.pid);
    it = runs_.erase(it);
  }
  if (phase_ == run_phase::starting || !runs_.empty()) return;
  for (const auto& [id, p] : plugins_) {
    // A plugin stopped by hand keeps the run going: whoever stopped it may start it again.
    if (p.state == plugin_state::backoff || (p.held && phase_ == run_phase::running)) return;
  }
  phase_ = run_phase::finished;
  port_.finished();
}

bool supervision_machine::any_failed() const {
  return std::any_of(plugins_.begin(), plugins_.end(),
                     [](const auto& e) { return e.second.failed; });
}

std::vector<supervision_machine::plugin_view> supervision_machine::plugins() const {
  std::vector<plugin_view> out;
  out.reserve(plugins_.size());
  visit_plugins([&](plugin_view&& v) { out.push_back(std::move(v)); });
  return out;
}

void supervision_machine::visit_plugins(const std::function<void(plugin_view&&)>& f) const {
  for (const auto& [id, p] : plugins_) {
    plugin_view v{p.item.name, p.state,    p.current,    std::nullopt, 0,
                  p.attempts,  p.restarts, std::nullopt, p.last_exit,  std::nullopt};
    v.by_hand = p.held ? "stopped" : p.started_by_hand ? "started" : "";
    v.exit_codes = p.exit_codes;
    v.exit_signals = p.exit_signals;
    if (p.current) {
      const auto& r = runs_.at(*p.current);
      v.current_state = r.state;
      v.pid = r.pid;
      v.since = r.started;
    }
    if (p.state == plugin_state::backoff) v.next_restart = p.restart_due;
    f(std::move(v));
  }
}

supervision_machine::plugin* supervision_machine::find_plugin(plugin_id id) {
  const auto it = plugins_.find(id);
  return it == plugins_.end() ? nullptr : &it->second;
}

supervision_machine::run* supervision_machine::find_run(run_id id) {
  const auto it = runs_.find(id);
  return it == runs_.end() ? nullptr : &it->second;
}

}  // namespace plughost::detail
