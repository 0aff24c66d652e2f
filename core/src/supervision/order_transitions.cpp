// Order and gates (docs/health.md): before each start a plugin waits for the plugins it comes
// `after` or `requires` (started, ready or completed) and for its `wait_for` gate; a plugin it
// requires that fails for good takes it down; the ordered stop stops plugins in the reverse
// order. The cells of plugin_table in state `waiting` and the events may_start, gate_failed and
// required_failed.
#include <fmt/format.h>

#include <algorithm>

#include "common/log.hpp"
#include "plughost/events.hpp"
#include "plughost/sink_helpers.hpp"
#include "supervision/supervision_machine.hpp"

namespace plughost::detail {

namespace {

using state = plugin_state;

// Whether `x` is as `until` asks. A plugin that does not say when it is ready is ready once it
// runs.
template <typename Plugin, typename Runs>
bool holds(const Plugin& x, wait_condition until, const Runs& runs) {
  switch (until) {
    case wait_condition::started:
      return x.state == state::running;
    case wait_condition::ready: {
      if (x.state != state::running || !x.current) return false;
      const auto it = runs.find(*x.current);
      return it != runs.end() && it->second.state == run_state::running &&
             it->second.health == health_state::ready;
    }
    case wait_condition::completed:
      return !has_run(x.state) && x.state != state::waiting && x.last_exit &&
             !x.last_exit->by_signal && x.last_exit->value == 0;
  }
  return false;
}

}  // namespace

// What stands between `p` and its next start, in the order they are looked at: the plugins it
// waits for, then its gate.
supervision_machine::verdict supervision_machine::judge(const plugin& p) const {
  verdict v;
  std::vector<std::string> waits;
  for (const auto& dep : p.item.policy.waits_for) {
    const auto at = by_name_.find(dep.name);
    const plugin* x = at == by_name_.end() ? nullptr : &plugins_.at(at->second);
    if (x == &p) continue;
    if (!x || x->state == state::retired) {
      if (phase_ == run_phase::starting) {  // it may be added yet
        waits.push_back(fmt::format("{} ({})", dep.name, to_string(dep.until)));
      } else if (dep.required) {
        return {verdict::is::cannot,
                fmt::format("it requires {}, which this plughost does not run", dep.name)};
      }
      continue;
    }
    if (holds(*x, dep.until, runs_)) continue;
    // Ended and not coming back by itself: `after` does not wait for it; `requires` cannot.
    const bool ended = x->state == state::failed || x->state == state::stopped ||
                       (x->state == state::exited && dep.until != wait_condition::completed);
    if (ended && dep.required) {
      return {verdict::is::cannot,
              fmt::format("it requires {} ({}), which {}", dep.name, to_string(dep.until),
                          x->state == state::exited ? "has ended" : "failed for good")};
    }
    if (ended || (!dep.required && x->state == state::held)) continue;
    waits.push_back(fmt::format("{} ({})", dep.name, to_string(dep.until)));
  }
  if (!waits.empty()) return {verdict::is::wait, fmt::format("{}", fmt::join(waits, ", ")), false};
  if (const auto& gate = p.item.policy.gate.shared; gate && !p.gate_open) {
    return {verdict::is::wait, gate->target, true};
  }
  return v;
}

// Whether `p` must wait before this start: it is then `waiting`, its gate tried once the
// plugins it waits for are there; or, when it cannot start at all, failed.
bool supervision_machine::must_wait(plugin& p) {
  const auto v = judge(p);
  if (v.what == verdict::is::go) return false;
  if (p.state != state::waiting) {
    p.wait_began = port_.now();
    p.wait_reasons.clear();
  }
  p.state = state::waiting;
  note_wait(p, v.why);
  waiting_.insert(p.id);
  if (v.what == verdict::is::cannot) {
    on(p, plugin_event::required_failed);
  } else if (v.gate && !p.gate_asked) {
    p.gate_asked = true;
    port_.start_gate(p.id, *p.item.policy.gate.shared);
    port_.arm({timer_key::kind::gate, p.id}, p.item.policy.gate.shared->timeout);
  }
  return true;
}

// After every event: a waiting plugin whose wait is over starts (which may end another's wait:
// again until nothing changes); one that cannot start fails.
void supervision_machine::look_at_waiting() {
  if (phase_ == run_phase::stopping || phase_ == run_phase::finished) return;
  for (bool changed = true; changed;) {
    changed = false;
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      auto* p = find_plugin(*it);
      const bool lost = p && p->state == state::failed && p->lost_requirement;
      if (!p || (p->state != state::waiting && !lost)) {
        it = waiting_.erase(it);
        continue;
      }
      ++it;
      const auto v = judge(*p);
      if (lost) {  // failed for what it requires: back?
        if (v.what == verdict::is::cannot) continue;
        on(*p, plugin_event::may_start);
        changed = true;
        break;
      }
      if (v.what == verdict::is::wait) {
        note_wait(*p, v.why);
        if (v.gate && !p->gate_asked) must_wait(*p);  // the plugins are there: its gate now
        continue;
      }
      if (v.what == verdict::is::cannot) note_wait(*p, v.why);
      on(*p, v.what == verdict::is::go ? plugin_event::may_start : plugin_event::required_failed);
      changed = true;
      break;  // waiting_ may have changed under the loop
    }
  }
}

