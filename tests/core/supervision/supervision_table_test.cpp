// Every cell of supervision's tables, walked: a plugin (and a run) is brought into each state
// by real events on the fake world, the cell's event happens, and the state it ends in is
// checked against this file's own expectations (written apart from the code's table). And
// docs/architecture.md shows the tables as the code has them.
#include "supervision/supervision_table.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "fake_world.hpp"

namespace plughost::detail {
namespace {

using namespace fakes;
using ps = plugin_state;
using pe = plugin_event;
using rs = run_state;
using re = run_event;
constexpr auto no = std::nullopt;  // the event cannot reach the state

// ---- a plugin -------------------------------------------------------------------------------

class plugin_cells : public machine_harness {
 public:
  // Brings p.sh into `s` (policy: restart always, or never for exited/failed), beside other.sh,
  // which it requires (started; other.sh never restarts). Waiting, it waits for its gate.
  void bring(ps s) {
    auto policy = restarting(restart_mode::always);
    if (s == ps::exited || s == ps::failed) policy.restart = restart_mode::never;
    policy.waits_for = {{"other.sh", wait_condition::started, /*required=*/true}};
    if (s == ps::waiting) {
      gate_spec gate;
      gate.target = "127.0.0.1:1";
      gate.timeout = 30s;
      policy.gate.shared = std::make_shared<const gate_spec>(gate);
    }
    policy_ = policy;
    other_ = restarting(restart_mode::never);
    start({item("p.sh", policy), item("other.sh", other_), item("keep.sh", keep_)});
    if (s == ps::waiting) {
      ASSERT_EQ(state("p.sh"), s);
      return;
    }
    const auto run = current("p.sh");
    switch (s) {
      case ps::stopping_by_hand:
        machine.stop_by_hand("p.sh");
        break;
      case ps::restarting:
        machine.restart_by_hand("p.sh");
        break;
      case ps::replacing:
        machine.reload({item("p.sh", policy, "v2"), item("other.sh", policy)});
        break;
      case ps::stopping:
        machine.stop("shutdown");
        break;
      case ps::backoff:
        world.exit(run, 1);
        break;
      case ps::held:
        machine.stop_by_hand("p.sh");
        world.exit(run, 0);
        break;
      case ps::exited:
        world.exit(run, 0);
        break;
      case ps::failed:  // for what it requires: other.sh failed for good; it stops, then fails
        world.exit(current("other.sh"), 1);
        world.exit(run, 0);
        break;
      case ps::stopped:
        machine.stop("shutdown");
        world.exit(run, 0);
        break;
      case ps::retired:  // its run is still being stopped
        machine.reload({item("other.sh", other_), item("keep.sh", keep_)});
        break;
      default:
        break;
    }
    ASSERT_EQ(state("p.sh"), s);
  }

  // The event; returns false when it was refused (as it must be while stopping).
  bool happen(pe e) {
    const auto v = view("p.sh");
    const auto v2 = item("p.sh", policy_, v.state == ps::replacing ? "v3" : "v2");
    try {
      switch (e) {
        case pe::run_ended:
          world.exit(*v.current, 0);
          break;
        case pe::restart_due:
          world.advance(1s);
          break;
        case pe::reload_same:
          return machine
              .reload({item("p.sh", policy_), item("other.sh", other_), item("keep.sh", keep_)})
              .applied;
        case pe::reload_changed:
          return machine.reload({v2, item("other.sh", other_), item("keep.sh", keep_)}).applied;
        case pe::reload_removed:
          return machine.reload({item("other.sh", other_), item("keep.sh", keep_)}).applied;
        case pe::stop_by_hand:
          machine.stop_by_hand("p.sh");
          break;
        case pe::start_by_hand:
          machine.start_by_hand("p.sh");
          break;
        case pe::restart_by_hand:
          machine.restart_by_hand("p.sh");
          break;
        case pe::shutdown:
          machine.stop("shutdown");
          break;
        case pe::may_start:  // its gate opens; or (failed) what it requires is back
          if (v.state == ps::failed) {
            machine.start_by_hand("other.sh");
          } else {
            world.gate_opens(v.id);
          }
          break;
        case pe::gate_failed:
          world.advance(30s);
          break;
        case pe::required_failed:  // other.sh fails for good
          world.exit(current("other.sh"), 1);
          break;
      }
    } catch (const std::invalid_argument&) {
      return false;
    }
    return true;
  }

