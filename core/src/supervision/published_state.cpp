// The machine's states as the public API, the JSON and the C API show them.
#include "supervision/published_state.hpp"

namespace plughost::detail {

plughost::plugin_state published_state(const supervision_machine::plugin_view& v) noexcept {
  using public_state = plughost::plugin_state;
  if (v.current_state == run_state::draining) return public_state::draining;
  // Its run is being stopped too, but to be replaced: an operator tells it from a stop for good.
  if (v.state == plugin_state::replacing) return public_state::replacing;
  // A run being stopped (by hand, by the shutdown, a time limit) says so.
  if (v.current_state == run_state::stopping || v.current_state == run_state::killing) {
    return public_state::stopping;
  }
  // No default: a state the machine gains must be given its public name here.
  switch (v.state) {
    case plugin_state::starting:
      return public_state::starting;
    case plugin_state::running:
      if (!v.signals_ready || !v.health) return public_state::running;
      switch (*v.health) {  // a plugin that says when it is ready: what its run said
        case health_state::starting:
          return public_state::starting;
        case health_state::ready:
          return public_state::ready;
        case health_state::unhealthy:
          return public_state::unhealthy;
      }
      return public_state::running;
    case plugin_state::stopping_by_hand:
    case plugin_state::restarting:
    case plugin_state::stopping:
      return public_state::stopping;
    case plugin_state::backoff:
      return v.scheduled ? public_state::scheduled : public_state::backoff;
    case plugin_state::replacing:
      return public_state::replacing;
    case plugin_state::exited:
      return public_state::exited;
    case plugin_state::failed:
      return public_state::failed;
    case plugin_state::held:  // by hand, as by_hand says
    case plugin_state::stopped:
      return public_state::stopped;
    case plugin_state::retired:
      return public_state::retired;
    case plugin_state::waiting:
      return public_state::waiting;
  }
  return public_state::failed;
}

by_hand_action published_by_hand(std::string_view by_hand) noexcept {
  if (by_hand == "stopped") return by_hand_action::stopped;
  if (by_hand == "started") return by_hand_action::started;
  return by_hand_action::none;
}

launcher_phase published_phase(run_phase phase) noexcept {
  switch (phase) {
    case run_phase::starting:
      return launcher_phase::starting;
    case run_phase::running:
      return launcher_phase::running;
    case run_phase::stopping:
      return launcher_phase::stopping;
    case run_phase::finished:
      return launcher_phase::finished;
  }
  return launcher_phase::finished;
}

}  // namespace plughost::detail
