// restart: schedule (docs/running.md, "Schedules"), for real: a plugin on a schedule of every
// 2 seconds (the sixth, seconds field) in a time zone with an odd offset runs at its times,
// shows `scheduled` with its next run between them, and the settings refused at load.
#include <fmt/format.h>
#include <signal.h>

#include <chrono>
#include <cmath>

#include "integration.hpp"

namespace plughost::test {
namespace {

using namespace std::chrono_literals;

class schedule : public plughost_run {
 protected:
  fs::path socket() const { return dir.path() / "ctl.sock"; }
};

TEST_F(schedule, a_scheduled_plugin_runs_at_its_times_and_waits_between_them) {
  plugin("all_tick.sh", "echo tick\n");
  const auto settings = dir.write(
      "settings.yaml",
      "plughost:\n  plugins:\n    all_tick.sh: {restart: schedule, schedule: '*/2 * * * * *', "
      "timezone: Asia/Kolkata}\n");
  auto host = start({"run", "--settings", settings.string(), "--socket", socket().string()});
  std::vector<double> starts;
  ASSERT_TRUE(eventually(
      [&] {
        starts.clear();
        for (const auto& r : events_of(records_of("all_tick.sh"))) {
          if (r["event"] == "started") starts.push_back(record_seconds(r["ts"]));
        }
        return starts.size() >= 3;
      },
      20s))
      << read_file(dir.path() / "bg.err");
  for (std::size_t i = 0; i < starts.size(); ++i) {
    // At an even second (Kolkata is 5:30 ahead: its seconds are UTC's), within a generous bound.
    const double second = std::floor(starts[i]);
    EXPECT_EQ(static_cast<long long>(second) % 2, 0) << std::fixed << starts[i];
    EXPECT_LT(starts[i] - second, 0.5) << std::fixed << starts[i];
    if (i > 0) {
      EXPECT_NEAR(starts[i] - starts[i - 1], 2.0, 0.5);
    }
  }
  const auto p = plugin_status_at(socket(), "all_tick.sh");
  EXPECT_TRUE(p["state"] == "scheduled" || p["state"] == "running") << p.dump();
  bool next_run = false;
  for (const auto& r : events_of(records_of("all_tick.sh"))) {
    next_run = next_run || (r["event"] == "next_run" && r.contains("at"));
  }
  EXPECT_TRUE(next_run);
  host->signal(SIGTERM);
  ASSERT_TRUE(host->wait_for(30s));
}

TEST_F(schedule, schedule_settings_that_cannot_work_are_refused_at_their_line) {
  plugin("all_a.sh", "exit 0\n");
  const auto bad = (dir.path() / "bad.yaml").string();
  const auto refused = [&](const std::string& entry) {
    const auto settings = dir.write("bad.yaml", "plughost:\n  plugins:\n    all_a.sh:\n" + entry);
    const auto r = run({"run", "--settings", settings.string()});
    EXPECT_EQ(r.exit_code, 2) << entry;
    EXPECT_TRUE(records().empty());
    return r.err;
  };
  EXPECT_EQ(refused("      restart: schedule\n"),
            fmt::format("plughost: error: {}:4:16: plughost.plugins.all_a.sh: restart: schedule "
                        "needs a schedule (e.g. schedule: \"*/5 * * * *\")\n",
                        bad));
  EXPECT_EQ(refused("      restart: schedule\n      schedule: '61 * * * *'\n"),
            fmt::format("plughost: error: {}:5:17: plughost.plugins.all_a.sh: schedule: minute "
                        "field '61': values go from 0 to 59\n",
                        bad));
  EXPECT_EQ(refused("      restart: schedule\n      schedule: '@hourly'\n"
                    "      timezone: Europe/Pariss\n"),
            fmt::format("plughost: error: {}:6:17: plughost.plugins.all_a.sh: timezone: no time "
                        "zone named 'Europe/Pariss' in /usr/share/zoneinfo (an Area/City name "
                        "such as Europe/Paris; is tzdata installed?)\n",
                        bad));
  EXPECT_EQ(
      refused("      restart: schedule\n      schedule: '@hourly'\n      max_concurrent: 2\n"),
      fmt::format("plughost: error: {}:6:23: plughost.plugins.all_a.sh: max_concurrent must "
                  "be 1 (a plugin has one run at a time: a run due while one goes on "
                  "starts when it ends), got 2\n",
                  bad));
}

}  // namespace
}  // namespace plughost::test
