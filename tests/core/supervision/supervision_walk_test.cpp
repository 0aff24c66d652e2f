// Thousands of random event sequences against the fake world, the invariants of supervision
// checked after every step: one current run per plugin and one main process; every armed timer
// belongs to a live plugin or run in a state that waits for it; finished only when nothing is
// running or pending; nothing starts after the stop; a plugin stopped by hand stays stopped
// until started, restarted or reloaded; the fake world's processes are the machine's runs.
// PLUGHOST_WALK_SEEDS=N walks more seeds than CI's.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>

#include "common/cron_schedule.hpp"
#include "fake_world.hpp"

namespace plughost::detail {
namespace {

using namespace fakes;

const std::vector<std::string> names{"a.sh", "b.sh", "c.sh"};

class walker : public machine_harness {
 public:
  explicit walker(unsigned seed) : random_(seed) {
    world.nested_closes = true;
    machine.set_ordered_stop(pick(2) == 0);
  }

  // One random event; returns what it was, for the failure message.
  std::string step() {
    switch (pick(17)) {
      case 0:
      case 1:
        return exit_some();
      case 2:
        return exit_held_some();
      case 3:
        return drain_some();
      case 4:
        return leftovers_end_some();
      case 5:
      case 6:
        return advance();
      case 7:
        return reload();
      case 8:
      case 9:
        return by_hand();
      case 10:
        return toggle_room();
      case 11:
        return toggle_unstartable();
      case 12:
        return pick(30) == 0 ? stop() : pick(30) == 0 ? stop_signal() : advance();
      case 13:
        return pick(10) == 0 ? cap() : advance();
      case 14:
        return output_closes_some();
      case 15:
        return pick(4) == 0 ? gate_opens_some() : health_some();
      default:
        return kills_take();
    }
  }

  // The whole run: start-up, `steps` events, then a stop that must end in `finished`. Returns
  // how many events happened before the stop.
  int walk(int steps) {
    int i = 0;
    for (const auto& n : names) machine.add(random_item(n));
    check("start-up");
    machine.started_all();
    check("started_all");
    for (; i < steps && !world.is_finished; ++i) {
      const auto what = step();
      check(what);
      if (::testing::Test::HasFailure()) return i;
    }
    machine.stop("shutdown");
    check("stop");
    if (pick(3) == 0) world.advance(std::chrono::milliseconds(1000 + pick(500)));
    if (pick(3) == 0) machine.cap_stop_grace(1s, "parent exited");
    for (int round = 0; round < 200 && !world.is_finished; ++round) {
      kills_take();
      world.advance(std::chrono::milliseconds(200 + pick(2000)));
      if (pick(3) == 0) machine.stop_signal("SIGTERM");  // a second one: kill now
      for (auto& [id, p] : world.processes) {
        if (p.exit_held) world.drained(id);
      }
      check("stopping");
      if (::testing::Test::HasFailure()) return i;
    }
    EXPECT_TRUE(world.is_finished) << trail_;
    return i;
  }

 private:
  std::size_t pick(std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(random_);
  }

