// Where an operator reaches a running plughost: its control socket (--socket,
// plughost.control_socket, or the default path for its identity) and its metrics endpoint
// (--metrics-address, plughost.metrics_address; off by default).
#include <fmt/format.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>

#include "config/setting_values.hpp"
#include "config/settings_parts.hpp"
#include "plughost/error.hpp"

namespace plughost::detail {

namespace fs = std::filesystem;

namespace {

bool is_off(std::string_view text) {
  return text == "none" || text == "off" || text.empty();
}

// Where a string key of `plughost:` is (for errors), and its text; empty key: not set.
struct text_setting {
  std::string text;
  std::string where;  // "file:line:col: plughost.key"
  const config_document* doc = nullptr;
  fs::path base;
};

text_setting text_key(const configuration& config, const std::string& key, bool allow_false) {
  const auto p = pick(config, key);
  if (!p.value) return {};
  if (allow_false && p.value->is_boolean() && !p.value->get<bool>()) {
    return {"none", "", p.doc, p.doc->base_dir};
  }
  if (!p.value->is_string() ||
      p.value->get_ref<const std::string&>().find('\0') != std::string::npos) {
    p.doc->fail_at_value(
        p.where, fmt::format("{} in plughost: expected {}, got {}", key,
                             key == "control_socket" ? "a path, or none" : "HOST:PORT, or none",
                             describe_type(*p.value)));
  }
  const auto at = p.doc->key_position(p.where);
  return {p.value->get<std::string>(),
          at.line > 0 ? fmt::format("{}:{}:{}: plughost.{}", p.doc->source, at.line, at.column, key)
                      : fmt::format("{}: plughost.{}", p.doc->source, key),
          p.doc, p.doc->base_dir};
}

}  // namespace

fs::path runtime_folder(const environment_block& env) {
  if (const auto xdg = env.get("XDG_RUNTIME_DIR"); xdg && !xdg->empty() && xdg->front() == '/') {
    return fs::path(*xdg) / "plughost";
  }
  if (::geteuid() == 0) return "/run/plughost";
  return fs::path(fmt::format("/tmp/plughost-{}", ::geteuid()));
}

std::optional<fs::path> resolve_control_socket(const launch_options& options,
                                               const environment_block& env,
                                               const configuration& config, const identity& who,
                                               int parent_pid) {
  fs::path chosen;
  std::string from;
  const auto known = identity_values(who);
  if (options.control_socket) {
    if (is_off(*options.control_socket)) return std::nullopt;
    from = "--socket";
    chosen = fs::absolute(with_identity(*options.control_socket, known, from, "the path"))
                 .lexically_normal();
  } else if (const auto key = text_key(config, "control_socket", /*allow_false=*/true);
             !key.text.empty()) {
    if (is_off(key.text)) return std::nullopt;
    from = key.where;
    chosen = normal_path(key.base, with_identity(key.text, known, from, "the path"));
  } else if (options.control) {
    // One plughost per role and worker id on a machine (LMCache's scheduler and each worker
    // run one): each its own socket, found again from the same identity.
    // Roles compare without case: WORKER, Worker and worker find the same socket.
    auto role = who.role ? file_name_part(*who.role) : std::string("all");
    if (who.role) {
      std::transform(role.begin(), role.end(), role.begin(), [](char c) {
        return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
      });
    }
    // A run that serves one process (the Python drop-in's, for one LMCache process) is named
    // after it too: two vLLM instances on a host each have a scheduler of worker -1.
    chosen = runtime_folder(env) /
             (parent_pid > 0 ? fmt::format("{}.{}.{}.sock", role, who.worker_id, parent_pid)
                             : fmt::format("{}.{}.sock", role, who.worker_id));
    from = "the default path";
  } else {
    return std::nullopt;
  }
  if (chosen.native().size() >= sizeof(sockaddr_un::sun_path)) {
    throw usage_error(
        fmt::format("{}: the control socket path {} is longer than a UNIX socket "
                    "path may be ({} bytes); choose a shorter one",
                    from, chosen.string(), sizeof(sockaddr_un::sun_path) - 1));
  }
  return chosen;
}

std::optional<metrics_endpoint> resolve_metrics_address(const launch_options& options,
                                                        const configuration& config,
                                                        const identity& who) {
  std::string text, from;
  if (options.metrics_address) {
    text = *options.metrics_address;
    from = "--metrics-address";
  } else {
    const auto key = text_key(config, "metrics_address", /*allow_false=*/true);
    text = key.text;
    from = key.where;
  }
  if (is_off(text)) return std::nullopt;
  // HOST:PORT, [IPv6]:PORT, or :PORT (every address); PORT+{worker_id}: each worker of a
  // machine its own port from one setting.
  constexpr std::string_view by_worker = "+{worker_id}";
  const bool offset = text.ends_with(by_worker);
  const std::string_view address =
      std::string_view(text).substr(0, text.size() - (offset ? by_worker.size() : 0));
  const auto colon = address.rfind(':');
  metrics_endpoint out;
  out.text = text;
  unsigned port = 0;
  const auto* port_begin = address.data() + (colon == std::string::npos ? 0 : colon + 1);
  const auto* end = address.data() + address.size();
  const auto [rest, ec] = std::from_chars(port_begin, end, port);
  if (colon == std::string::npos || ec != std::errc() || rest != end || port > 65535) {
    throw usage_error(
        fmt::format("{}: expected HOST:PORT (127.0.0.1:9464, [::1]:9464, :9464), "
                    "HOST:PORT+{{worker_id}} or none, got '{}'",
                    from, text));
  }
  if (offset) {
    const auto shifted = static_cast<std::int64_t>(port) + who.worker_id;
    if (port == 0 || shifted < 1 || shifted > 65535) {
      throw usage_error(fmt::format(
          "{}: '{}' gives worker {} the port {}, not one from 1 to 65535{}", from, text,
          who.worker_id, shifted, port == 0 ? " (port 0, any free port, takes no offset)" : ""));
    }
    port = static_cast<unsigned>(shifted);
  }
  out.host = std::string(address.substr(0, colon));
  if (out.host.size() >= 2 && out.host.front() == '[' && out.host.back() == ']') {
    out.host = out.host.substr(1, out.host.size() - 2);
  }
  if (out.host.empty()) out.host = "::";
  out.port = static_cast<std::uint16_t>(port);
  return out;
}

location_policy resolve_location_policy(const launch_options& options,
                                        const configuration& config) {
  location_policy out;
  out.allow_missing = options.allow_missing_locations;
  if (const auto key = pick(config, "allow_missing_locations"); key.value && !out.allow_missing) {
    if (!key.value->is_boolean()) {
      key.doc->fail_at_value(key.where,
                             fmt::format("allow_missing_locations in plughost: expected true or "
                                         "false, got {}",
                                         describe_type(*key.value)));
    }
    out.allow_missing = key.value->get<bool>();
  }
  if (options.wait_for_locations) {
    check_duration_option("launch_options.wait_for_locations", *options.wait_for_locations);
    out.wait = *options.wait_for_locations;
  } else if (const auto key = pick(config, "wait_for_locations"); key.value) {
    const auto d = parse_duration(*key.value);
    if (!d) {
      key.doc->fail_at_value(
          key.where, fmt::format("wait_for_locations in plughost: {}", duration_error(*key.value)));
    }
    out.wait = *d;
  }
  return out;
}

}  // namespace plughost::detail
