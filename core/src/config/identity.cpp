// Identity resolution: flag, then LMCACHE_RUNTIME_PLUGIN_*, then LMCACHE_PLUGIN_*.
#include "config/identity.hpp"

#include <fmt/format.h>

#include <charconv>

#include "plughost/error.hpp"

namespace plughost::detail {

std::optional<std::uint64_t> parse_count(std::string_view text) noexcept {
  if (text.empty()) return std::nullopt;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<std::int64_t> parse_integer(std::string_view text) noexcept {
  const bool negative = !text.empty() && text[0] == '-';
  const auto digits = negative ? text.substr(1) : text;
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string_view::npos) {
    return std::nullopt;
  }
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

namespace {

struct source_value {
  std::string origin;  // "--worker-id" or the variable's name
  std::string text;
};

// The first of: the flag, the new variable, the legacy variable.
std::optional<source_value> pick(const std::optional<std::string>& flag, std::string_view flag_name,
                                 const environment_block& env, std::string_view suffix) {
  if (flag) return source_value{std::string(flag_name), *flag};
  for (const auto* prefix : {"LMCACHE_RUNTIME_PLUGIN_", "LMCACHE_PLUGIN_"}) {
    const auto name = fmt::format("{}{}", prefix, suffix);
    if (const auto v = env.get(name)) return source_value{name, std::string(*v)};
  }
  return std::nullopt;
}

std::int64_t id_or(const std::optional<source_value>& v, std::int64_t fallback) {
  if (!v) return fallback;
  if (const auto n = parse_integer(v->text)) return *n;
  throw usage_error(fmt::format("{}: expected an integer, got '{}'", v->origin, v->text));
}

std::uint64_t count_or(const std::optional<source_value>& v, std::uint64_t fallback) {
  if (!v) return fallback;
  if (const auto n = parse_count(v->text); n && *n > 0) return *n;
  throw usage_error(fmt::format("{}: expected a positive integer, got '{}'", v->origin, v->text));
}

}  // namespace

identity resolve_identity(const launch_options& options, const environment_block& env) {
  identity who;
  // --role none: no role (no role filtering), whatever the environment says.
  if (const auto role = pick(options.role, "--role", env, "ROLE");
      role && !role->text.empty() && !(options.role && *options.role == "none")) {
    who.role = role->text;
  }
  who.worker_id = id_or(pick(options.worker_id, "--worker-id", env, "WORKER_ID"), 0);
  who.worker_count = count_or(pick(options.worker_count, "--worker-count", env, "WORKER_COUNT"), 1);
  return who;
}

}  // namespace plughost::detail
