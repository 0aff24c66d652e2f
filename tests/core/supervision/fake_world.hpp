// A port for the supervision state machine where time moves only when a test says so and
// processes do only what the test says (fake clock, fake processes), and the fixture the
// machine's tests share.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "supervision/supervision_machine.hpp"

namespace plughost::detail::fakes {

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
    bool main_alive = true;
    bool exit_held = false;  // its main process exited; the machine heard on_exit_held
    std::vector<int> signals;
  };

  // ---- the port -----------------------------------------------------------------------------
  clock::time_point now() override { return now_; }
  // The wall clock moves with the fake one, from 2026-12-08T00:00:00Z.
  std::chrono::system_clock::time_point wall_now() override {
    return std::chrono::system_clock::time_point(std::chrono::seconds(1796688000)) +
           std::chrono::duration_cast<std::chrono::system_clock::duration>(now_ -
                                                                           clock::time_point{});
  }
  clock::duration random_below(clock::duration most) override { return most / 2; }

  std::variant<pid_t, std::string> spawn(run_id id, const launch_item& item) override {
    if (unstartable.count(item.name)) return std::string("no such interpreter");
    const pid_t pid = next_pid_++;
    processes[id] = {item.name, pid};
    environments[id] = item.environment.entries();
    ++spawns;
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
  void drain_output(run_id id) override {
    auto& p = processes.at(id);
    if (p.exit_held) {  // read at once: the run is being stopped
      p.exit_held = false;
      p.output_open = p.group_alive;
    }
    trace.push_back("drain " + p.plugin);
    // Reading what is left can reach the end of a pipe that nothing holds any more: the real
    // pump then says so at once, from inside the machine's own call (a nested event).
    if (nested_closes && !p.main_alive && p.output_open && !p.group_alive) {
      p.output_open = false;
      machine->on_output_closed(id);
    }
  }
  void close_output(run_id id) override {
    processes.at(id).output_open = false;
    trace.push_back("close " + processes.at(id).plugin);
  }
  void release(run_id id, pid_t) override {
    processes.at(id).released = true;
    probes_running.erase(id);  // abandoned
  }
  void start_probe(run_id id, probe_kind kind, const probe_spec&) override {
    if (probes_running.count(id)) ADD_FAILURE() << "two probes of run " << id << " at once";
    probes_running[id] = kind;
    ++probes_started;
    trace.push_back("probe " + processes.at(id).plugin + " " + std::string(to_string(kind)));
  }
  void start_gate(plugin_id id, const gate_spec& gate) override {
    if (gates.count(id)) ADD_FAILURE() << "a gate of plugin " << id << " tried twice at once";
    gates[id] = gate.target;
    trace.push_back("gate " + gate.target);
  }
  void cancel_gate(plugin_id id) override { gates.erase(id); }
  std::string gate_failure(plugin_id) override { return "connection refused"; }
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

  // The probe under way of run `id` ends.
  void probe_ends(run_id id, bool passed, std::string message = "connection refused") {
    const auto kind = probes_running.at(id);
    probes_running.erase(id);
    machine->on_probe_result(id, kind, passed, std::move(message));
  }

  // The gate being tried for plugin `id` answers.
  void gate_opens(plugin_id id) {
    gates.erase(id);
    machine->on_gate_open(id);
  }

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
    p.main_alive = false;
    machine->on_main_exit(id, {false, code});
  }
  void killed_by(run_id id, int signal) {
    auto& p = processes.at(id);
    p.output_open = false;
    p.group_alive = false;
    p.main_alive = false;
    machine->on_main_exit(id, {true, signal});
  }
  // The main process exits while what it wrote waits for room in a full sink.
  void exit_held(run_id id, int code, bool leaves = false) {
    auto& p = processes.at(id);
    p.group_alive = leaves;
    p.main_alive = false;
    p.exit_held = true;
    machine->on_exit_held(id, {false, code});
  }
  // What a held exit left in its pipes has been read.
  void drained(run_id id) {
    auto& p = processes.at(id);
    if (!p.exit_held) return;
    p.exit_held = false;
    p.output_open = p.group_alive;
    machine->on_exit_drained(id);
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
  std::map<run_id, probe_kind> probes_running;  // the probe under way of each run
  std::map<plugin_id, std::string> gates;       // the gates being tried, by plugin
  int probes_started = 0;
  std::set<std::string> unstartable;
  std::size_t spawns = 0;
  bool nested_closes = false;  // drain_output may close the output (the random walk)
  std::map<run_id, std::vector<std::string>> environments;  // what each run was started with
  std::set<std::string, std::less<>> full_output;           // plugins whose `block` sinks are full
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

// A machine on a fake world, and what tests ask of it.
class machine_harness {
 public:
  machine_harness() { world.machine = &machine; }
  machine_harness(const machine_harness&) = delete;
  machine_harness& operator=(const machine_harness&) = delete;

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

class machine_test : public ::testing::Test, public machine_harness {};

inline plugin_policy restarting(restart_mode mode) {
  plugin_policy p;
  p.restart = mode;
  p.restart_delay = 1s;
  p.restart_delay_max = 8s;
  p.restart_reset_after = 60s;
  p.max_restarts = 5;
  return p;
}

}  // namespace plughost::detail::fakes
