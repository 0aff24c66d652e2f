// restart: schedule (docs/running.md, "Schedules"): when a scheduled plugin runs next.
#include <fmt/chrono.h>
#include <fmt/format.h>

#include "common/cron_schedule.hpp"
#include "common/log.hpp"
#include "plughost/events.hpp"
#include "plughost/sink_helpers.hpp"
#include "supervision/supervision_machine.hpp"

namespace plughost::detail {

// Its next run: at the schedule's first time after the start of the run that ended (a time that
// came while it ran is due at once: never two runs at a time), and never twice for one time;
// then a random delay of up to its jitter. A schedule that never comes again ends the plugin.
void supervision_machine::schedule_run(plugin& p, std::optional<clock::duration> ran_for) {
  using std::chrono::seconds;
  const auto& t = *p.item.policy.timetable.shared;
  const auto wall = port_.wall_now();
  const auto began =
      ran_for ? wall - std::chrono::duration_cast<std::chrono::system_clock::duration>(*ran_for)
              : wall;
  const auto from = std::max<std::int64_t>(
      std::chrono::duration_cast<seconds>(began.time_since_epoch()).count(), p.last_slot);
  const auto next = t.cron->next_after(from, *t.zone);
  if (!next) {
    log().warn("plugin {}: its schedule '{}' does not come again: it will not run again",
               visible_name(p.item.name), t.text);
    return end_for_good(p, false);
  }
  p.last_slot = *next;
  const auto at = std::chrono::system_clock::time_point(seconds(*next));
  auto delay = std::max<clock::duration>(std::chrono::duration_cast<clock::duration>(at - wall),
                                         clock::duration::zero());
  if (p.item.policy.jitter.count() > 0) delay += port_.random_below(p.item.policy.jitter);
  const auto when =
      fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(static_cast<std::time_t>(*next)));
  const event_field fields[] = {{"delay", std::chrono::duration<double>(delay).count()},
                                {"at", std::string_view(when)}};
  port_.event(p.item.name, 0, events::next_run, fields);
  schedule(p, delay);
}

}  // namespace plughost::detail