// What `p` waits for now; what it waited for is each such text, once.
void supervision_machine::note_wait(plugin& p, const std::string& why) {
  p.waiting_for = why;
  if (std::find(p.wait_reasons.begin(), p.wait_reasons.end(), why) == p.wait_reasons.end()) {
    p.wait_reasons.push_back(why);
  }
}

// `p` leaves `waiting` (whatever the event): its gate is no longer tried.
void supervision_machine::stop_waiting(plugin& p) {
  if (p.gate_asked) {
    port_.cancel_gate(p.id);
    port_.cancel({timer_key::kind::gate, p.id});
  }
  p.gate_asked = false;
  p.gate_open = false;
  p.waited_for = fmt::format("{}", fmt::join(p.wait_reasons, ", then "));
  p.waited = port_.now() - p.wait_began;
  p.waiting_for.clear();
}

void supervision_machine::on_gate_open(plugin_id id) {
  in_event([&] {
    auto* p = find_plugin(id);
    if (!p || p->state != state::waiting || !p->gate_asked) return std::string();
    port_.cancel({timer_key::kind::gate, id});
    p->gate_open = true;  // look_at_waiting() starts it
    return std::string();
  });
}

// Its gate did not answer in time: an error, and its policy decides, as for a run that failed.
void supervision_machine::gate_timed_out(plugin& p) {
  const auto& gate = *p.item.policy.gate.shared;
  const auto message =
      fmt::format("wait_for {}: not there within {}s{}", gate.target,
                  std::chrono::duration<double>(gate.timeout).count(),
                  p.gate_failure.empty() ? "" : " (the last attempt: " + p.gate_failure + ")");
  log().error("plugin {}: {}", visible_name(p.item.name), message);
  p.start_error = message;
  const event_field fields[] = {{"message", std::string_view(message)}};
  port_.event(p.item.name, 0, events::error, fields);
  by_policy(p, /*failed=*/true, clock::duration::zero());
}

// It cannot start: a plugin it requires failed for good, has ended, or is not run here.
void supervision_machine::fail_waiting(plugin& p) {
  const auto message = p.wait_reasons.empty() ? std::string() : p.wait_reasons.back();
  log().error("plugin {} cannot start: {}", visible_name(p.item.name), message);
  p.start_error = message;
  const event_field fields[] = {{"message", std::string_view(message)}};
  port_.event(p.item.name, 0, events::error, fields);
  end_for_good(p, /*failed=*/true);
  p.lost_requirement = true;
  waiting_.insert(p.id);  // looked at again: it starts once what it requires is back
}

// A plugin it requires failed for good while it runs: its run is stopped, and its next start
// (restarting) finds that it cannot.
void supervision_machine::lose_requirement(plugin& p) {
  p.state = state::restarting;
  stop_current(p, "a plugin it requires is gone");
}

// `p` failed for good, or a reload removed it: the running plugins that require it stop (the
// waiting ones find out when look_at_waiting() judges them).
void supervision_machine::dependents_lose(const plugin& p, std::string_view why) {
  for (auto& [id, q] : plugins_) {
    if (q.state != state::running) continue;
    for (const auto& dep : q.item.policy.waits_for) {
      if (dep.required && dep.name == p.item.name) {
        log().warn("plugin {} requires {}, which {}: stopping it", visible_name(q.item.name),
                   visible_name(p.item.name), why);
        on(q, plugin_event::required_failed);
        break;
      }
    }
  }
}

// The ordered stop: the run of `owner` may be stopped once no plugin that waits for it (after
// or requires) has a run left.
bool supervision_machine::may_stop_now(plugin_id owner, const std::set<plugin_id>& live) const {
  const auto& name = plugins_.at(owner).item.name;
  for (const auto id : live) {
    if (id == owner) continue;
    for (const auto& dep : plugins_.at(id).item.policy.waits_for) {
      if (dep.name == name) return false;
    }
  }
  return true;
}

void supervision_machine::stop_in_order() {
  if (!ordered_stop_ || phase_ != run_phase::stopping) return;
  for (bool changed = true; changed;) {
    changed = false;
    std::set<plugin_id> live;
    for (const auto& [id, r] : runs_) live.insert(r.owner);
    for (auto& [id, r] : runs_) {
      if (!r.held_back || !may_stop_now(r.owner, live)) continue;
      r.held_back = false;
      on(r, run_event::stop, {{}, stop_reason_});
      changed = true;
      break;  // runs_ may have changed
    }
  }
}

// A second stop signal or a cap on the stop ends the order: every run held back is stopped now.
void supervision_machine::release_held_back() {
  for (auto& [id, r] : runs_) {
    if (!r.held_back) continue;
    r.held_back = false;
    on(r, run_event::stop, {{}, stop_reason_});
  }
}

}  // namespace plughost::detail
