// Names of restart modes and signals in configurations.
#include "supervision/plugin_policy.hpp"

#include <fmt/format.h>
#include <string.h>

#include <string>

namespace plughost::detail {

std::optional<restart_mode> parse_restart_mode(std::string_view text) {
  if (text == "never") return restart_mode::never;
  if (text == "on-failure") return restart_mode::on_failure;
  if (text == "always") return restart_mode::always;
  if (text == "interval") return restart_mode::interval;
  if (text == "schedule") return restart_mode::schedule;
  return std::nullopt;
}

std::string_view to_string(restart_mode m) {
  switch (m) {
    case restart_mode::never:
      return "never";
    case restart_mode::on_failure:
      return "on-failure";
    case restart_mode::always:
      return "always";
    case restart_mode::interval:
      return "interval";
    case restart_mode::schedule:
      return "schedule";
  }
  return "never";
}

std::string_view to_string(probe_kind k) noexcept {
  switch (k) {
    case probe_kind::startup:
      return "startup";
    case probe_kind::readiness:
      return "readiness";
    case probe_kind::liveness:
      return "liveness";
  }
  return "?";
}

std::vector<std::string> describe_waits(const plugin_policy& p) {
  std::vector<std::string> out;
  for (const auto& d : p.waits_for) {
    out.push_back(
        fmt::format("{} {} ({})", d.required ? "requires" : "after", d.name, to_string(d.until)));
  }
  if (p.gate.shared) out.push_back("wait_for " + p.gate.shared->target);
  return out;
}

std::string_view to_string(wait_condition c) noexcept {
  switch (c) {
    case wait_condition::started:
      return "started";
    case wait_condition::ready:
      return "ready";
    case wait_condition::completed:
      return "completed";
  }
  return "?";
}

std::optional<wait_condition> parse_wait_condition(std::string_view text) {
  for (const auto c : {wait_condition::started, wait_condition::ready, wait_condition::completed}) {
    if (text == to_string(c)) return c;
  }
  return std::nullopt;
}

std::optional<int> parse_signal(std::string_view name) {
  if (name.rfind("SIG", 0) == 0) name.remove_prefix(3);
  for (int s = 1; s < NSIG; ++s) {
    if (const char* abbrev = ::sigabbrev_np(s); abbrev && name == abbrev) return s;
  }
  return std::nullopt;
}

}  // namespace plughost::detail
