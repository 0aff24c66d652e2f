// The values of the isolation keys that take more than a number (docs/isolation.md): CPU lists,
// rlimits, GPUs, users and groups, each checked where it is written. Private to config/.
#pragma once

#include <sys/resource.h>

#include <string>
#include <utility>
#include <vector>

#include "config/config_document.hpp"
#include "supervision/cgroup_files.hpp"  // cpu_list_text
#include "supervision/isolation.hpp"

namespace plughost::detail {

/// A key of an isolation mapping: its document, where it is, and its name in messages
/// ("plughost.plugins.x.memory_max").
struct isolation_key {
  const config_document& doc;
  json::json_pointer where;
  std::string name;

  /// Throws config_error "FILE:L:C: NAME: message" at the value.
  [[noreturn]] void fail(const std::string& message) const;
  /// "FILE:L:C" of the value (the file alone when its position is unknown).
  std::string position() const;
};

/// A CPU list: "0-3,7", a YAML list of numbers, or one number. Sorted, without repeats.
std::vector<int> parse_cpu_list(const json& v, const isolation_key& k);
/// The CPUs this process may run on (sched_getaffinity).
std::vector<int> allowed_cpus();

/// limits: {nofile, core, nproc, as}: each written one replaces its resource in `limits`.
void apply_limits(const json& v, const isolation_key& k,
                  std::vector<std::pair<int, rlim_t>>& limits);

/// gpu: inherit, none, or a list ("0,1", or a YAML list of numbers and ids).
void apply_gpu(const json& v, const isolation_key& k, plugin_isolation& iso);

/// user: a name or a numeric id: the uid, the primary group, the supplementary groups, the name
/// and home. Without root, only plughost's own user.
void apply_user(const json& v, const isolation_key& k, plugin_isolation& iso);
/// group: a name or a numeric id. Without root, only plughost's own group.
void apply_group(const json& v, const isolation_key& k, plugin_isolation& iso);

/// A string, number or boolean as text (an environment value, an argument).
std::string scalar_text(const json& v, const isolation_key& k);

}  // namespace plughost::detail