  launch_item random_item(const std::string& name) {
    auto policy =
        restarting(pick(10) == 0 ? restart_mode::schedule
                                 : std::array{restart_mode::always, restart_mode::always,
                                              restart_mode::on_failure, restart_mode::never,
                                              restart_mode::interval}[pick(5)]);
    if (policy.restart == restart_mode::schedule) {  // every 10 s, maybe also at start
      std::string error;
      policy.timetable.shared = std::make_shared<const timetable>(timetable{
          "*/10 * * * * *", "UTC",
          std::make_shared<const cron_schedule>(*cron_schedule::parse("*/10 * * * * *", error)),
          std::make_shared<const time_zone>()});
      policy.run_at_start = pick(2) == 0;
      if (pick(2) == 0) policy.jitter = 4s;
    }
    policy.interval = 3s;
    policy.max_restarts = 3;
    if (pick(3) == 0) policy.timeout = std::chrono::seconds(1 + pick(5));
    policy.stop_timeout = std::chrono::seconds(1 + pick(3));
    if (pick(2) == 0) {  // says when it is ready; maybe with a watchdog
      policy.notify = true;
      if (pick(2) == 0) policy.watchdog = std::chrono::seconds(1 + pick(6));
    }
    for (const auto kind : {probe_kind::startup, probe_kind::readiness, probe_kind::liveness}) {
      if (pick(3) != 0) continue;  // and probes, each with its own period
      probe_spec probe;
      probe.period = std::chrono::seconds(1 + pick(3));
      probe.failure_threshold = 1 + static_cast<int>(pick(3));
      if (kind == probe_kind::readiness) probe.success_threshold = 1 + static_cast<int>(pick(2));
      policy.set_probe(kind, probe);
    }
    // It waits for the plugins before it (never a cycle), and maybe for a gate.
    for (const auto& other : names) {
      if (other >= name || pick(3) != 0) continue;
      policy.waits_for.push_back({other, static_cast<wait_condition>(pick(3)), pick(2) == 0});
    }
    if (pick(5) == 0) {
      gate_spec gate;
      gate.target = "127.0.0.1:" + name;
      gate.timeout = std::chrono::seconds(2 + pick(5));
      policy.gate.shared = std::make_shared<const gate_spec>(gate);
    }
    return item(name, policy, "v" + std::to_string(pick(3)));
  }

  std::string gate_opens_some() {
    if (world.gates.empty()) return advance();
    auto it = world.gates.begin();
    std::advance(it, static_cast<long>(pick(world.gates.size())));
    const auto id = it->first;
    world.gate_opens(id);
    return fmt::format("the gate of plugin {} opens", id);
  }

  // A run whose main process runs says something about its health (WATCHDOG=trigger too), or
  // the probe under way of some run ends.
  std::string health_some() {
    if (!world.probes_running.empty() && pick(2) == 0) {
      auto it = world.probes_running.begin();
      std::advance(it, static_cast<long>(pick(world.probes_running.size())));
      const auto id = it->first;
      const bool passed = pick(3) != 0;
      world.probe_ends(id, passed);
      return fmt::format("probe of run {} {}", id, passed ? "passed" : "failed");
    }
    const auto id = any_of(mains());
    if (!id) return advance();
    const auto e = static_cast<health_event>(pick(health_event_count));
    machine.on_health(*id, e, e == health_event::failed ? "watchdog" : "notify");
    return fmt::format("run {} says {}", *id, to_string(e));
  }

  // Runs whose main process the world still runs.
  std::vector<run_id> mains() {
    std::vector<run_id> out;
    for (const auto& [id, p] : world.processes) {
      if (p.main_alive && !p.released) out.push_back(id);
    }
    return out;
  }
  template <typename V>
  std::optional<typename V::value_type> any_of(const V& v) {
    if (v.empty()) return std::nullopt;
    return v[pick(v.size())];
  }

