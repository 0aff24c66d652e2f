// The events plughost reports (records with stream::event): their names, what each means and the
// fields it carries. The one list: the core, the sinks, the control commands and the tests name
// events from here, and docs/running.md's table of events is checked against it.
#pragma once

#include <array>
#include <string_view>

namespace plughost::events {

// A plugin's runs, in the order they can come.
inline constexpr std::string_view started = "started";
inline constexpr std::string_view ready = "ready";
inline constexpr std::string_view watchdog = "watchdog";
inline constexpr std::string_view probe = "probe";
inline constexpr std::string_view timed_out = "timed_out";
inline constexpr std::string_view stopping = "stopping";
inline constexpr std::string_view killed = "killed";
inline constexpr std::string_view exited = "exited";
inline constexpr std::string_view restarting = "restarting";
inline constexpr std::string_view next_run = "next_run";
inline constexpr std::string_view gave_up = "gave_up";
// Decided before a plugin runs.
inline constexpr std::string_view skipped = "skipped";
inline constexpr std::string_view error = "error";
// About plughost's sinks rather than a plugin's runs.
inline constexpr std::string_view dropped = "dropped";
inline constexpr std::string_view lost = "lost";

/// One kind of event. `fields` are those it can carry, in the order it gives them (unused
/// places are empty); some are there only in some cases (see `meaning`).
struct event_kind {
  std::string_view name;
  std::array<std::string_view, 4> fields;
  std::string_view meaning;
};

/// Every event, in the order a plugin's can come, then those about sinks.
inline constexpr std::array<event_kind, 15> catalogue{{
    {started, {"argv"}, "a run began"},
    {ready,
     {"after", "how"},
     "the run said it is ready (how: notify, notify_fd or log), `after` seconds after it began"},
    {probe,
     {"probe", "result", "message"},
     "a probe's outcome changed (probe: startup, readiness or liveness; result: passed or "
     "failed, with why)"},
    {watchdog, {"watchdog"}, "the run sent no WATCHDOG=1 for its watchdog time: it is stopped"},
    {timed_out, {"timeout"}, "the run reached its timeout"},
    {stopping, {"signal", "reason"}, "plughost sent its stop signal to the run's process group"},
    {killed,
     {"signal", "after", "stop_signal"},
     "SIGKILL to the run's group (stop_signal: the one it did not obey, when one was sent)"},
    {exited,
     {"exit_code", "signal", "reason"},
     "its main process ended: with exit_code, or by signal (reason: oom_killed when the "
     "out-of-memory killer of its cgroup sent it)"},
    {restarting, {"attempt", "delay"}, "a restart is scheduled"},
    {next_run, {"delay", "at"}, "restart: interval or schedule: when the next run starts"},
    {gave_up, {"restarts", "reason"}, "max_restarts restarts in a row: no more"},
    {skipped, {"reason"}, "at start: the naming rules (or enabled: false) left it out"},
    {error, {"message"}, "it could not be started"},
    {dropped,
     {"sink", "records", "total", "reason"},
     "a sink's queue was full and its overflow policy dropped records of the plugin"},
    {lost, {"sink", "records", "total", "message"}, "a sink failed to write records"},
}};

/// The entry of `name`; nullptr for a name that is not an event.
constexpr const event_kind* find(std::string_view name) noexcept {
  for (const auto& e : catalogue) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

}  // namespace plughost::events
