// The syslog sink module: descriptor, settings table and factory.
#include "plughost/module.hpp"

#include <stdexcept>

#include "plughost/sink_helpers.hpp"
#include "syslog_sink.hpp"

namespace {

using plughost::sinks::syslog_sink;

const char* via_name(syslog_sink::transport t) {
  using via = syslog_sink::transport;
  return t == via::tcp ? "tcp" : t == via::tls ? "tls" : t == via::udp ? "udp" : "the unix socket";
}

std::unique_ptr<plughost::sink> create(const plughost::settings& s) {
  syslog_sink::options o;
  o.ident = s.get_string("ident");
  o.facility = syslog_sink::facility_code(s.get_string("facility"));
  o.socket = s.get_string("socket");
  if (s.has("address")) o.address = s.get_string("address");
  const auto transport = s.get_string("transport");
  using via = syslog_sink::transport;
  o.via = transport == "tcp"    ? via::tcp
          : transport == "tls"  ? via::tls
          : transport == "udp"  ? via::udp
          : transport == "unix" ? via::unix_socket
          : o.address.empty()   ? via::unix_socket
                                : via::udp;
  if ((o.via == via::tcp || o.via == via::tls || o.via == via::udp) && o.address.empty()) {
    throw std::invalid_argument("transport " + transport + " needs an address (host:port)");
  }
  if (transport == "unix" && !o.address.empty()) {
    throw std::invalid_argument(
        "address is for transports udp, tcp and tls; transport unix "
        "sends to socket (" +
        o.socket + ")");
  }
  // A setting that would have no effect is a mistake in the configuration, not a preference.
  if (o.via != via::tls) {
    for (const char* key : {"ca_file", "cert_file", "key_file", "server_name"}) {
      if (s.has(key)) {
        throw std::invalid_argument(std::string(key) + " is for transport tls, and this sink " +
                                    "sends over " + via_name(o.via));
      }
    }
    if (!s.get_bool("verify")) {
      throw std::invalid_argument(std::string("verify is for transport tls, and this sink ") +
                                  "sends over " + via_name(o.via));
    }
  }
  if (s.has("ca_file")) o.ca_file = s.get_string("ca_file");
  if (s.has("cert_file")) o.cert_file = s.get_string("cert_file");
  if (s.has("key_file")) o.key_file = s.get_string("key_file");
  if (s.has("server_name")) o.server_name = s.get_string("server_name");
  o.verify = s.get_bool("verify");
  o.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(s.get_duration("timeout"));
  o.retry_delay_max =
      std::chrono::duration_cast<std::chrono::milliseconds>(s.get_duration("retry_delay_max"));
  if (o.timeout.count() <= 0) throw std::invalid_argument("timeout must be more than 0");
  if (s.has("labels")) o.labels = plughost::parse_labels(s.get_string_list("labels"));
  o.style = s.get_string("format") == "rfc3164" ? syslog_sink::format::rfc3164
                                                : syslog_sink::format::rfc5424;
  if (!o.labels.empty() && o.style == syslog_sink::format::rfc3164) {
    throw std::invalid_argument(
        "labels need format rfc5424 (an RFC 3164 message has no "
        "structured data to hold them)");
  }
  o.max_message = static_cast<std::size_t>(s.get_integer("max_message"));
  if (o.max_message < 480) throw std::invalid_argument("max_message must be at least 480 bytes");
  return std::make_unique<syslog_sink>(o);
}

const plughost::setting_spec settings_table[] = {
    {.key = "ident",
     .type = plughost::setting_type::string,
     .default_value = "plughost",
     .description = "APP-NAME (RFC 5424) or tag (RFC 3164) of every message",
     .shorthand = true},
    {.key = "facility",
     .type = plughost::setting_type::choice,
     .default_value = "user",
     .description = "syslog facility",
     .choices = "kern|user|mail|daemon|auth|syslog|lpr|news|uucp|cron|authpriv|ftp|local0|local1|"
                "local2|local3|local4|local5|local6|local7"},
    {.key = "socket",
     .type = plughost::setting_type::path,
     .default_value = "/dev/log",
     .description = "unix datagram socket of the local syslog daemon"},
    {.key = "address",
     .type = plughost::setting_type::string,
     .description = "host:port of a receiver over the network (UDP unless transport says)"},
    {.key = "transport",
     .type = plughost::setting_type::choice,
     .default_value = "auto",
     .description = "unix (the socket), udp, tcp (RFC 6587 octet counting), tls (RFC 5425); "
                    "auto: udp with an address, else unix",
     .choices = "auto|unix|udp|tcp|tls"},
    {.key = "ca_file",
     .type = plughost::setting_type::path,
     .description = "tls: PEM file of the CA(s) the receiver's certificate must chain to "
                    "(default: the system's)"},
    {.key = "cert_file",
     .type = plughost::setting_type::path,
     .description = "tls: this side's certificate chain (PEM), for a receiver that asks for one"},
    {.key = "key_file",
     .type = plughost::setting_type::path,
     .description = "tls: the key of cert_file (PEM; default: in cert_file)"},
    {.key = "server_name",
     .type = plughost::setting_type::string,
     .description = "tls: the name (or IP) the receiver's certificate must hold (default: the "
                    "address's host)"},
    {.key = "verify",
     .type = plughost::setting_type::boolean,
     .default_value = "true",
     .description = "tls: check the receiver's certificate and name (false only for tests)"},
    {.key = "timeout",
     .type = plughost::setting_type::duration,
     .default_value = "10s",
     .description = "tcp, tls: how long connecting or sending may take before the connection is "
                    "dropped and made again"},
    {.key = "retry_delay_max",
     .type = plughost::setting_type::duration,
     .default_value = "30s",
     .description = "tcp, tls: longest wait between reconnection attempts (from 0.1 s, doubling)"},
    {.key = "labels",
     .type = plughost::setting_type::string_list,
     .description = "NAME=VALUE pairs added to every message's structured data, e.g. "
                    "[\"host={host}\", \"role={role}\", \"worker_id={worker_id}\"]"},
    {.key = "format",
     .type = plughost::setting_type::choice,
     .default_value = "rfc5424",
     .description = "message format: rfc5424, or rfc3164 (what glibc's syslog() sends)",
     .choices = "rfc5424|rfc3164"},
    {.key = "max_message",
     .type = plughost::setting_type::size,
     .default_value = "8KiB",
     .description = "largest message sent; a longer line goes out as several messages (rsyslog "
                    "accepts 8 KiB by default)"},
};

constexpr plughost::module_descriptor descriptor{
    .abi_version = plughost::module_abi_version,
    .kind = plughost::module_kind::sink,
    .name = "syslog",
    .description =
        "syslog messages (stdout info, stderr warning, events notice) to a unix "
        "socket, UDP, TCP or TLS",
    .settings = settings_table,
    .create_sink = &create,
};

}  // namespace

PLUGHOST_MODULE(syslog_sink, descriptor)
