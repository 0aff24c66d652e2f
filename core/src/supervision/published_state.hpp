// How supervision looks from outside (launcher.hpp's plugin_state, by_hand_action,
// launcher_phase): the one place where the machine's states become the public ones.
#pragma once

#include <optional>
#include <string_view>

#include "plughost/launcher.hpp"
#include "supervision/supervision_machine.hpp"

namespace plughost::detail {

/// A plugin's public state: its state in the machine, overlaid by its current run's (a run being
/// stopped is `stopping`; one whose exit waits for room in a full `block` sink, `draining`).
plughost::plugin_state published_state(const supervision_machine::plugin_view& v) noexcept;
/// The machine's "stopped" / "started" (by hand); none for anything else.
by_hand_action published_by_hand(std::string_view by_hand) noexcept;

launcher_phase published_phase(run_phase phase) noexcept;

}  // namespace plughost::detail
