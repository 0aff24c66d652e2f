// A plugin's probes (docs/health.md): `startup`, `readiness` and `liveness`, each a mapping with
// one of exec (a command), http (a URL) or tcp (HOST:PORT) and Kubernetes' timing keys, checked
// against a table and read onto the plugin's policy.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "config/setting_values.hpp"
#include "config/settings_parts.hpp"

namespace plughost::detail {

namespace {

// The probe's own defaults are Kubernetes' (a probe is off unless configured).
const setting_spec probe_table[] = {
    {.key = "exec",
     .type = setting_type::string_list,
     .description = "a command (a list: program, arguments); exit 0 passes"},
    {.key = "http",
     .type = setting_type::string,
     .description = "http://HOST:PORT/PATH; an answer from 200 to 399 passes"},
    {.key = "tcp", .type = setting_type::string, .description = "HOST:PORT; a connection passes"},
    {.key = "period",
     .type = setting_type::duration,
     .default_value = "10s",
     .description = "from one probe to the next"},
    {.key = "timeout",
     .type = setting_type::duration,
     .default_value = "1s",
     .description = "a probe that takes longer fails (an exec probe's group gets SIGKILL)"},
    {.key = "failure_threshold",
     .type = setting_type::count,
     .default_value = "3",
     .description = "failures in a row that fail it"},
    {.key = "success_threshold",
     .type = setting_type::count,
     .default_value = "1",
     .description = "successes in a row that pass it (1 for startup and liveness)"},
    {.key = "initial_delay",
     .type = setting_type::duration,
     .default_value = "0",
     .description = "from the start of a run to its first probe"},
};

// Its one method (exec, http or tcp) and what it names, onto `p`.
void read_method(const settings& s, const config_document& doc, const json::json_pointer& where,
                 const std::string& what, probe_spec& p) {
  if (s.has("exec")) {
    p.how = probe_spec::method::exec;
    p.argv = s.get_string_list("exec");
    if (p.argv.empty() || p.argv[0].empty()) {
      doc.fail_at_value(where / "exec",
                        fmt::format("{}.exec must be a command: a list of its program and "
                                    "arguments, such as [curl, -fs, http://127.0.0.1:8080/]",
                                    what));
    }
    p.target = fmt::format("{}", fmt::join(p.argv, " "));
  } else if (s.has("http")) {
    p.how = probe_spec::method::http;
    p.target = s.get_string("http");
    if (!parse_http_url(p.target, p)) {
      doc.fail_at_value(where / "http", fmt::format("{}.http must be a URL such as "
                                                    "http://127.0.0.1:8080/health (https is not "
                                                    "supported), got {}",
                                                    what, p.target));
    }
  } else {
    p.how = probe_spec::method::tcp;
    p.target = s.get_string("tcp");
    if (!split_host_port(p.target, p.host, p.port)) {
      doc.fail_at_value(where / "tcp", fmt::format("{}.tcp must be HOST:PORT such as "
                                                   "127.0.0.1:8080 (a port from 1 to 65535), "
                                                   "got {}",
                                                   what, p.target));
    }
  }
}

// One probe's mapping.
probe_spec read_probe(const json& value, const config_document& doc,
                      const json::json_pointer& where, const std::string& what, probe_kind kind) {
  if (!value.is_object()) {
    doc.fail_at_value(where, fmt::format("{} must be a mapping such as {{tcp: 127.0.0.1:8080, "
                                         "period: 10s}}, got {}",
                                         what, describe_type(value)));
  }
  const auto s = validate_settings(probe_table, value, doc, where, what);
  const int methods = s.has("exec") + s.has("http") + s.has("tcp");
  if (methods != 1) {
    doc.fail_at_value(
        where, fmt::format("{} needs exactly one of exec, http or tcp, got {}", what, methods));
  }
  probe_spec p;
  read_method(s, doc, where, what, p);
  p.period = s.get_duration("period");
  p.timeout = s.get_duration("timeout");
  p.initial_delay = s.get_duration("initial_delay");
  const auto threshold = [&](const char* key) {
    const auto n = s.get_integer(key);
    if (n < 1 || n > 1000000) {
      doc.fail_at_value(where / key,
                        fmt::format("{}.{} must be from 1 to 1000000, got {}", what, key, n));
    }
    return static_cast<int>(n);
  };
  p.failure_threshold = threshold("failure_threshold");
  p.success_threshold = threshold("success_threshold");
  if (p.success_threshold != 1 && kind != probe_kind::readiness) {
    doc.fail_at_value(where / "success_threshold",
                      fmt::format("{}.success_threshold must be 1 (only a readiness probe may "
                                  "need more successes in a row)",
                                  what));
  }
  if (p.period.count() <= 0 || p.timeout.count() <= 0) {
    doc.fail_at_value(where, fmt::format("{}: period and timeout must be more than 0", what));
  }
  return p;
}

}  // namespace

// "HOST:PORT" (a [v6] address in brackets): false when it is not one.
bool split_host_port(std::string_view text, std::string& host, std::uint16_t& port) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  host = std::string(text.substr(0, colon));
  if (host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const auto digits = text.substr(colon + 1);
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || end != digits.data() + digits.size() || value == 0 || value > 65535) {
    return false;
  }
  port = static_cast<std::uint16_t>(value);
  return !host.empty();
}

// http://HOST[:PORT][/PATH] onto `p`; false when it is not one.
bool parse_http_url(const std::string& url, probe_spec& p) {
  constexpr std::string_view scheme = "http://";
  if (!url.starts_with(scheme)) return false;
  // Sent as it is: no space nor control character may end up in the request line.
  if (std::any_of(url.begin(), url.end(),
                  [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; })) {
    return false;
  }
  const auto rest = std::string_view(url).substr(scheme.size());
  const auto slash = rest.find('/');
  const auto authority = rest.substr(0, slash);
  p.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (authority.find(':') == std::string_view::npos || authority.back() == ']') {
    p.host = std::string(authority);
    if (!p.host.empty() && p.host.front() == '[') p.host = p.host.substr(1, p.host.size() - 2);
    p.port = 80;
    return !p.host.empty();
  }
  return split_host_port(authority, p.host, p.port);
}

void read_probes(const json& section, const config_document& doc, const json::json_pointer& where,
                 const std::string& what, plugin_policy& policy) {
  if (!section.is_object()) return;
  for (const auto kind : {probe_kind::startup, probe_kind::readiness, probe_kind::liveness}) {
    const auto key = std::string(to_string(kind));
    const auto it = section.find(key);
    if (it == section.end()) continue;
    // `liveness: ~` turns off one that `plughost:` set.
    policy.set_probe(kind, it->is_null() ? std::nullopt
                                         : std::optional(read_probe(*it, doc, where / key,
                                                                    what + "." + key, kind)));
  }
}

}  // namespace plughost::detail