  std::string exit_some() {
    const auto id = any_of(mains());
    if (!id) return advance();
    const bool leaves = pick(3) == 0;
    if (pick(4) == 0) {
      world.processes.at(*id).group_alive = leaves;
      world.killed_by(*id, SIGSEGV);
    } else {
      world.exit(*id, static_cast<int>(pick(2)), leaves);
    }
    return "exit of run " + std::to_string(*id);
  }
  std::string exit_held_some() {
    const auto id = any_of(mains());
    if (!id) return advance();
    world.exit_held(*id, static_cast<int>(pick(2)), pick(3) == 0);
    return "held exit of run " + std::to_string(*id);
  }
  std::string drain_some() {
    std::vector<run_id> held;
    for (const auto& [id, p] : world.processes) {
      if (p.exit_held) held.push_back(id);
    }
    const auto id = any_of(held);
    if (!id) return advance();
    world.drained(*id);
    return "drained run " + std::to_string(*id);
  }
  std::string leftovers_end_some() {
    std::vector<run_id> left;
    for (const auto& [id, p] : world.processes) {
      if (!p.main_alive && !p.exit_held && !p.released && (p.group_alive || p.output_open)) {
        left.push_back(id);
      }
    }
    const auto id = any_of(left);
    if (!id) return advance();
    world.leftovers_end(*id);
    return "leftovers of run " + std::to_string(*id) + " end";
  }
  std::string output_closes_some() {
    std::vector<run_id> open;
    for (const auto& [id, p] : world.processes) {
      if (!p.main_alive && !p.exit_held && p.output_open && !p.released) open.push_back(id);
    }
    const auto id = any_of(open);
    if (!id) return advance();
    world.processes.at(*id).output_open = false;
    machine.on_output_closed(*id);
    return "output of run " + std::to_string(*id) + " closes";
  }
  // A process that got SIGKILL dies (its whole group); one that got its stop signal may.
  std::string kills_take() {
    for (auto& [id, p] : world.processes) {
      if (p.released || p.signals.empty()) continue;
      const bool killed = p.signals.back() == SIGKILL;
      if (!killed && pick(2) == 0) continue;
      if (p.main_alive) {
        p.group_alive = false;
        world.killed_by(id, killed ? SIGKILL : SIGTERM);
      } else if (!p.exit_held) {
        world.leftovers_end(id);
      }
    }
    return "signalled processes end";
  }
  std::string advance() {
    const auto d = std::array<clock::duration, 5>{10ms, 200ms, 1s, 5s, 70s}[pick(5)];
    world.advance(d);
    return "advance " + std::to_string(std::chrono::duration<double>(d).count()) + " s";
  }
  std::string reload() {
    std::vector<launch_item> items;
    std::string said = "reload";
    for (const auto& n : names) {
      if (pick(4) == 0) continue;
      items.push_back(random_item(n));
      said += " " + n + ":" + items.back().fingerprint;
    }
    machine.reload(std::move(items));
    return said;
  }
  std::string by_hand() {
    const auto& name = names[pick(names.size())];
    const auto what = pick(3);
    try {
      if (what == 0) machine.stop_by_hand(name);
      if (what == 1) machine.start_by_hand(name);
      if (what == 2) machine.restart_by_hand(name);
    } catch (const std::invalid_argument&) {
    }
    return std::array{"stop", "start", "restart"}[what] + std::string(" by hand ") + name;
  }
  std::string toggle_room() {
    const auto& name = names[pick(names.size())];
    if (world.full_output.count(name)) {
      world.room_for(name);
      return "room for " + name;
    }
    world.full_output.insert(name);
    return "sinks of " + name + " full";
  }
  std::string toggle_unstartable() {
    const auto& name = names[pick(names.size())];
    if (!world.unstartable.erase(name)) world.unstartable.insert(name);
    return "startable flips for " + name;
  }
  std::string stop() {
    machine.stop("shutdown");
    return "stop";
  }
  std::string stop_signal() {
    machine.stop_signal("SIGTERM");
    return "SIGTERM";
  }
  std::string cap() {
    machine.cap_stop_grace(1s, "parent exited");
    return "cap the stop grace";
  }

  void check(const std::string& what);
  void check_timers(const std::map<plugin_id, plugin_state>& states,
                    const std::map<run_id, run_state>& runs);

