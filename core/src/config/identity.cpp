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
  std::string origin;  // the variable's name
  std::string text;
};

// The new variable, else the legacy one.
std::optional<source_value> from_environment(const environment_block& env,
                                             std::string_view suffix) {
  for (const auto* prefix : {"LMCACHE_RUNTIME_PLUGIN_", "LMCACHE_PLUGIN_"}) {
    const auto name = fmt::format("{}{}", prefix, suffix);
    if (const auto v = env.get(name)) return source_value{name, std::string(*v)};
  }
  return std::nullopt;
}

}  // namespace

identity resolve_identity(const launch_options& options, const environment_block& env) {
  identity who;
  // --role none: no role (no role filtering), whatever the environment says.
  if (options.role) {
    if (!options.role->empty() && *options.role != "none") who.role = *options.role;
  } else if (const auto role = from_environment(env, "ROLE"); role && !role->text.empty()) {
    who.role = role->text;
  }
  // A flag's text was parsed by the command line (or the C API), with the same parsers.
  if (options.worker_id) {
    who.worker_id = *options.worker_id;
  } else if (const auto id = from_environment(env, "WORKER_ID")) {
    who.worker_id = parse_worker_id_option(id->origin, id->text);
  }
  if (options.worker_count) {
    if (*options.worker_count == 0) {
      throw usage_error("launch_options.worker_count: expected a positive integer, got 0");
    }
    who.worker_count = *options.worker_count;
  } else if (const auto count = from_environment(env, "WORKER_COUNT")) {
    who.worker_count = parse_worker_count_option(count->origin, count->text);
  }
  return who;
}

}  // namespace plughost::detail

namespace plughost {

std::int64_t parse_worker_id_option(std::string_view option, std::string_view text) {
  if (const auto n = detail::parse_integer(text)) return *n;
  throw usage_error(fmt::format("{}: expected an integer, got '{}'", option, text));
}

std::uint64_t parse_worker_count_option(std::string_view option, std::string_view text) {
  if (const auto n = detail::parse_count(text); n && *n > 0) return *n;
  throw usage_error(fmt::format("{}: expected a positive integer, got '{}'", option, text));
}

}  // namespace plughost
