// The supervision state machine with a fake clock and fake processes: restarts and their
// backoff, max_restarts, run-time limits, the stop sequence, reload, leftovers of a run, and when
// the whole run is over. The real loop and real processes are tested in tests/integration.
#include "supervision/supervision_machine.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <map>
#include <set>
#include <string>
#include <vector>

namespace plughost::detail {
namespace {

using namespace std::chrono_literals;
using clock = supervision_port::clock;

// A world where time moves only when the test says so and processes do only what the test says.
class fake_world : public supervision_port {
 public:
  struct process {
    std::string plugin;
    pid_t pid = 0;
    bool group_alive = true;  // its main process or something else in its group
    bool output_open = true;
    bool released = false;
    std::vector<int> signals;
  };

  // ---- the port -----------------------------------------------------------------------------
  clock::time_point now() override { return now_; }

  std::variant<pid_t, std::string> spawn(run_id id, const launch_item& item) override {
    if (unstartable.count(item.name)) return std::string("no such interpreter");
    const pid_t pid = next_pid_++;
    processes[id] = {item.name, pid};
    return pid;
  }
  void signal_group(pid_t group, int signal) override {
    for (auto& [id, p] : processes) {
      if (p.pid == group) p.signals.push_back(signal);
    }
    trace.push_back(fmt_signal(group, signal));
  }
  bool group_alive(pid_t group) override {
    for (auto& [id, p] : processes) {
      if (p.pid == group) return p.group_alive;
    }
    return false;
  }
  bool output_open(run_id id) override { return processes.at(id).output_open; }
  void drain_output(run_id id) override { trace.push_back("drain " + processes.at(id).plugin); }
  void close_output(run_id id) override {
    processes.at(id).output_open = false;
    trace.push_back("close " + processes.at(id).plugin);
  }
  void release(run_id id, pid_t) override { processes.at(id).released = true; }
  void arm(timer_key key, clock::duration after) override {
    waiting_for_room.erase(key);
    timers[key] = now_ + after;
  }
  void cancel(timer_key key) override {
    waiting_for_room.erase(key);
    timers.erase(key);
  }
  bool output_room(std::string_view plugin) override { return !full_output.count(plugin); }
  void arm_on_room(timer_key key, std::string_view plugin) override {
    timers.erase(key);
    waiting_for_room[key] = std::string(plugin);
  }
  void event(std::string_view plugin, int, std::string_view name,
             std::span<const event_field> fields) override {
    std::string text = std::string(plugin) + " " + std::string(name);
    for (const auto& f : fields) {
      text += " " + std::string(f.key) + "=";
      if (const auto* i = std::get_if<std::int64_t>(&f.value)) text += std::to_string(*i);
      if (const auto* d = std::get_if<double>(&f.value)) text += fmt_double(*d);
      if (const auto* s = std::get_if<std::string_view>(&f.value)) text += *s;
    }
    events.push_back(text);
    trace.push_back("event " + text);
  }
  void finished() override { is_finished = true; }

  // ---- what the test does -------------------------------------------------------------------

  // Lets `d` pass, firing every timer that falls due, in order of deadline.
  void advance(clock::duration d) {
    const auto until = now_ + d;
    while (true) {
      auto next = timers.end();
      for (auto it = timers.begin(); it != timers.end(); ++it) {
        if (it->second <= until && (next == timers.end() || it->second < next->second)) next = it;
      }
      if (next == timers.end()) break;
      const auto key = next->first;
      now_ = next->second;
      timers.erase(next);
      machine->on_timer(key);
    }
    now_ = until;
  }

  // The sinks of `plugin` have room again.
  void room_for(const std::string& plugin) {
    full_output.erase(plugin);
    for (auto it = waiting_for_room.begin(); it != waiting_for_room.end();) {
      if (it->second != plugin) {
        ++it;
        continue;
      }
      const auto key = it->first;
      it = waiting_for_room.erase(it);
      machine->on_timer(key);
    }
  }

  // The main process of run `id` exits; `leaves` keeps something else alive in its group.
  void exit(run_id id, int code, bool leaves = false) {
    auto& p = processes.at(id);
    p.output_open = leaves;
    p.group_alive = leaves;
    machine->on_main_exit(id, {false, code});
  }
  void killed_by(run_id id, int signal) {
    auto& p = processes.at(id);
    p.output_open = false;
    p.group_alive = false;
    machine->on_main_exit(id, {true, signal});
  }
  // What was left in a run's group ends.
  void leftovers_end(run_id id) {
    auto& p = processes.at(id);
    p.output_open = false;
    p.group_alive = false;
    machine->on_group_change();
  }

  std::optional<clock::time_point> timer(timer_key::kind what, std::uint64_t owner) const {
    const auto it = timers.find({what, owner});
    if (it == timers.end()) return std::nullopt;
    return it->second;
  }

