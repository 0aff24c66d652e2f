// The syslog sink module: descriptor, settings table and factory.
#include "plughost/module.hpp"

#include <stdexcept>

#include "syslog_sink.hpp"

namespace {

using plughost::sinks::syslog_sink;

std::unique_ptr<plughost::sink> create(const plughost::settings& s) {
  syslog_sink::options o;
  o.ident = s.get_string("ident");
  o.facility = syslog_sink::facility_code(s.get_string("facility"));
  o.socket = s.get_string("socket");
  if (s.has("address")) o.address = s.get_string("address");
  o.style = s.get_string("format") == "rfc3164" ? syslog_sink::format::rfc3164
                                                : syslog_sink::format::rfc5424;
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
     .description = "host:port to send to over UDP instead of the socket"},
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
        "socket or UDP",
    .settings = settings_table,
    .create_sink = &create,
};

}  // namespace

PLUGHOST_MODULE(syslog_sink, descriptor)
