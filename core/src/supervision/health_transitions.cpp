// A run's health, as the cells of health_table (supervision_table.hpp) name its actions: what the
// run says about itself (ready, not ready, alive), what its probes find, and its watchdog's
// silence or a failed liveness or startup probe, which stop the run as a failure (through the
// run's `unhealthy` event), as a time limit does. Also when its probes run: each on its own
// period, never two of a run at once, readiness and liveness only once startup passed.
#include <fmt/format.h>

#include "common/log.hpp"
#include "plughost/events.hpp"
#include "plughost/sink_helpers.hpp"
#include "supervision/supervision_machine.hpp"

namespace plughost::detail {

namespace {

constexpr timer_key::kind probe_timer(probe_kind k) {
  return static_cast<timer_key::kind>(static_cast<int>(timer_key::kind::probe_startup) +
                                      static_cast<int>(k));
}

constexpr unsigned bit(probe_kind k) {
  return 1u << static_cast<unsigned>(k);
}

}  // namespace

void supervision_machine::on_health(run_id id, health_event e, std::string_view how) {
  in_event([&] {
    if (auto* r = find_run(id)) {
      on(*r, e, how);
    }
    return std::string();
  });
}

void supervision_machine::on_status_text(run_id id, std::string text) {
  if (auto* r = find_run(id)) r->status_text = std::move(text);
}

void supervision_machine::on_probe_result(run_id id, probe_kind kind, bool passed,
                                          std::string message) {
  in_event([&] {
    auto* r = find_run(id);
    if (!r) return std::string();
    r->probe_running = false;
    if (r->state != run_state::running) return std::string();  // on its way out
    probe_outcome(*r, kind, passed, message);
    if ((r = find_run(id)) && !r->probe_running) run_due_probe(*r);
    return std::string();
  });
}

void supervision_machine::on(run& r, health_event e, std::string_view how) {
  // Only while its main process runs unsignalled: a run being stopped is on its way out,
  // whatever it says or its probes find (a second failure of one run would count twice).
  if (r.state != run_state::running) return;
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
      return fail_run(r, how);
  }
}

// How long since the run started (the first time: ready_after); each time, an event.
void supervision_machine::mark_ready(run& r, std::string_view how) {
  r.health = health_state::ready;
  const auto now = port_.now();
  const auto after = now - r.started;
  if (!r.ready_at) r.ready_at = now;
  if (auto* p = find_plugin(r.owner); p && !p->first_ready) p->first_ready = now;
  const event_field fields[] = {
      {"after", std::chrono::duration<double>(after).count()},
      {"how", how},
  };
  port_.event(r.name, r.pid, events::ready, fields);
}

// Its watchdog heard nothing for its time (or it asked for this, WATCHDOG=trigger), or its
// liveness or startup probe failed: it is stopped, and the stop is its failure, so that its
// restart policy starts it again.
void supervision_machine::fail_run(run& r, std::string_view why) {
  if (why == "watchdog" || why == "watchdog trigger") {
    r.unhealthy_for = "watchdog";
    const double limit = std::chrono::duration<double>(r.policy.watchdog).count();
    if (why == "watchdog") {
      log().warn("plugin {} sent no WATCHDOG=1 for {}s: stopping it", visible_name(r.name), limit);
    } else {
      log().warn("plugin {} sent WATCHDOG=trigger: stopping it", visible_name(r.name));
    }
    const event_field fields[] = {{"watchdog", limit}};
    port_.event(r.name, r.pid, events::watchdog, fields);
    why = "watchdog";
  } else {
    r.unhealthy_for = why == "startup" ? "startup probe" : "liveness probe";
    log().warn("plugin {}: its {} failed: stopping it", visible_name(r.name), r.unhealthy_for);
  }
  if (auto* p = find_plugin(r.owner)) ++p->health_failures[std::string(why)];
  on(r, run_event::unhealthy);
}

void supervision_machine::cancel_health_timers(const run& r) {
  port_.cancel({timer_key::kind::watchdog, r.id});
  for (const auto k : {probe_kind::startup, probe_kind::readiness, probe_kind::liveness}) {
    port_.cancel({probe_timer(k), r.id});
  }
}

// ---- probes ----------------------------------------------------------------------------------

// A new run: its startup probe first, or (none, or passed) its readiness and liveness probes,
// each after its initial delay.
void supervision_machine::arm_probes(run& r) {
  const auto arm = [&](probe_kind k) {
    if (const auto& spec = r.policy.probe(k))
      port_.arm({probe_timer(k), r.id}, spec->initial_delay);
  };
  if (!r.started_up) return arm(probe_kind::startup);
  arm(probe_kind::readiness);
  arm(probe_kind::liveness);
}

void supervision_machine::probe_due(run& r, probe_kind kind) {
  if (r.state != run_state::running) return;  // being stopped: no more probes
  r.probes_due |= bit(kind);
  if (!r.probe_running) run_due_probe(r);
}

void supervision_machine::run_due_probe(run& r) {
  for (const auto k : {probe_kind::startup, probe_kind::readiness, probe_kind::liveness}) {
    if ((r.probes_due & bit(k)) == 0) continue;
    r.probes_due &= ~bit(k);
    r.probe_running = true;
    r.probe_began[static_cast<std::size_t>(k)] = port_.now();
    port_.start_probe(r.id, k, *r.policy.probe(k));
    return;
  }
}

// Counts the outcome in a row; a `probe` event when it differs from the one before (a first
// success says nothing); the thresholds reached tell the run's health; the next one is armed.
void supervision_machine::probe_outcome(run& r, probe_kind kind, bool passed,
                                        const std::string& message) {
  const auto& spec = *r.policy.probe(kind);
  auto& count = r.probes[static_cast<std::size_t>(kind)];
  if (count.last != passed && (count.last || !passed)) {
    const event_field fields[] = {{"probe", to_string(kind)},
                                  {"result", std::string_view(passed ? "passed" : "failed")},
                                  {"message", std::string_view(message)}};
    port_.event(r.name, r.pid, events::probe, std::span(fields, passed ? 2 : 3));
  }
  count.last = passed;
  count.passed = passed ? count.passed + 1 : 0;
  count.failed = passed ? 0 : count.failed + 1;
  const auto id = r.id;
  if (kind == probe_kind::startup && passed) {
    r.started_up = true;
    arm_probes(r);
    if (!r.policy.readiness_said_otherwise()) on(r, health_event::ready, "startup probe");
    return;
  }
  if (kind == probe_kind::readiness && passed && count.passed >= spec.success_threshold) {
    if (r.health != health_state::ready) on(r, health_event::ready, "readiness probe");
  } else if (!passed && count.failed >= spec.failure_threshold) {
    if (kind == probe_kind::readiness) {
      on(r, health_event::not_ready, "readiness");
    } else {
      return on(r, health_event::failed, to_string(kind));  // the run is being stopped
    }
  }
  // Every period from the start of the one before (Kubernetes' ticker), at once when a probe
  // took longer.
  if (find_run(id)) {
    const auto since = port_.now() - r.probe_began[static_cast<std::size_t>(kind)];
    port_.arm({probe_timer(kind), id},
              since < spec.period ? spec.period - since : clock::duration{});
  }
}

}  // namespace plughost::detail