  plugin_policy policy_;
  plugin_policy other_;
  plugin_policy keep_ = restarting(restart_mode::always);  // keeps the run going
};

// What each event does in each state, as this test expects it: the state it ends in, or
// nullopt where the event cannot reach that state (or is refused: while stopping, and by name
// once retired).
using expected_row = std::array<std::optional<ps>, plugin_event_count>;
const std::map<ps, expected_row> expected_plugin{
    // run_ended, restart_due, reload_same, reload_changed, reload_removed, stop_by_hand,
    // start_by_hand, restart_by_hand, shutdown, may_start, gate_failed, required_failed
    {ps::running,
     expected_row{ps::backoff, no, ps::running, ps::replacing, ps::retired, ps::stopping_by_hand,
                  ps::running, ps::restarting, ps::stopping, no, no, ps::restarting}},
    {ps::stopping_by_hand,
     expected_row{ps::held, no, ps::restarting, ps::replacing, ps::retired, ps::stopping_by_hand,
                  ps::restarting, ps::restarting, ps::stopping, no, no, no}},
    {ps::restarting,
     expected_row{ps::running, no, ps::restarting, ps::replacing, ps::retired, ps::stopping_by_hand,
                  ps::restarting, ps::restarting, ps::stopping, no, no, no}},
    {ps::replacing,
     expected_row{ps::running, no, ps::replacing, ps::replacing, ps::retired, ps::stopping_by_hand,
                  ps::replacing, ps::replacing, ps::stopping, no, no, no}},
    {ps::stopping, expected_row{ps::stopped, no, no, no, no, no, no, no, no, no, no, no}},
    {ps::backoff, expected_row{no, ps::running, ps::backoff, ps::running, ps::retired, ps::held,
                               ps::running, ps::running, ps::stopped, no, no, no}},
    {ps::held, expected_row{no, no, ps::running, ps::running, ps::retired, ps::held, ps::running,
                            ps::running, ps::held, no, no, no}},
    {ps::exited, expected_row{no, no, ps::exited, ps::running, ps::retired, ps::held, ps::running,
                              ps::running, ps::exited, no, no, no}},
    {ps::failed, expected_row{no, no, ps::failed, ps::failed, ps::retired, ps::held, ps::failed,
                              ps::failed, ps::failed, ps::running, no, no}},
    {ps::stopped, expected_row{no, no, no, no, no, no, no, no, no, no, no, no}},
    {ps::retired, expected_row{ps::retired, no, ps::replacing, ps::replacing, no, no, no, no,
                               ps::retired, no, no, no}},
    {ps::waiting, expected_row{no, no, ps::waiting, ps::waiting, ps::retired, ps::held, ps::waiting,
                               ps::waiting, ps::stopped, ps::running, ps::backoff, ps::failed}},
};

TEST(supervision_table, every_plugin_cell_is_walked_and_the_impossible_ones_are_unreachable) {
  std::size_t walked = 0;
  for (const auto& [s, row] : expected_plugin) {
    for (std::size_t e = 0; e < plugin_event_count; ++e) {
      const auto event = static_cast<pe>(e);
      const auto& c = plugin_table[static_cast<std::size_t>(s)][e];
      SCOPED_TRACE(fmt::format("{} × {}", to_string(s), to_string(event)));
      const bool by_hand = e >= 5 && e <= 7;
      const bool reload = e >= 2 && e <= 4;
      // Refused: by the phase while stopping; by name once retired (a retired plugin is not in
      // the configuration: a reload that leaves it out does not tell it).
      const bool refused = ((s == ps::stopping || s == ps::stopped) && (by_hand || reload)) ||
                           (s == ps::retired && by_hand);
      const bool untold = s == ps::retired && event == pe::reload_removed;
      if (!row[e] && !refused && !untold) {
        EXPECT_EQ(c.act, plugin_action::impossible) << "this test expects it cannot happen";
        continue;
      }
      plugin_cells t;
      t.bring(s);
      if (::testing::Test::HasFatalFailure()) return;
      const bool accepted = t.happen(event);
      EXPECT_EQ(accepted, !refused);
      EXPECT_EQ(t.state("p.sh"), row[e].value_or(s));
      EXPECT_EQ(t.machine.broken_invariants(), std::vector<std::string>{});
      ++walked;
    }
  }
  EXPECT_EQ(walked, 94u);
}

TEST(supervision_table, a_spawn_that_fails_is_the_starting_states_run_ended) {
  machine_harness t;
  t.world.unstartable.insert("p.sh");
  t.start({machine_harness::item("p.sh", restarting(restart_mode::never))});
  EXPECT_EQ(t.state("p.sh"), ps::failed);
  EXPECT_EQ(t.machine.broken_invariants(), std::vector<std::string>{});
}

// ---- a run ----------------------------------------------------------------------------------

class run_cells : public machine_harness {
 public:
  // Brings the first run of p.sh into `s`.
  void bring(rs s) {
    auto policy = restarting(s == rs::lingering ? restart_mode::never : restart_mode::always);
    policy.timeout = 10s;
    policy.stop_timeout = 20s;
    policy.notify = true;
    policy.watchdog = 1h;  // the unhealthy column sends WATCHDOG=trigger instead
    start({item("p.sh", policy), item("other.sh", policy)});
    run_ = current("p.sh");
    switch (s) {
      case rs::killing:
        machine.stop_by_hand("p.sh");
        world.advance(20s);
        break;
      case rs::stopping:
        machine.stop_by_hand("p.sh");
        break;
      case rs::draining:
        world.exit_held(run_, 0, /*leaves=*/true);
        break;
      case rs::lingering:
        world.exit(run_, 0, /*leaves=*/true);
        break;
      case rs::lingering_stopping:
        world.exit(run_, 0, true);
        break;
      case rs::lingering_killing:
        world.exit(run_, 0, true);
        world.advance(20s);
        break;
      default:
        break;
    }
    ASSERT_EQ(state_of_run(), s);
  }

