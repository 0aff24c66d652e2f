// restart: schedule (docs/running.md, "Schedules"): a plugin's schedule and time zone, layered
// as text like every policy key, read once all layers are applied; each time zone is read from
// the tz database once, whatever the number of plugins in it.
#include <fmt/format.h>

#include <map>
#include <mutex>

#include "common/cron_schedule.hpp"
#include "common/time_zone.hpp"
#include "config/setting_values.hpp"
#include "config/settings_parts.hpp"

namespace plughost::detail {

namespace {

// The zone named `name`, read once (nullptr, and `error`, when there is none).
std::shared_ptr<const time_zone> zone_named(const std::string& name, std::string& error) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<const time_zone>> zones;
  const std::lock_guard lock(mutex);
  if (const auto it = zones.find(name); it != zones.end()) return it->second;
  auto z = time_zone::load(name, error);
  if (!z) return nullptr;
  return zones[name] = std::make_shared<const time_zone>(std::move(*z));
}

}  // namespace

void read_timetable(plugin_policy& p, const std::string& what,
                    const std::function<picked(const char*)>& at) {
  const auto fail = [&](const char* key, const std::string& message) {
    const auto where = at(key);
    where.doc->fail_at_value(where.where, fmt::format("{}: {}", what, message));
  };
  if (p.max_concurrent != 1) {
    fail("max_concurrent", fmt::format("max_concurrent must be 1 (a plugin has one run at a "
                                       "time: a run due while one goes on starts when it "
                                       "ends), got {}",
                                       p.max_concurrent));
  }
  const bool scheduled = p.restart == restart_mode::schedule;
  if (scheduled && (!p.timetable.shared || p.timetable.shared->text.empty())) {
    fail("restart", "restart: schedule needs a schedule (e.g. schedule: \"*/5 * * * *\")");
  }
  if (!scheduled || p.timetable.shared->cron) return;
  auto t = *p.timetable.shared;
  std::string error;
  auto cron = cron_schedule::parse(t.text, error);
  if (!cron) fail("schedule", "schedule: " + error);
  t.cron = std::make_shared<const cron_schedule>(std::move(*cron));
  t.zone = zone_named(t.zone_name, error);
  if (!t.zone) fail("timezone", "timezone: " + error);
  p.timetable.shared = std::make_shared<const timetable>(std::move(t));
}

}  // namespace plughost::detail
