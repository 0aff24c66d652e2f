// A run's health, as the cells of health_table (supervision_table.hpp) name its actions: what the
// run says about itself (ready, stopping, alive) and its watchdog's silence, which stops the run
// as a failure (through the run's `unhealthy` event), as a time limit does.
#include <fmt/format.h>

#include "common/log.hpp"
#include "plughost/events.hpp"
#include "plughost/sink_helpers.hpp"
#include "supervision/supervision_machine.hpp"

namespace plughost::detail {

void supervision_machine::on(run& r, health_event e, std::string_view how) {
  const auto from = r.health;
  const auto& c = health_table[static_cast<std::size_t>(from)][static_cast<std::size_t>(e)];
  ++health_visits_[static_cast<std::size_t>(from)][static_cast<std::size_t>(e)];
  const auto id = r.id;
  act(r, c.act, how);
  const auto* still = find_run(id);
  const auto to = still ? still->health : from;
  if (c.next == 0 ? to != from : (c.next & (std::uint32_t{1} << static_cast<unsigned>(to))) == 0) {
    violated(fmt::format("run {} of {}: health {} in {} ended {}", id, r.name, to_string(e),
                         to_string(from), to_string(to)));
  }
}

void supervision_machine::act(run& r, health_action a, std::string_view how) {
  switch (a) {
    case health_action::nothing:
      return;
    case health_action::mark_ready:
      return mark_ready(r, how);
    case health_action::mark_unhealthy:
      r.health = health_state::unhealthy;
      return;
    case health_action::feed_watchdog:
      if (r.policy.watchdog.count() > 0) {
        port_.arm({timer_key::kind::watchdog, r.id}, r.policy.watchdog);
      }
      return;
    case health_action::fail_run:
      return watchdog_missed(r);
  }
}

// How long since the run started (the first time: ready_after); each time, an event.
void supervision_machine::mark_ready(run& r, std::string_view how) {
  r.health = health_state::ready;
  const auto now = port_.now();
  const auto after = now - r.started;
  if (!r.ready_at) r.ready_at = now;
  const event_field fields[] = {
      {"after", std::chrono::duration<double>(after).count()},
      {"how", how},
  };
  port_.event(r.name, r.pid, events::ready, fields);
}

// Its watchdog heard nothing for its time (or it asked for this, WATCHDOG=trigger): it is stopped,
// and the stop is its failure, so that its restart policy starts it again.
void supervision_machine::watchdog_missed(run& r) {
  r.unhealthy_for = "watchdog";
  const double limit = std::chrono::duration<double>(r.policy.watchdog).count();
  log().warn("plugin {} sent no WATCHDOG=1 for {}s: stopping it", visible_name(r.name), limit);
  const event_field fields[] = {{"watchdog", limit}};
  port_.event(r.name, r.pid, events::watchdog, fields);
  if (auto* p = find_plugin(r.owner)) ++p->health_failures["watchdog"];
  on(r, run_event::unhealthy);
}

}  // namespace plughost::detail
