// The names of supervision's states and events, and its tables in Markdown for the docs.
#include "supervision/supervision_table.hpp"

#include <fmt/format.h>

#include <array>

namespace plughost::detail {

namespace {

constexpr std::array<std::string_view, 4> phase_names{"starting", "running", "stopping",
                                                      "finished"};
constexpr std::array<std::string_view, 6> phase_event_names{
    "started_all", "stop", "stop_again", "cap_grace", "reload", "nothing_left"};
constexpr std::array<std::string_view, plugin_state_count> plugin_state_names{
    "starting", "running", "stopping_by_hand", "restarting", "replacing", "stopping", "backoff",
    "held",     "exited",  "failed",           "stopped",    "retired",   "waiting"};
constexpr std::array<std::string_view, plugin_event_count> plugin_event_names{
    "run_ended",      "restart_due",  "reload_same",   "reload_changed",
    "reload_removed", "stop_by_hand", "start_by_hand", "restart_by_hand",
    "shutdown",       "may_start",    "gate_failed",   "required_failed"};
constexpr std::array<std::string_view, run_state_count> run_state_names{
    "running",   "stopping",           "killing",          "draining",
    "lingering", "lingering_stopping", "lingering_killing"};
constexpr std::array<std::string_view, run_event_count> run_event_names{
    "main_exit", "exit_held",  "exit_drained", "time_limit", "stop",
    "kill",      "stop_timer", "recheck",      "cap_grace",  "unhealthy"};
constexpr std::array<std::string_view, health_state_count> health_state_names{"starting", "ready",
                                                                              "unhealthy"};
constexpr std::array<std::string_view, health_event_count> health_event_names{"ready", "not_ready",
                                                                              "watchdog", "failed"};

template <std::size_t N, typename E>
std::string_view name_of(const std::array<std::string_view, N>& names, E e) noexcept {
  const auto i = static_cast<std::size_t>(e);
  return i < N ? names[i] : std::string_view("?");
}

// One table: a row per state, a column per event; a cell says what happens, and a cell that
// cannot happen says why in parentheses.
template <typename Table, std::size_t S, std::size_t E>
std::string markdown(const Table& table, const std::array<std::string_view, S>& states,
                     const std::array<std::string_view, E>& events) {
  std::string out = "| state |";
  for (const auto e : events) out += fmt::format(" {} |", e);
  out += "\n|---|";
  for (std::size_t i = 0; i < E; ++i) out += "---|";
  out += '\n';
  for (std::size_t s = 0; s < S; ++s) {
    out += fmt::format("| `{}` |", states[s]);
    for (std::size_t e = 0; e < E; ++e) {
      const auto& c = table[s][e];
      out += fmt::format(" {}", c.does);
      if (!c.reply.empty()) out += fmt::format(" (says \"{}\")", c.reply);
      out += " |";
    }
    out += '\n';
  }
  return out;
}

}  // namespace

std::string_view to_string(run_phase p) noexcept {
  return name_of(phase_names, p);
}
std::string_view to_string(phase_event e) noexcept {
  return name_of(phase_event_names, e);
}
std::string_view to_string(plugin_state s) noexcept {
  return name_of(plugin_state_names, s);
}
std::string_view to_string(plugin_event e) noexcept {
  return name_of(plugin_event_names, e);
}
std::string_view to_string(run_state s) noexcept {
  return name_of(run_state_names, s);
}
std::string_view to_string(run_event e) noexcept {
  return name_of(run_event_names, e);
}

std::string_view to_string(health_state s) noexcept {
  return name_of(health_state_names, s);
}
std::string_view to_string(health_event e) noexcept {
  return name_of(health_event_names, e);
}

std::string markdown_tables() {
  return "**The run** (`run_phase`):\n\n" + markdown(phase_table, phase_names, phase_event_names) +
         "\n**A plugin** (`plugin_state`):\n\n" +
         markdown(plugin_table, plugin_state_names, plugin_event_names) +
         "\n**A run** (`run_state`):\n\n" + markdown(run_table, run_state_names, run_event_names) +
         "\n**A run's health** (`health_state`):\n\n" +
         markdown(health_table, health_state_names, health_event_names);
}

}  // namespace plughost::detail