  std::map<run_id, process> processes;
  std::map<timer_key, clock::time_point> timers;
  std::set<std::string> unstartable;
  std::set<std::string, std::less<>> full_output;  // plugins whose `block` sinks are full
  std::map<timer_key, std::string> waiting_for_room;
  std::vector<std::string> events;
  std::vector<std::string> trace;
  bool is_finished = false;
  supervision_machine* machine = nullptr;

 private:
  static std::string fmt_signal(pid_t group, int signal) {
    return "signal " + std::to_string(group) + " " + signal_name(signal);
  }
  static std::string fmt_double(double d) {
    std::string s = std::to_string(d);
    s.erase(s.find_last_not_of('0') + 1);
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s;
  }
  clock::time_point now_{};
  pid_t next_pid_ = 100;
};

class machine_test : public ::testing::Test {
 protected:
  machine_test() { world.machine = &machine; }

  static launch_item item(const std::string& name, plugin_policy policy = {},
                          const std::string& fingerprint = "v1") {
    return {name, {"/bin/sh", name}, {}, policy, fingerprint};
  }
  // Adds the plugins and ends the start-up.
  void start(std::vector<launch_item> items) {
    for (auto& i : items) machine.add(std::move(i));
    machine.started_all();
  }
  const supervision_machine::plugin_view& view(const std::string& name) {
    views_ = machine.plugins();
    for (const auto& v : views_) {
      if (v.name == name) return v;
    }
    throw std::runtime_error("no plugin " + name);
  }
  run_id current(const std::string& name) { return view(name).current.value(); }
  plugin_state state(const std::string& name) { return view(name).state; }
  // The events of one plugin, without its name.
  std::vector<std::string> events_of(const std::string& name) const {
    std::vector<std::string> out;
    for (const auto& e : world.events) {
      if (e.rfind(name + " ", 0) == 0) out.push_back(e.substr(name.size() + 1));
    }
    return out;
  }

  fake_world world;
  supervision_machine machine{world};

