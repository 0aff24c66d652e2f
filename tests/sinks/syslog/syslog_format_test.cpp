// Syslog messages as the syslog sink frames them (RFC 5424 and RFC 3164).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "plughost/events.hpp"
#include "syslog/syslog_sink.hpp"

namespace plughost::sinks {
namespace {

using namespace std::chrono;

record line(stream s, std::string_view text) {
  record r;
  r.time = system_clock::time_point(seconds(1795953600) + microseconds(5));
  r.plugin = "all_plugin.sh";
  r.pid = 4242;
  r.stream = s;
  r.line = text;
  return r;
}

syslog_sink::options nowhere() {
  syslog_sink::options o;
  o.socket = "/nonexistent/plughost-test.sock";  // never connected in these tests
  return o;
}

std::string host() {
  char h[256] = {};
  ::gethostname(h, sizeof h - 1);
  return h;
}

TEST(syslog_format, rfc5424_with_severity_by_stream_and_the_plugin_in_structured_data) {
  auto o = nowhere();
  o.ident = "lmcache-plugins";
  o.facility = syslog_sink::facility_code("local0");
  const syslog_sink s(o);
  EXPECT_EQ(s.messages(line(stream::out, "hello")),
            std::vector<std::string>{
                "<134>1 2026-11-29T12:00:00.000005Z " + host() +
                " lmcache-plugins 4242 stdout [plughost@32473 plugin=\"all_plugin.sh\" "
                "stream=\"stdout\"] [all_plugin.sh] hello"});
  EXPECT_EQ(s.messages(line(stream::err, "x"))[0].substr(0, 5), "<132>");  // local0.warning
  record e = line(stream::event, "");
  e.event = events::exited;
  const event_field code[] = {{"exit_code", std::int64_t{0}}};
  e.fields = code;
  const auto m = s.messages(e)[0];
  EXPECT_EQ(m.substr(0, 5), "<133>");  // local0.notice
  EXPECT_NE(m.find(" event [plughost@32473 plugin=\"all_plugin.sh\" stream=\"event\"] "
                   "[all_plugin.sh] exited with code 0"),
            std::string::npos)
      << m;
}

TEST(syslog_format, structured_data_values_are_escaped) {
  const syslog_sink s(nowhere());
  record r = line(stream::out, "x");
  r.plugin = "we\"ird]na\\me.sh";
  EXPECT_NE(s.messages(r)[0].find("plugin=\"we\\\"ird\\]na\\\\me.sh\""), std::string::npos)
      << s.messages(r)[0];
}

TEST(syslog_format, rfc3164_is_what_glibc_syslog_sends) {
  ::setenv("TZ", "UTC", 1);
  ::tzset();
  auto o = nowhere();
  o.style = syslog_sink::format::rfc3164;
  const syslog_sink s(o);
  EXPECT_EQ(s.messages(line(stream::out, "hello")),
            std::vector<std::string>{"<14>Nov 29 12:00:00 plughost[4242]: [all_plugin.sh] hello"});
  EXPECT_EQ(
      s.messages(line(stream::err, "oops")),
      std::vector<std::string>{"<12>Nov 29 12:00:00 plughost[4242]: [all_plugin.sh] stderr: oops"});
  ::unsetenv("TZ");
  ::tzset();
}

TEST(syslog_format, a_long_line_becomes_several_messages_none_too_big) {
  auto o = nowhere();
  o.max_message = 1024;
  const syslog_sink s(o);
  const std::string text(5000, 'z');
  const auto messages = s.messages(line(stream::out, text));
  ASSERT_GT(messages.size(), 5u);
  std::string joined;
  for (const auto& m : messages) {
    EXPECT_LE(m.size(), 1024u);
    joined += m.substr(m.find("[all_plugin.sh] ") + 16);
  }
  EXPECT_EQ(joined, text);
}

TEST(syslog_format, facility_names) {
  EXPECT_EQ(syslog_sink::facility_code("kern"), 0);
  EXPECT_EQ(syslog_sink::facility_code("user"), 1);
  EXPECT_EQ(syslog_sink::facility_code("local7"), 23);
  EXPECT_EQ(syslog_sink::facility_code("nope"), -1);
}

}  // namespace
}  // namespace plughost::sinks
