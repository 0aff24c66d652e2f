// What the machine shows of its plugins (status, metrics, the tests): one view per plugin.
#include <fmt/format.h>

#include "supervision/supervision_machine.hpp"

namespace plughost::detail {

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
    const bool held = p.state == plugin_state::held || p.state == plugin_state::stopping_by_hand;
    v.by_hand = held ? "stopped" : p.started_by_hand ? "started" : "";
    v.exit_codes = p.exit_codes;
    v.exit_signals = p.exit_signals;
    v.isolation = &p.item.isolated();
    v.id = id;
    v.signals_ready = p.item.policy.signals_ready();
    v.required = p.item.policy.required;
    v.health_failures = p.health_failures;
    v.scheduled = p.item.policy.restart == restart_mode::schedule;
    v.waiting_for = p.waiting_for;
    v.waited_for = p.waited_for;
    v.waited = p.waited;
    if (began_ && p.first_started) v.first_started = *p.first_started - *began_;
    if (began_ && p.first_ready) v.first_ready = *p.first_ready - *began_;
    if (!p.item.policy.waits_for.empty() || p.item.policy.gate.shared) {
      v.depends_on = describe_waits(p.item.policy);
    }
    if (p.current) {
      const auto& r = runs_.at(*p.current);
      v.current_state = r.state;
      v.pid = r.pid;
      v.since = r.started;
      v.health = r.health;
      if (r.ready_at) v.ready_after = *r.ready_at - r.started;
      v.status_text = r.status_text;
    }
    if (p.state == plugin_state::backoff) v.next_restart = p.restart_due;
    f(std::move(v));
  }
}

}  // namespace plughost::detail