  void happen(re e) {
    switch (e) {
      case re::main_exit:
        world.exit(run_, 0, true);
        break;
      case re::exit_held:
        world.exit_held(run_, 0, true);
        break;
      case re::exit_drained:
        world.drained(run_);
        break;
      case re::time_limit:
        world.advance(10s - 1ns);
        world.advance(1ns);
        break;
      case re::stop:
        machine.stop("shutdown");
        break;
      case re::kill:
        machine.stop("shutdown");
        world.advance(1s);
        machine.stop_signal("SIGTERM");
        break;
      case re::stop_timer:
        world.advance(*world.timer(timer_key::kind::stop, run_) - world.now());
        break;
      case re::recheck:
        world.advance(*world.timer(timer_key::kind::recheck, run_) - world.now());
        break;
      case re::cap_grace:  // only while stopping does a cap reach the runs
        machine.stop("shutdown");
        machine.cap_stop_grace(1s, "parent exited");
        break;
      case re::unhealthy:  // WATCHDOG=trigger: as if its watchdog had heard nothing
        machine.on_health(run_, health_event::failed, "watchdog");
        break;
    }
  }

  std::optional<rs> state_of_run() const {
    for (const auto& r : machine.runs()) {
      if (r.id == run_) return r.state;
    }
    return std::nullopt;
  }

  run_id run_ = 0;
};

using expected_run_row = std::array<std::optional<rs>, run_event_count>;
// main_exit, exit_held, exit_drained, time_limit, stop, kill, stop_timer, recheck, cap_grace,
// unhealthy.
// The stop and kill columns go through machine.stop(), which stops every run first.
const std::map<rs, expected_run_row> expected_run{
    {rs::running, expected_run_row{rs::lingering_stopping, rs::draining, no, rs::stopping,
                                   rs::stopping, no, no, no, no, rs::stopping}},
    {rs::stopping,
     expected_run_row{rs::lingering_stopping, rs::lingering_stopping, no, rs::stopping,
                      rs::stopping, rs::killing, rs::killing, no, rs::stopping, no}},
    {rs::killing, expected_run_row{rs::lingering_killing, rs::lingering_killing, no, rs::killing,
                                   rs::killing, rs::killing, rs::killing, no, rs::killing, no}},
    {rs::draining, expected_run_row{no, no, rs::lingering_stopping, no, rs::lingering_stopping, no,
                                    no, no, no, no}},
    {rs::lingering,
     expected_run_row{no, no, no, no, rs::lingering_stopping, no, no, rs::lingering, no, no}},
    {rs::lingering_stopping,
     expected_run_row{no, no, no, no, rs::lingering_stopping, rs::lingering_killing,
                      rs::lingering_killing, rs::lingering_stopping, rs::lingering_stopping, no}},
    {rs::lingering_killing,
     expected_run_row{no, no, no, no, rs::lingering_killing, rs::lingering_killing,
                      rs::lingering_killing, rs::lingering_killing, rs::lingering_killing, no}},
};

TEST(supervision_table, every_run_cell_is_walked_and_the_impossible_ones_are_unreachable) {
  std::size_t walked = 0;
  for (const auto& [s, row] : expected_run) {
    for (std::size_t e = 0; e < run_event_count; ++e) {
      const auto event = static_cast<re>(e);
      SCOPED_TRACE(fmt::format("{} × {}", to_string(s), to_string(event)));
      if (!row[e]) {
        EXPECT_EQ(run_table[static_cast<std::size_t>(s)][e].act, run_action::impossible);
        continue;
      }
      run_cells t;
      t.bring(s);
      if (::testing::Test::HasFatalFailure()) return;
      t.happen(event);
      EXPECT_EQ(t.state_of_run(), row[e]);
      EXPECT_EQ(t.machine.broken_invariants(), std::vector<std::string>{});
      ++walked;
    }
  }
  EXPECT_EQ(walked, 33u);
}

// ---- the docs -------------------------------------------------------------------------------

TEST(supervision_table, the_architecture_document_shows_the_tables_of_the_code) {
  std::ifstream in(std::string(PLUGHOST_SOURCE_DIR) + "/docs/architecture.md");
  std::stringstream text;
  text << in.rdbuf();
  const std::string begin = "<!-- supervision tables: written by markdown_tables() -->\n";
  const std::string end = "<!-- end of the supervision tables -->";
  const auto from = text.str().find(begin);
  const auto to = text.str().find(end);
  const auto shown = from == std::string::npos || to == std::string::npos
                         ? std::string("(no tables between the markers)")
                         : text.str().substr(from + begin.size(), to - from - begin.size());
  if (shown != markdown_tables()) {
    std::ofstream("supervision_tables.md") << markdown_tables();
    ADD_FAILURE() << "docs/architecture.md is out of date: paste "
                  << std::filesystem::current_path() / "supervision_tables.md"
                  << " between its markers";
  }
}

}  // namespace
}  // namespace plughost::detail