  std::mt19937 random_;
  std::string trail_;
  std::map<std::string, run_id> held_runs_;  // plugins stopped by hand: their current run then
  std::size_t spawns_at_stop_ = 0;
  bool stopping_seen_ = false;
};

void walker::check(const std::string& what) {
  trail_ += what + "\n";
  const auto broken = machine.broken_invariants();
  ASSERT_TRUE(broken.empty()) << broken.front() << "\nafter:\n" << trail_;
  std::map<plugin_id, plugin_state> states;
  std::map<run_id, run_state> runs;
  std::map<std::string, int> mains_of;
  for (const auto& r : machine.runs()) runs[r.id] = r.state;
  const auto views = machine.plugins();
  for (const auto& v : views) states[v.id] = v.state;
  // The world's processes are the machine's runs, and each plugin runs one main process.
  std::size_t unreleased = 0;
  for (const auto& [id, p] : world.processes) {
    if (p.released) continue;
    ++unreleased;
    ASSERT_TRUE(runs.count(id)) << "run " << id << " lives on unseen\n" << trail_;
    if (p.main_alive || p.exit_held) ++mains_of[p.plugin];
    ASSERT_LE(mains_of[p.plugin], 1) << p.plugin << " runs twice\n" << trail_;
  }
  ASSERT_EQ(unreleased, machine.live_runs()) << trail_;
  check_timers(states, runs);
  // Nothing starts after the stop.
  if (machine.phase() == run_phase::stopping || machine.phase() == run_phase::finished) {
    if (!stopping_seen_) spawns_at_stop_ = world.spawns;
    stopping_seen_ = true;
    ASSERT_EQ(world.spawns, spawns_at_stop_) << "a start after the stop\n" << trail_;
  }
  // Finished only when nothing runs or waits to.
  if (world.is_finished) {
    ASSERT_EQ(machine.live_runs(), 0u) << trail_;
    for (const auto& v : views) {
      ASSERT_NE(v.state, plugin_state::backoff) << trail_;
      ASSERT_NE(v.state, plugin_state::waiting) << trail_;
    }
  }
  // Stopped by hand stays stopped until started, restarted or reloaded.
  const bool may_start = what.find("start by hand") != std::string::npos ||
                         what.find("restart by hand") != std::string::npos ||
                         what.rfind("reload", 0) == 0;
  for (const auto& v : views) {
    const auto held = held_runs_.find(v.name);
    if (held != held_runs_.end() && !may_start) {
      ASSERT_TRUE(!v.current || *v.current == held->second)
          << v.name << " started again on its own\n"
          << trail_;
    }
    if (v.state == plugin_state::held || v.state == plugin_state::stopping_by_hand) {
      held_runs_[v.name] = v.current.value_or(0);
    } else {
      held_runs_.erase(v.name);
    }
  }
}

// Every armed timer belongs to a live plugin or run in a state that waits for it.
void walker::check_timers(const std::map<plugin_id, plugin_state>& states,
                          const std::map<run_id, run_state>& runs) {
  std::set<plugin_id> restart_timers;
  auto restart_owner = [&](std::uint64_t owner) {
    ASSERT_EQ(states.at(owner), plugin_state::backoff)
        << "a restart timer of a plugin in " << to_string(states.at(owner)) << trail_;
    restart_timers.insert(owner);
  };
  for (const auto& [key, at] : world.timers) {
    if (key.what == timer_key::kind::restart) {
      restart_owner(key.owner);
      continue;
    }
    if (key.what == timer_key::kind::gate) {  // its timeout, while it is tried
      ASSERT_EQ(states.at(key.owner), plugin_state::waiting) << trail_;
      ASSERT_TRUE(world.gates.count(key.owner)) << "a gate timeout, and no gate tried\n" << trail_;
      continue;
    }
    ASSERT_TRUE(runs.count(key.owner)) << "a timer of a released run\n" << trail_;
    const auto s = runs.at(key.owner);
    if (key.what == timer_key::kind::limit || key.what >= timer_key::kind::watchdog) {
      ASSERT_TRUE(s == run_state::running || s == run_state::stopping || s == run_state::killing)
          << "a time limit, watchdog or probe in " << to_string(s) << "\n"
          << trail_;
    } else if (key.what == timer_key::kind::recheck) {
      ASSERT_TRUE(main_ended(s)) << "a recheck in " << to_string(s) << "\n" << trail_;
    } else {
      ASSERT_TRUE(s != run_state::running && s != run_state::draining && s != run_state::lingering)
          << "a stop timer in " << to_string(s) << "\n"
          << trail_;
    }
  }
  for (const auto& [key, plugin] : world.waiting_for_room) restart_owner(key.owner);
  for (const auto& [id, target] : world.gates) {
    ASSERT_EQ(states.at(id), plugin_state::waiting) << "a gate tried in vain\n" << trail_;
    ASSERT_TRUE(world.timers.count({timer_key::kind::gate, id})) << "a gate without timeout\n"
                                                                 << trail_;
  }
  for (const auto& [id, s] : states) {
    if (s == plugin_state::backoff) {
      ASSERT_TRUE(restart_timers.count(id)) << "backoff without a timer\n" << trail_;
    }
  }
}

int seeds() {
  const char* more = std::getenv("PLUGHOST_WALK_SEEDS");
  return more ? std::max(1, std::atoi(more)) : 3000;
}

TEST(supervision_walk, invariants_hold_over_random_event_sequences_that_reach_every_cell) {
  supervision_machine::plugin_visits plugin_visits{};
  supervision_machine::run_visits run_visits{};
  supervision_machine::health_visits health_visits{};
  std::uint64_t steps = 0;
  for (int seed = 1; seed <= seeds(); ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    walker w(static_cast<unsigned>(seed));
    steps += w.walk(150);
    if (::testing::Test::HasFailure()) return;
    for (std::size_t s = 0; s < plugin_state_count; ++s) {
      for (std::size_t e = 0; e < plugin_event_count; ++e) {
        plugin_visits[s][e] += w.machine.plugin_cell_visits()[s][e];
      }
    }
    for (std::size_t s = 0; s < run_state_count; ++s) {
      for (std::size_t e = 0; e < run_event_count; ++e) {
        run_visits[s][e] += w.machine.run_cell_visits()[s][e];
      }
    }
    for (std::size_t s = 0; s < health_state_count; ++s) {
      for (std::size_t e = 0; e < health_event_count; ++e) {
        health_visits[s][e] += w.machine.health_cell_visits()[s][e];
      }
    }
  }
  EXPECT_GE(steps, 40u * static_cast<std::uint64_t>(seeds()));
  // Every cell that can happen happens in some walk; no impossible one does (the walker's
  // invariants already fail on that).
  std::vector<std::string> missed;
  for (std::size_t s = 0; s < plugin_state_count; ++s) {
    for (std::size_t e = 0; e < plugin_event_count; ++e) {
      if (plugin_table[s][e].act != plugin_action::impossible && plugin_visits[s][e] == 0) {
        missed.push_back(fmt::format("{} × {}", to_string(static_cast<plugin_state>(s)),
                                     to_string(static_cast<plugin_event>(e))));
      }
    }
  }
  for (std::size_t s = 0; s < run_state_count; ++s) {
    for (std::size_t e = 0; e < run_event_count; ++e) {
      if (run_table[s][e].act != run_action::impossible && run_visits[s][e] == 0) {
        missed.push_back(fmt::format("run {} × {}", to_string(static_cast<run_state>(s)),
                                     to_string(static_cast<run_event>(e))));
      }
    }
  }
  for (std::size_t s = 0; s < health_state_count; ++s) {  // each of its cells can happen
    for (std::size_t e = 0; e < health_event_count; ++e) {
      if (health_visits[s][e] == 0) {
        missed.push_back(fmt::format("health {} × {}", to_string(static_cast<health_state>(s)),
                                     to_string(static_cast<health_event>(e))));
      }
    }
  }
  EXPECT_EQ(missed, std::vector<std::string>{});
}

}  // namespace
}  // namespace plughost::detail
