// What `plughost list` says of a plugin's isolation (docs/isolation.md): its limits, its
// environment changes, its GPUs, its arguments, its user, its credentials (their names) and the
// keys of the configuration it does not receive.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/environment.hpp"
#include "config/launch_settings.hpp"

namespace plughost::detail {

/// The settings of `plugin`'s isolation that are set (those defaults.yaml alone gives every
/// plugin left out), each with its values in words. `host`: plughost's environment, to say
/// which inherited variables env_remove removes.
std::vector<std::pair<std::string, std::vector<std::string>>> isolation_report(
    const std::string& plugin, const launch_settings& settings, const environment_block& host);

}  // namespace plughost::detail
