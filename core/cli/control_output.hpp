// What the control commands print for people: a plughost's status, its records, the runs found.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "plughost_finder.hpp"

namespace plughost::cli {

/// `plughost status`: one line per plugin, then one per sink, from the status object.
void print_status(const nlohmann::json& status);
/// `plughost status --chain`: when each plugin first started and was first ready, in that
/// order, and what it waited for (docs/health.md).
void print_chain(const nlohmann::json& status);

/// A record as the stdout sink shows it, from its JSON (record_to_json).
void print_record(const nlohmann::json& record);

/// `plughost status --all`: one line per plughost found (or why it did not answer).
void print_runs(const std::vector<found_run>& runs);

}  // namespace plughost::cli
