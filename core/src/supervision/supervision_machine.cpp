// The machine's events: each finds its cell in supervision_table.hpp, runs the cell's action and
// checks where it ended; the whole run's actions; when a run is released and the run finished.
// A plugin's actions are in plugin_transitions.cpp, a run's in run_transitions.cpp.
#include "supervision/supervision_machine.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <stdexcept>

#include "common/log.hpp"
#include "common/nearest.hpp"
#include "plughost/sink_helpers.hpp"

namespace plughost::detail {

namespace {

template <typename Table, typename State, typename Event>
const auto& cell(const Table& table, State s, Event e) {
  return table[static_cast<std::size_t>(s)][static_cast<std::size_t>(e)];
}

template <typename State>
bool ends_where_it_may(std::uint32_t next, State from, State to) {
  return next == 0 ? from == to : (next & (std::uint32_t{1} << static_cast<unsigned>(to))) != 0;
}

}  // namespace

// ---- events ---------------------------------------------------------------------------------

void supervision_machine::add(launch_item item) {
  in_event([&] {
    if (phase_ == run_phase::stopping || phase_ == run_phase::finished) return std::string();
    if (!began_) began_ = port_.now();
    const auto id = next_id_++;
    auto& p = plugins_[id];
    p.id = id;
    p.item = std::move(item);
    by_name_[p.item.name] = id;
    const auto& policy = p.item.policy;
    if (policy.restart == restart_mode::schedule && !policy.run_at_start &&
        policy.timetable.shared && policy.timetable.shared->cron) {
      schedule_run(p, std::nullopt);  // its life begins with a wait for its first time
    } else {
      start_run(p);  // a plugin's life begins with its first run: no cell before it exists
    }
    return std::string();
  });
}

void supervision_machine::started_all() {
  in_event([&] { return on(phase_event::started_all); });
}

void supervision_machine::stop(std::string_view reason) {
  in_event([&] { return on(phase_event::stop, {reason}); });
}

bool supervision_machine::stop_signal(std::string_view signal) {
  bool began = false;
  in_event([&] {
    if (phase_ == run_phase::starting || phase_ == run_phase::running) {
      log().info("received {}: stopping plugins", signal);
      began = true;
      return on(phase_event::stop, {"shutdown"});
    }
    return on(phase_event::stop_again, {signal});
  });
  return began;
}

void supervision_machine::cap_stop_grace(clock::duration cap, std::string_view reason) {
  in_event([&] { return on(phase_event::cap_grace, {reason, cap}); });
}

supervision_machine::reload_result supervision_machine::reload(std::vector<launch_item> items) {
  const bool applies = phase_ == run_phase::starting || phase_ == run_phase::running;
  auto said = in_event([&] { return on(phase_event::reload, {{}, {}, std::move(items)}); });
  return {applies, std::move(said)};
}

std::string supervision_machine::stop_by_hand(std::string_view name) {
  return by_hand_event(name, plugin_event::stop_by_hand);
}

std::string supervision_machine::start_by_hand(std::string_view name) {
  return by_hand_event(name, plugin_event::start_by_hand);
}

std::string supervision_machine::restart_by_hand(std::string_view name) {
  return by_hand_event(name, plugin_event::restart_by_hand);
}

std::string supervision_machine::by_hand_event(std::string_view name, plugin_event e) {
  return in_event([&] { return on(by_hand(name), e); });
}

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

void supervision_machine::on_main_exit(run_id id, exit_status status) {
  in_event([&] {
    if (auto* r = find_run(id)) on(*r, run_event::main_exit, {status});
    return std::string();
  });
}

void supervision_machine::on_exit_held(run_id id, exit_status status) {
  in_event([&] {
    if (auto* r = find_run(id)) on(*r, run_event::exit_held, {status});
    return std::string();
  });
}

void supervision_machine::on_exit_drained(run_id id) {
  in_event([&] {
    if (auto* r = find_run(id)) on(*r, run_event::exit_drained);
    return std::string();
  });
}

void supervision_machine::on_output_closed(run_id) {
  in_event([] { return std::string(); });
}

void supervision_machine::on_group_change() {
  in_event([] { return std::string(); });
}

void supervision_machine::on_timer(timer_key key) {
  in_event([&] {
    if (key.what == timer_key::kind::restart) {
      if (auto* p = find_plugin(key.owner)) on(*p, plugin_event::restart_due);
    } else if (key.what == timer_key::kind::gate) {
      auto* p = find_plugin(key.owner);
      if (p && p->state == plugin_state::waiting && p->gate_asked) {
        p->gate_failure = port_.gate_failure(p->id);  // said before the gate is let go
        on(*p, plugin_event::gate_failed);
      }
    } else if (key.what == timer_key::kind::watchdog) {
      if (auto* r = find_run(key.owner)) on(*r, health_event::failed, "watchdog");
    } else if (key.what >= timer_key::kind::probe_startup) {
      const auto kind = static_cast<probe_kind>(static_cast<int>(key.what) -
                                                static_cast<int>(timer_key::kind::probe_startup));
      if (auto* r = find_run(key.owner)) probe_due(*r, kind);
    } else if (auto* r = find_run(key.owner)) {
      on(*r, key.what == timer_key::kind::limit     ? run_event::time_limit
             : key.what == timer_key::kind::recheck ? run_event::recheck
                                                    : run_event::stop_timer);
    }
    return std::string();
  });
}

// ---- the dispatchers ------------------------------------------------------------------------

std::string supervision_machine::on(phase_event e, phase_input in) {
  const auto from = phase_;
  const auto& c = cell(phase_table, from, e);
  auto said = act(c.act, in);
  if (!ends_where_it_may(c.next, from, phase_)) {
    violated(
        fmt::format("run: {} on {} ended {}", to_string(e), to_string(from), to_string(phase_)));
  }
  return said;
}

std::string supervision_machine::on(plugin& p, plugin_event e, plugin_input in) {
  const auto from = p.state;
  const auto& c = cell(plugin_table, from, e);
  ++plugin_visits_[static_cast<std::size_t>(from)][static_cast<std::size_t>(e)];
  if (c.act == plugin_action::impossible) {
    violated(fmt::format("plugin {}: {} cannot happen in {} {}", p.item.name, to_string(e),
                         to_string(from), c.does));
    return std::string(c.reply);
  }
  if (from == plugin_state::waiting) stop_waiting(p);
  auto said = act(p, c.act, in);
  if (!ends_where_it_may(c.next, from, p.state)) {
    violated(fmt::format("plugin {}: {} in {} ended {}", p.item.name, to_string(e), to_string(from),
                         to_string(p.state)));
  }
  return said.empty() ? std::string(c.reply) : said;
}

void supervision_machine::on(run& r, run_event e, run_input in) {
  const auto from = r.state;
  const auto& c = cell(run_table, from, e);
  ++run_visits_[static_cast<std::size_t>(from)][static_cast<std::size_t>(e)];
  if (c.act == run_action::impossible) {
    return violated(fmt::format("run {} of {}: {} cannot happen in {} {}", r.id, r.name,
                                to_string(e), to_string(from), c.does));
  }
  const auto id = r.id;
  act(r, c.act, in);
  const auto* still = find_run(id);
  if (still && !ends_where_it_may(c.next, from, still->state)) {
    violated(fmt::format("run {} of {}: {} in {} ended {}", id, still->name, to_string(e),
                         to_string(from), to_string(still->state)));
  }
}

void supervision_machine::violated(std::string what) {
  log().error("supervision: {} (a bug in plughost: please report it)", what);
  violations_.push_back(std::move(what));
}

std::string supervision_machine::act(phase_action a, phase_input& in) {
  switch (a) {
    case phase_action::nothing:
      break;
    case phase_action::start_running:
      start_running();
      break;
    case phase_action::cap_then_stop:
      stop_grace_cap_ = std::min(stop_grace_cap_, in.cap);
      [[fallthrough]];
    case phase_action::stop_all:
      stop_all(in.reason);
      break;
    case phase_action::kill_if_repeated:
      kill_if_repeated();
      break;
    case phase_action::shorten_stops:
      shorten_stops(in.cap);
      break;
    case phase_action::defer_reload:
      return defer_reload(std::move(*in.items));
    case phase_action::apply_reload:
      return apply_reload(std::move(*in.items));
    case phase_action::ignore_reload: {
      static constexpr const char* ignored = "reload ignored: plughost is stopping";
      log().info("{}", ignored);
      return ignored;
    }
    case phase_action::finish_if_idle:
      finish_if_idle();
      break;
  }
  return {};
}

// ---- the whole run --------------------------------------------------------------------------

void supervision_machine::start_running() {
  phase_ = run_phase::running;
  if (!pending_reload_) return;
  auto items = std::move(*pending_reload_);
  pending_reload_.reset();
  on(phase_event::reload, {{}, {}, std::move(items)});
}

void supervision_machine::stop_all(std::string_view reason) {
  phase_ = run_phase::stopping;
  stop_began_ = port_.now();
  stop_reason_ = reason;
  for (auto& [id, p] : plugins_) on(p, plugin_event::shutdown);
  // Every group at once: the stop takes one stop timeout, not one per plugin. The ordered
  // stop holds each run back until what waits for its plugin has ended (stop_in_order()),
  // unless the stop is capped (the process plughost exits with is gone): then all at once.
  const bool in_order = ordered_stop_ && stop_grace_cap_ == clock::duration::max();
  for (auto& [id, r] : runs_) {
    if (in_order) {
      r.held_back = true;
    } else {
      on(r, run_event::stop, {{}, reason});
    }
  }
  stop_in_order();
}

void supervision_machine::kill_if_repeated() {
  if (port_.now() - stop_began_ < stop_signal_debounce) return;
  log().warn("stop signal again: killing plugins now");
  release_held_back();
  for (auto& [id, r] : runs_) on(r, run_event::kill);
}

void supervision_machine::shorten_stops(clock::duration cap) {
  stop_grace_cap_ = std::min(stop_grace_cap_, cap);
  release_held_back();
  for (auto& [id, r] : runs_) on(r, run_event::cap_grace, {{}, {}, cap});
}

// Applied once every plugin of the start-up has been added: the latest one counts.
std::string supervision_machine::defer_reload(std::vector<launch_item> items) {
  static constexpr const char* later = "reload: applied once the start-up is over";
  log().info("{}", later);
  pending_reload_ = std::move(items);
  return later;
}

std::string supervision_machine::apply_reload(std::vector<launch_item> items) {
  reload_tally tally;
  tally_ = &tally;
  std::set<std::string> wanted;
  for (auto& item : items) {
    wanted.insert(item.name);
    reload_one(std::move(item), tally);
  }
  for (auto it = by_name_.begin(); it != by_name_.end();) {
    if (wanted.count(it->first)) {
      ++it;
      continue;
    }
    on(plugins_.at(it->second), plugin_event::reload_removed);
    it = by_name_.erase(it);
  }
  tally_ = nullptr;
  const auto cause = std::exchange(reload_cause_, {});
  auto said = fmt::format("reloaded{}: {} started, {} restarted, {} stopped",
                          cause.empty() ? "" : " (" + cause + ")", tally.started, tally.restarted,
                          tally.stopped);
  if (tally.resumed > 0) said += fmt::format(", {} stopped by hand started again", tally.resumed);
  // A watched folder's change that changed no plugin (a file that is not one) says nothing.
  const bool changed = tally.started + tally.restarted + tally.stopped + tally.resumed > 0;
  if (cause.empty() || changed) log().info("{}", said);
  return said;
}

// One plugin of the configuration read again: new, back after a reload removed it, changed, or
// the same file (compared with the file waiting to replace its run, if one is).
void supervision_machine::reload_one(launch_item item, reload_tally& tally) {
  if (const auto it = by_name_.find(item.name); it != by_name_.end()) {
    auto& p = plugins_.at(it->second);
    p.started_by_hand = false;  // what was done by hand lasts until now
    const auto& next = p.state == plugin_state::replacing ? *p.replacement : p.item;
    const bool same = next.fingerprint == item.fingerprint;
    tally.restarted += same ? 0 : 1;
    on(p, same ? plugin_event::reload_same : plugin_event::reload_changed, {std::move(item)});
    return;
  }
  for (auto it = plugins_.rbegin(); it != plugins_.rend(); ++it) {
    auto& p = it->second;
    if (p.state != plugin_state::retired || p.item.name != item.name) continue;
    by_name_[item.name] = p.id;
    ++tally.restarted;
    on(p, plugin_event::reload_changed, {std::move(item)});
    return;
  }
  ++tally.started;
  const auto id = next_id_++;
  auto& p = plugins_[id];
  p.id = id;
  p.item = std::move(item);
  by_name_[p.item.name] = id;
  start_run(p);
}

void supervision_machine::finish_if_idle() {
  if (keep_running_ && phase_ == run_phase::running) return;  // watched: a file may yet come
  for (const auto& [id, p] : plugins_) {
    // A plugin stopped by hand keeps the run going: whoever stopped it may start it again.
    if (p.state == plugin_state::backoff || p.state == plugin_state::waiting ||
        (p.state == plugin_state::held && phase_ == run_phase::running)) {
      return;
    }
  }
  phase_ = run_phase::finished;
  port_.finished();
}

// Ended and left nothing behind: main process reaped and heard of, pipes closed, process group
// empty.
bool supervision_machine::done(const run& r) {
  return main_ended(r.state) && !port_.output_open(r.id) && !port_.group_alive(r.pid);
}

void supervision_machine::settle() {
  if (phase_ == run_phase::finished) return;
  // Only a run whose main process ended can be done: looking at the others after every event
  // cost 1,000 plugins with a probe each a quarter of a core.
  for (auto at = ended_.begin(); at != ended_.end();) {
    const auto it = runs_.find(*at);
    if (it == runs_.end()) {
      at = ended_.erase(at);
      continue;
    }
    auto& r = it->second;
    // Its group is empty: what still holds its pipes escaped the group (setsid), and is not
    // waited for.
    if (port_.output_open(r.id) && !port_.group_alive(r.pid)) close_held_output(r);
    if (!done(r)) {
      // No event says that the last process of a group left it (setsid), nor, without the
      // SIGCHLD handler, that it ended (its processes are init's children then): while its
      // main process has exited and its pipes are open or its group lives, look again now and
      // then (0.1 s, doubling up to a minute).
      if (r.recheck_after == clock::duration::zero()) recheck_later(r);
      ++at;
      continue;
    }
    port_.cancel({timer_key::kind::recheck, it->first});
    port_.cancel({timer_key::kind::stop, it->first});
    cancel_health_timers(it->second);
    port_.release(it->first, it->second.pid);
    runs_.erase(it);
    at = ended_.erase(at);
  }
  look_at_waiting();
  stop_in_order();
  if (runs_.empty()) on(phase_event::nothing_left);
}

// ---- what it is in --------------------------------------------------------------------------

bool supervision_machine::any_failed() const {
  return std::any_of(plugins_.begin(), plugins_.end(),
                     [](const auto& e) { return e.second.failed_for_good; });
}

std::vector<supervision_machine::run_view> supervision_machine::runs() const {
  std::vector<run_view> out;
  for (const auto& [id, r] : runs_) out.push_back({id, r.owner, r.state, r.pid});
  return out;
}

std::vector<std::string> supervision_machine::broken_invariants() const {
  auto broken = violations_;
  std::map<run_id, int> current_of;
  for (const auto& [id, p] : plugins_) {
    const auto name = p.item.name;
    // A retired plugin's run may still be being stopped.
    if (p.state != plugin_state::retired && has_run(p.state) != p.current.has_value()) {
      broken.push_back(fmt::format("{} is {} with{} a current run", name, to_string(p.state),
                                   p.current ? "" : "out"));
    }
    if (p.replacement.has_value() != (p.state == plugin_state::replacing)) {
      broken.push_back(fmt::format("{} is {} with{} a replacement", name, to_string(p.state),
                                   p.replacement ? "" : "out"));
    }
    if (!p.current) continue;
    const auto it = runs_.find(*p.current);
    if (it == runs_.end() || it->second.owner != id || main_ended(it->second.state)) {
      broken.push_back(fmt::format("{}'s current run is not a live run of it", name));
    }
    if (++current_of[*p.current] > 1) broken.push_back(fmt::format("{}: a shared run", name));
  }
  if (phase_ == run_phase::finished && !runs_.empty()) broken.push_back("finished with runs");
  return broken;
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