 private:
  std::vector<supervision_machine::plugin_view> views_;
};

plugin_policy restarting(restart_mode mode) {
  plugin_policy p;
  p.restart = mode;
  p.restart_delay = 1s;
  p.restart_delay_max = 8s;
  p.restart_reset_after = 60s;
  p.max_restarts = 5;
  return p;
}

// ---- restarts -------------------------------------------------------------------------------

TEST_F(machine_test, on_failure_restarts_after_delays_that_double_up_to_the_maximum) {
  start({item("a.sh", restarting(restart_mode::on_failure))});
  std::vector<double> delays;
  for (int i = 0; i < 5; ++i) {
    world.exit(current("a.sh"), 1);
    ASSERT_EQ(state("a.sh"), plugin_state::backoff);
    const auto wait = world.timer(timer_key::kind::restart, 1).value() - world.now();
    delays.push_back(std::chrono::duration<double>(wait).count());
    world.advance(wait);
    ASSERT_EQ(state("a.sh"), plugin_state::running);
  }
  EXPECT_EQ(delays, (std::vector<double>{1, 2, 4, 8, 8}));
  EXPECT_EQ(world.processes.size(), 6u) << "five restarts, six runs";
}

TEST_F(machine_test, a_restart_waits_while_the_plugins_sink_is_full_and_a_stop_forgets_it) {
  start({item("a.sh", restarting(restart_mode::always)), item("b.sh")});
  world.full_output.insert("a.sh");
  world.exit(current("a.sh"), 1);
  world.advance(10s);
  EXPECT_EQ(state("a.sh"), plugin_state::backoff) << "no new run while its sink is full";
  EXPECT_EQ(world.processes.size(), 2u);
  EXPECT_EQ(view("a.sh").restarts, 0u);
  world.room_for("b.sh");
  EXPECT_EQ(state("a.sh"), plugin_state::backoff) << "room for another plugin is not room for a";
  world.room_for("a.sh");
  EXPECT_EQ(state("a.sh"), plugin_state::running) << "room: the restart that was due happens";
  EXPECT_EQ(view("a.sh").restarts, 1u);

  world.full_output.insert("a.sh");
  world.exit(current("a.sh"), 1);
  world.advance(10s);
  ASSERT_EQ(world.waiting_for_room.size(), 1u);
  machine.stop("shutdown");
  EXPECT_TRUE(world.waiting_for_room.empty()) << "a stop cancels the restart waiting for room";
  world.room_for("a.sh");
  EXPECT_EQ(state("a.sh"), plugin_state::stopped);
}

TEST_F(machine_test, a_run_longer_than_restart_reset_after_starts_the_backoff_again) {
  start({item("a.sh", restarting(restart_mode::always))});
  world.exit(current("a.sh"), 0);
  world.advance(1s);
  world.exit(current("a.sh"), 0);
  EXPECT_EQ(events_of("a.sh").back(), "restarting attempt=2 delay=2");
  world.advance(2s);
  world.advance(60s);  // this run lasts restart_reset_after
  world.exit(current("a.sh"), 0);
  EXPECT_EQ(events_of("a.sh").back(), "restarting attempt=1 delay=1");
  EXPECT_EQ(view("a.sh").restarts_in_a_row, 1);
}

TEST_F(machine_test, max_restarts_in_a_row_gives_up_and_the_run_fails) {
  auto policy = restarting(restart_mode::on_failure);
  policy.max_restarts = 2;
  start({item("a.sh", policy)});
  world.exit(current("a.sh"), 3);
  world.advance(1s);
  world.exit(current("a.sh"), 3);
  world.advance(2s);
  world.exit(current("a.sh"), 3);
  EXPECT_EQ(state("a.sh"), plugin_state::failed);
  EXPECT_EQ(events_of("a.sh").back(),
            "gave_up restarts=2 reason=2 restarts in a row, each run shorter than 60s");
  EXPECT_TRUE(machine.any_failed());
  EXPECT_TRUE(world.is_finished) << "nothing left to wait for";
  EXPECT_TRUE(world.timers.empty());
}

TEST_F(machine_test, never_and_on_failure_after_success_end_the_plugin) {
  start({item("never.sh", restarting(restart_mode::never)),
         item("fine.sh", restarting(restart_mode::on_failure))});
  world.exit(current("never.sh"), 1);
  world.exit(current("fine.sh"), 0);
  EXPECT_EQ(state("never.sh"), plugin_state::failed);
  EXPECT_EQ(state("fine.sh"), plugin_state::exited);
  EXPECT_TRUE(world.is_finished);
}

TEST_F(machine_test, a_plugin_that_cannot_start_is_an_error_and_restarts_on_failure) {
  world.unstartable.insert("a.sh");
  start({item("a.sh", restarting(restart_mode::on_failure))});
  EXPECT_EQ(events_of("a.sh"), (std::vector<std::string>{"error message=no such interpreter",
                                                         "restarting attempt=1 delay=1"}));
  world.unstartable.clear();
  world.advance(1s);
  EXPECT_EQ(state("a.sh"), plugin_state::running);
}

TEST_F(machine_test, a_restart_that_falls_due_during_the_start_up_happens_then) {
  // The start-up polls the loop between starts: a plugin added early exits, and its restart
  // timer fires while later plugins are still being added (issue 22: it was dropped, and the
  // plugin stayed in backoff for ever).
  auto policy = restarting(restart_mode::on_failure);
  policy.restart_delay = 0s;
  machine.add(item("a.sh", policy));
  world.exit(current("a.sh"), 1);
  ASSERT_EQ(state("a.sh"), plugin_state::backoff);
  world.advance(0s);
  EXPECT_EQ(state("a.sh"), plugin_state::running) << "restarted during the start-up";
  EXPECT_EQ(view("a.sh").restarts, 1u);
  EXPECT_EQ(world.processes.size(), 2u);
  auto job = restarting(restart_mode::interval);
  job.interval = 1s;
  machine.add(item("job.sh", job));
  world.exit(current("job.sh"), 0);
  world.advance(1s);
  EXPECT_EQ(state("job.sh"), plugin_state::running) << "a periodic job runs again";
  machine.add(item("late.sh"));
  machine.started_all();
  world.exit(current("a.sh"), 0);
  world.exit(current("job.sh"), 0);
  world.exit(current("late.sh"), 0);
  EXPECT_EQ(state("a.sh"), plugin_state::exited);
  EXPECT_EQ(state("job.sh"), plugin_state::backoff);
  world.advance(1s);
  EXPECT_EQ(view("job.sh").restarts, 2u);
}

TEST_F(machine_test, a_stop_during_the_start_up_cancels_a_pending_restart) {
  auto policy = restarting(restart_mode::always);
  machine.add(item("a.sh", policy));
  world.exit(current("a.sh"), 0);
  machine.stop("shutdown");
  world.advance(10s);
  EXPECT_EQ(state("a.sh"), plugin_state::stopped);
  EXPECT_EQ(world.processes.size(), 1u);
  machine.started_all();
  EXPECT_TRUE(world.is_finished);
}

// ---- leftovers of a run ---------------------------------------------------------------------

TEST_F(machine_test, what_a_restarting_plugins_run_left_behind_is_stopped) {
  start({item("a.sh", restarting(restart_mode::on_failure))});
  const auto first = current("a.sh");
  const auto group = world.processes.at(first).pid;
  world.exit(first, 1, /*leaves=*/true);
  EXPECT_EQ(world.processes.at(first).signals, (std::vector<int>{SIGTERM}));
  world.advance(5s);  // its stop timeout: SIGKILL (the restart came after 1 s)
  EXPECT_EQ(world.processes.at(first).signals, (std::vector<int>{SIGTERM, SIGKILL}));
  EXPECT_NE(current("a.sh"), first);
  world.leftovers_end(first);
  EXPECT_TRUE(world.processes.at(first).released);
  EXPECT_EQ(std::count(world.trace.begin(), world.trace.end(),
                       "signal " + std::to_string(group) + " SIGTERM"),
            1);
}

TEST_F(machine_test, what_a_plugin_that_ends_for_good_left_behind_runs_until_shutdown) {
  start({item("daemon.sh")});
  const auto run = current("daemon.sh");
  world.exit(run, 0, /*leaves=*/true);
  EXPECT_TRUE(world.processes.at(run).signals.empty());
  EXPECT_FALSE(world.is_finished) << "its group still has a process";
  machine.stop("shutdown");
  EXPECT_EQ(world.processes.at(run).signals, (std::vector<int>{SIGTERM}));
  world.leftovers_end(run);
  EXPECT_TRUE(world.is_finished);
}

// ---- run-time limits and the stop sequence --------------------------------------------------

TEST_F(machine_test, a_timeout_stops_the_run_then_kills_it_and_counts_as_a_failure) {
  auto policy = restarting(restart_mode::never);
  policy.timeout = 10s;
  policy.stop_timeout = 3s;
  start({item("slow.sh", policy)});
  const auto run = current("slow.sh");
  world.advance(10s);
  EXPECT_EQ(world.processes.at(run).signals, (std::vector<int>{SIGTERM}));
  world.advance(3s);
  EXPECT_EQ(world.processes.at(run).signals, (std::vector<int>{SIGTERM, SIGKILL}));
  world.killed_by(run, SIGKILL);
  EXPECT_EQ(events_of("slow.sh"),
            (std::vector<std::string>{
                "started argv=", "timed_out timeout=10", "stopping signal=SIGTERM reason=timeout",
                "killed signal=SIGKILL after=3 stop_signal=SIGTERM", "exited signal=SIGKILL"}));
  EXPECT_EQ(state("slow.sh"), plugin_state::failed);
  EXPECT_TRUE(world.is_finished);
}

TEST_F(machine_test, a_run_that_ends_before_its_timeout_cancels_it) {
  auto policy = restarting(restart_mode::never);
  policy.timeout = 10s;
  start({item("quick.sh", policy)});
  world.exit(current("quick.sh"), 0);
  EXPECT_TRUE(world.timers.empty());
  EXPECT_EQ(state("quick.sh"), plugin_state::exited);
}

TEST_F(machine_test, stop_signals_every_group_at_once_with_each_plugins_signal) {
  auto hup = restarting(restart_mode::always);
  hup.stop_signal = SIGHUP;
  start({item("a.sh"), item("b.sh", hup)});
  const auto a = current("a.sh"), b = current("b.sh");
  machine.stop("shutdown");
  EXPECT_EQ(world.processes.at(a).signals, (std::vector<int>{SIGTERM}));
  EXPECT_EQ(world.processes.at(b).signals, (std::vector<int>{SIGHUP}));
  EXPECT_EQ(machine.phase(), run_phase::stopping);
  world.exit(a, 0);
  world.exit(b, 0);
  EXPECT_EQ(state("b.sh"), plugin_state::stopped) << "no restart during a stop";
  EXPECT_FALSE(machine.any_failed());
  EXPECT_TRUE(world.is_finished);
}

TEST_F(machine_test, a_plugin_that_ignores_its_stop_signal_is_killed_and_its_held_pipes_closed) {
  start({item("stubborn.sh")});
  const auto run = current("stubborn.sh");
  machine.stop("shutdown");
  world.advance(4900ms);
  EXPECT_EQ(world.processes.at(run).signals, (std::vector<int>{SIGTERM}));
  world.advance(100ms);
  EXPECT_EQ(world.processes.at(run).signals, (std::vector<int>{SIGTERM, SIGKILL}));
  // Killed, but a process outside its group still holds its pipes: its group is empty, so
  // nothing is waited for: what the pipes hold is delivered, then they are closed.
  world.processes.at(run).group_alive = false;
  world.processes.at(run).output_open = true;
  machine.on_main_exit(run, {true, SIGKILL});
  EXPECT_EQ(world.trace.back(), "close stubborn.sh");
  EXPECT_EQ(world.trace[world.trace.size() - 2], "drain stubborn.sh");
  EXPECT_TRUE(world.is_finished);
  EXPECT_FALSE(machine.any_failed()) << "stopped by plughost";
}

TEST_F(machine_test, a_killed_plugin_whose_group_lives_on_has_its_pipes_closed_after_the_grace) {
  start({item("stubborn.sh")});
  const auto run = current("stubborn.sh");
  machine.stop("shutdown");
  world.advance(5s);
  // Its main process is gone, something in its group is not (in the kernel, unkillable).
  machine.on_main_exit(run, {true, SIGKILL});
  EXPECT_NE(world.trace.back(), "close stubborn.sh");
  world.advance(kill_grace);
  EXPECT_EQ(world.trace.back(), "close stubborn.sh");
}

TEST_F(machine_test, a_run_ends_when_its_group_is_empty_whoever_holds_its_pipes) {
  // A descendant that called setsid() holds the pipes: neither run() nor a stop waits for it.
  start({item("escapes.sh")});
  const auto run = current("escapes.sh");
  world.processes.at(run).group_alive = false;
  machine.on_main_exit(run, {false, 0});
  EXPECT_EQ(world.trace.back(), "close escapes.sh");
  EXPECT_TRUE(world.is_finished);
}

TEST_F(machine_test, what_is_left_of_a_plugin_whose_main_process_exited_is_stopped_and_killed) {
  start({item("left.sh")});
  const auto run = current("left.sh");
  machine.on_main_exit(run, {false, 0});  // its group lives on: a background process
  machine.stop("shutdown");
  world.advance(1s);
  machine.kill_all();  // a second SIGTERM, a second later
  EXPECT_EQ(events_of("left.sh"),
            (std::vector<std::string>{"started argv=", "exited exit_code=0",
                                      "stopping signal=SIGTERM reason=shutdown",
                                      "killed signal=SIGKILL after=1 stop_signal=SIGTERM"}));
  EXPECT_EQ(world.processes.at(run).signals, (std::vector<int>{SIGTERM, SIGKILL}));
}

TEST_F(machine_test, a_stopping_plugin_is_stopped_once_and_kill_all_skips_the_wait) {
  start({item("a.sh")});
  const auto run = current("a.sh");
  machine.stop("shutdown");
  machine.stop("shutdown");
  EXPECT_EQ(world.processes.at(run).signals, (std::vector<int>{SIGTERM}));
  machine.kill_all();
  EXPECT_EQ(world.processes.at(run).signals, (std::vector<int>{SIGTERM, SIGKILL}));
}

TEST_F(machine_test, a_cap_on_the_stop_grace_shortens_a_stop_already_under_way) {
  auto patient = restarting(restart_mode::never);
  patient.stop_timeout = 30s;
  start({item("a.sh", patient)});
  const auto run = current("a.sh");
  machine.stop("shutdown");
  world.advance(2s);
  machine.cap_stop_grace(1s, "parent exited");
  world.advance(999ms);
  EXPECT_EQ(world.processes.at(run).signals, (std::vector<int>{SIGTERM}));
  world.advance(1ms);
  EXPECT_EQ(world.processes.at(run).signals, (std::vector<int>{SIGTERM, SIGKILL}));
}

TEST_F(machine_test, a_stop_during_start_up_starts_nothing_more) {
  machine.add(item("a.sh"));
  machine.stop("shutdown");
  machine.add(item("b.sh"));
  machine.started_all();
  EXPECT_EQ(world.processes.size(), 1u);
  EXPECT_FALSE(world.is_finished);
  world.exit(current("a.sh"), 0);
  EXPECT_TRUE(world.is_finished);
}

TEST_F(machine_test, the_run_cannot_finish_during_start_up) {
  machine.add(item("a.sh"));
  world.exit(current("a.sh"), 0);
  EXPECT_FALSE(world.is_finished);
  machine.started_all();
  EXPECT_TRUE(world.is_finished);
}

TEST_F(machine_test, the_exit_event_comes_after_the_pipes_are_drained) {
  start({item("a.sh")});
  world.exit(current("a.sh"), 0);
  const auto drained = std::find(world.trace.begin(), world.trace.end(), "drain a.sh");
  const auto exited =
      std::find(world.trace.begin(), world.trace.end(), "event a.sh exited exit_code=0");
  ASSERT_NE(drained, world.trace.end());
  EXPECT_LT(drained, exited);
}

// ---- reload ---------------------------------------------------------------------------------

TEST_F(machine_test, reload_starts_new_restarts_changed_stops_removed_and_keeps_the_rest) {
  start({item("same.sh"), item("changed.sh"), item("removed.sh")});
  const auto same = current("same.sh"), changed = current("changed.sh"),
             removed = current("removed.sh");
  auto faster = restarting(restart_mode::always);
  machine.reload({item("same.sh", faster), item("changed.sh", {}, "v2"), item("new.sh")});
  EXPECT_EQ(current("same.sh"), same) << "untouched";
  EXPECT_TRUE(world.processes.at(same).signals.empty());
  EXPECT_EQ(state("new.sh"), plugin_state::running);
  EXPECT_EQ(state("changed.sh"), plugin_state::replacing);
  EXPECT_EQ(events_of("changed.sh").back(), "stopping signal=SIGTERM reason=reload");
  EXPECT_EQ(state("removed.sh"), plugin_state::retired);
  EXPECT_EQ(events_of("removed.sh").back(), "stopping signal=SIGTERM reason=removed");

  world.exit(changed, 0);
  EXPECT_EQ(state("changed.sh"), plugin_state::running) << "the new file starts once the old ends";
  EXPECT_NE(current("changed.sh"), changed);
  world.exit(removed, 0);
  EXPECT_EQ(state("removed.sh"), plugin_state::retired) << "never starts again";
  // The unchanged plugin's new policy applies to its next run.
  world.exit(same, 0);
  EXPECT_EQ(state("same.sh"), plugin_state::backoff);
}

TEST_F(machine_test, reload_starts_a_changed_plugin_at_once_when_it_was_waiting_to_restart) {
  start({item("a.sh", restarting(restart_mode::on_failure))});
  world.exit(current("a.sh"), 1);
  ASSERT_EQ(state("a.sh"), plugin_state::backoff);
  machine.reload({item("a.sh", restarting(restart_mode::on_failure), "v2")});
  EXPECT_EQ(state("a.sh"), plugin_state::running);
  EXPECT_FALSE(world.timer(timer_key::kind::restart, 1)) << "the pending restart is cancelled";
}

TEST_F(machine_test, a_removed_plugin_waiting_to_restart_never_starts_again) {
  start({item("a.sh", restarting(restart_mode::on_failure)), item("b.sh")});
  world.exit(current("a.sh"), 1);
  machine.reload({item("b.sh")});
  world.advance(1h);
  EXPECT_EQ(state("a.sh"), plugin_state::retired);
  EXPECT_EQ(world.processes.size(), 2u);
}

TEST_F(machine_test, a_plugin_that_failed_still_counts_once_a_reload_removed_it) {
  start({item("fail.sh"), item("long.sh")});
  world.exit(current("fail.sh"), 3);
  machine.reload({item("long.sh")});
  EXPECT_EQ(state("fail.sh"), plugin_state::retired);
  EXPECT_TRUE(machine.any_failed());
}

TEST_F(machine_test, a_failed_plugin_changed_by_a_reload_counts_by_its_new_run) {
  start({item("a.sh"), item("long.sh")});
  world.exit(current("a.sh"), 3);
  machine.reload({item("a.sh", {}, "v2"), item("long.sh")});
  EXPECT_FALSE(machine.any_failed());
  world.exit(current("a.sh"), 0);
  EXPECT_FALSE(machine.any_failed());
}

TEST_F(machine_test, a_reload_during_start_up_is_applied_once_it_is_over) {
  machine.add(item("a.sh"));
  machine.reload({item("a.sh"), item("b.sh")});
  EXPECT_EQ(world.processes.size(), 1u) << "b.sh would start before the start-up added it";
  machine.add(item("c.sh"));  // the rest of the start-up
  machine.started_all();
  EXPECT_EQ(state("b.sh"), plugin_state::running);
  EXPECT_EQ(state("c.sh"), plugin_state::retired) << "the reload's list has no c.sh";
  EXPECT_EQ(current("a.sh"), 2u) << "a.sh untouched";
}

TEST_F(machine_test, a_reload_while_a_plugin_is_replaced_compares_with_the_file_waiting_to_run) {
  auto limited = restarting(restart_mode::never);
  limited.timeout = 1s;
  for (const auto* back_to : {"v2", "v1"}) {  // the same new file again; the old file again
    fake_world w;
    supervision_machine m(w);
    w.machine = &m;
    m.add(item("a.sh"));
    m.started_all();
    const auto old = m.plugins().front().current.value();
    m.reload({item("a.sh", {}, "v2")});
    ASSERT_EQ(m.plugins().front().state, plugin_state::replacing);
    m.reload({item("a.sh", limited, back_to)});  // with a new policy
    w.exit(old, 0);
    const auto fresh = m.plugins().front().current.value();
    w.advance(1s);
    EXPECT_EQ(w.processes.at(fresh).signals, (std::vector<int>{SIGTERM}))
        << "back to " << back_to << ": the new run has the new policy (its timeout)";
  }
}

TEST_F(machine_test, what_an_ended_plugin_left_is_stopped_when_a_reload_changes_or_removes_it) {
  start({item("a.sh"), item("b.sh"), item("long.sh")});
  const auto a = current("a.sh"), b = current("b.sh");
  world.exit(a, 0, /*leaves=*/true);
  world.exit(b, 0, /*leaves=*/true);
  machine.reload({item("a.sh", {}, "v2"), item("long.sh")});
  EXPECT_EQ(world.processes.at(a).signals, (std::vector<int>{SIGTERM}));
  EXPECT_EQ(world.processes.at(b).signals, (std::vector<int>{SIGTERM}));
  EXPECT_EQ(state("a.sh"), plugin_state::running);
}

TEST_F(machine_test, a_removed_plugin_that_comes_back_is_the_same_plugin_again) {
  // Its failure before the removal does not count once it runs again, as for an edited file.
  start({item("a.sh"), item("long.sh")});
  const auto old = current("a.sh");
  world.exit(old, 3);
  machine.reload({item("long.sh")});
  machine.reload({item("a.sh", {}, "v2"), item("long.sh")});
  EXPECT_EQ(state("a.sh"), plugin_state::running);
  EXPECT_EQ(machine.plugins().size(), 2u) << "no second entry for a.sh";
  world.exit(current("a.sh"), 0);
  EXPECT_FALSE(machine.any_failed());
}

TEST_F(machine_test, a_removed_plugin_that_comes_back_waits_for_its_old_run_to_end) {
  start({item("a.sh")});
  const auto old = current("a.sh");
  machine.reload({});
  ASSERT_EQ(state("a.sh"), plugin_state::retired);
  machine.reload({item("a.sh")});
  EXPECT_EQ(world.processes.size(), 1u) << "never two runs of a.sh at once";
  EXPECT_EQ(state("a.sh"), plugin_state::replacing);
  world.exit(old, 0);
  EXPECT_EQ(state("a.sh"), plugin_state::running);
  EXPECT_EQ(world.processes.size(), 2u);
}

TEST_F(machine_test, a_run_already_stopping_does_not_time_out) {
  auto policy = restarting(restart_mode::never);
  policy.timeout = 2s;
  start({item("a.sh", policy)});
  machine.stop("shutdown");
  world.advance(2s);
  EXPECT_EQ(events_of("a.sh").back(), "stopping signal=SIGTERM reason=shutdown");
}

TEST_F(machine_test, nothing_is_reloaded_once_stopping) {
  start({item("a.sh")});
  machine.stop("shutdown");
  machine.reload({item("a.sh"), item("b.sh")});
  EXPECT_EQ(world.processes.size(), 1u);
}

TEST_F(machine_test, an_interval_plugin_starts_every_interval_and_never_gives_up) {
  auto policy = restarting(restart_mode::interval);
  policy.interval = 10s;
  policy.max_restarts = 1;
  start({item("job.sh", policy)});
  world.advance(3s);
  world.exit(current("job.sh"), 1);  // a failed run changes nothing
  EXPECT_EQ(events_of("job.sh").back(), "next_run delay=7");
  world.advance(7s);
  ASSERT_EQ(state("job.sh"), plugin_state::running);
  world.advance(15s);  // longer than the interval: the next follows at once
  world.exit(current("job.sh"), 0);
  EXPECT_EQ(events_of("job.sh").back(), "next_run delay=0");
  for (int i = 0; i < 5; ++i) {
    world.advance(1ms);
    world.exit(current("job.sh"), 2);
    world.advance(10s);
  }
  EXPECT_EQ(state("job.sh"), plugin_state::running) << "max_restarts does not apply";
  EXPECT_FALSE(machine.any_failed());
  EXPECT_EQ(world.processes.size(), 8u);
}

// ---- by hand --------------------------------------------------------------------------------

TEST_F(machine_test, a_plugin_stopped_by_hand_stays_stopped_and_keeps_the_run_going) {
  start({item("a.sh", restarting(restart_mode::always))});
  const auto first = current("a.sh");
  EXPECT_EQ(machine.stop_by_hand("a.sh"), "stopping");
  EXPECT_EQ(events_of("a.sh").back(), "stopping signal=SIGTERM reason=stopped by hand");
  world.exit(first, 0);
  world.advance(1h);
  EXPECT_EQ(state("a.sh"), plugin_state::stopped);
  EXPECT_EQ(view("a.sh").by_hand, "stopped");
  EXPECT_EQ(world.processes.size(), 1u) << "its restart policy does not start it";
  EXPECT_FALSE(world.is_finished) << "whoever stopped it may start it again";
  EXPECT_FALSE(machine.any_failed());

  EXPECT_EQ(machine.start_by_hand("a.sh"), "started");
  EXPECT_EQ(state("a.sh"), plugin_state::running);
  EXPECT_EQ(view("a.sh").by_hand, "started");
  EXPECT_EQ(machine.start_by_hand("a.sh"), "already running");
  EXPECT_EQ(world.processes.size(), 2u);
}

TEST_F(machine_test, a_plugin_stopped_by_hand_while_waiting_to_restart_does_not_restart) {
  start({item("a.sh", restarting(restart_mode::on_failure)), item("b.sh")});
  world.exit(current("a.sh"), 1);
  ASSERT_EQ(state("a.sh"), plugin_state::backoff);
  EXPECT_EQ(machine.stop_by_hand("a.sh"), "was waiting to restart: it will not");
  world.advance(1h);
  EXPECT_EQ(state("a.sh"), plugin_state::stopped);
  EXPECT_EQ(world.processes.size(), 2u);
  machine.stop("shutdown");
  world.exit(current("b.sh"), 0);
  EXPECT_TRUE(world.is_finished) << "a plugin held by hand does not hold up a shutdown";
}

TEST_F(machine_test, a_failed_plugin_started_by_hand_starts_its_restarts_in_a_row_anew) {
  auto policy = restarting(restart_mode::on_failure);
  policy.max_restarts = 1;
  start({item("a.sh", policy), item("b.sh")});
  world.exit(current("a.sh"), 1);
  world.advance(1s);
  world.exit(current("a.sh"), 1);
  ASSERT_EQ(state("a.sh"), plugin_state::failed);
  EXPECT_EQ(machine.start_by_hand("a.sh"), "started");
  world.exit(current("a.sh"), 1);
  EXPECT_EQ(state("a.sh"), plugin_state::backoff) << "one restart allowed again";
}

TEST_F(machine_test, restart_by_hand_starts_a_new_run_once_the_old_has_ended) {
  start({item("a.sh")});
  const auto first = current("a.sh");
  EXPECT_EQ(machine.restart_by_hand("a.sh"), "restarting");
  EXPECT_EQ(events_of("a.sh").back(), "stopping signal=SIGTERM reason=restart by hand");
  EXPECT_EQ(world.processes.size(), 1u) << "never two runs at once";
  world.exit(first, 0);
  EXPECT_EQ(state("a.sh"), plugin_state::running);
  EXPECT_NE(current("a.sh"), first);
  EXPECT_EQ(view("a.sh").by_hand, "");
  EXPECT_FALSE(machine.any_failed()) << "a run stopped by hand is no failure";
}

TEST_F(machine_test, start_by_hand_while_the_stop_by_hand_is_under_way_starts_it_after) {
  start({item("a.sh")});
  const auto first = current("a.sh");
  machine.stop_by_hand("a.sh");
  EXPECT_EQ(machine.start_by_hand("a.sh"), "starts once its current run has stopped");
  world.exit(first, 0);
  EXPECT_EQ(state("a.sh"), plugin_state::running);
  EXPECT_EQ(world.processes.size(), 2u);
}

TEST_F(machine_test, restarting_a_stopped_plugin_by_hand_shows_as_started_by_hand) {
  start({item("a.sh"), item("b.sh")});
  machine.stop_by_hand("a.sh");
  world.exit(current("a.sh"), 0);
  ASSERT_EQ(view("a.sh").by_hand, "stopped");
  EXPECT_EQ(machine.restart_by_hand("a.sh"), "started");
  EXPECT_EQ(view("a.sh").by_hand, "started") << "as start would have shown it";
  EXPECT_EQ(machine.restart_by_hand("b.sh"), "restarting");
  EXPECT_EQ(view("b.sh").by_hand, "") << "a running plugin restarted is not started by hand";
}

TEST_F(machine_test, a_reload_forgets_what_was_done_by_hand) {
  start({item("a.sh"), item("b.sh")});
  machine.stop_by_hand("a.sh");
  world.exit(current("a.sh"), 0);
  ASSERT_EQ(view("a.sh").by_hand, "stopped");
  EXPECT_EQ(machine.reload({item("a.sh"), item("b.sh")}),
            "reloaded: 0 started, 0 restarted, 0 stopped, 1 stopped by hand started again");
  EXPECT_EQ(state("a.sh"), plugin_state::running) << "the configuration wants it running";
  EXPECT_EQ(view("a.sh").by_hand, "");
}

TEST_F(machine_test, by_hand_names_what_is_wrong) {
  EXPECT_THROW(machine.stop_by_hand("a.sh"), std::invalid_argument) << "still starting";
  start({item("a.sh")});
  try {
    machine.stop_by_hand("nope.sh");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "no plugin named nope.sh");
  }
  world.unstartable.insert("a.sh");
  machine.stop_by_hand("a.sh");
  world.exit(current("a.sh"), 0);
  EXPECT_EQ(machine.start_by_hand("a.sh"), "could not start: no such interpreter");
  machine.stop("shutdown");
  EXPECT_THROW(machine.start_by_hand("a.sh"), std::invalid_argument);
}

TEST_F(machine_test, exits_are_counted_by_code_and_signal) {
  start({item("a.sh", restarting(restart_mode::always))});
  world.exit(current("a.sh"), 3);
  world.advance(1s);
  world.exit(current("a.sh"), 3);
  world.advance(2s);
  world.killed_by(current("a.sh"), SIGKILL);
  EXPECT_EQ(view("a.sh").exit_codes, (std::map<int, std::uint64_t>{{3, 2}}));
  EXPECT_EQ(view("a.sh").exit_signals, (std::map<std::string, std::uint64_t>{{"SIGKILL", 1}}));
}

}  // namespace
}  // namespace plughost::detail
