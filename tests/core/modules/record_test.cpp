// Timestamps and human event descriptions shared by the sinks.
#include "plughost/record.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <time.h>

#include "plughost/events.hpp"
#include "plughost/sink_helpers.hpp"

namespace plughost {
namespace {

using namespace std::chrono;

TEST(record, timestamps_are_utc_with_microseconds_whatever_the_time_zone) {
  const auto t = system_clock::time_point(seconds(1795953600) + microseconds(123456));
  ::setenv("TZ", "Asia/Kolkata", 1);
  ::tzset();
  EXPECT_EQ(format_timestamp(t), "2026-11-29T12:00:00.123456Z");
  ::unsetenv("TZ");
  ::tzset();
  EXPECT_EQ(format_timestamp(system_clock::time_point(seconds(0))), "1970-01-01T00:00:00.000000Z");
}

TEST(record, events_are_described_in_words) {
  record r;
  r.stream = stream::event;
  r.pid = 42;
  const std::vector<std::string> argv{"/bin/bash", "/p/x.sh"};
  const event_field started[] = {{"argv", std::span<const std::string>(argv)}};
  r.event = events::started;
  r.fields = started;
  EXPECT_EQ(describe_event(r), "started (pid 42): /bin/bash /p/x.sh");

  const event_field code[] = {{"exit_code", std::int64_t{3}}};
  r.event = events::exited;
  r.fields = code;
  EXPECT_EQ(describe_event(r), "exited with code 3");

  const event_field signal[] = {{"signal", std::string_view("SIGKILL")}};
  r.fields = signal;
  EXPECT_EQ(describe_event(r), "killed by SIGKILL");

  // killed: SIGKILL is what was sent; the text names the stop signal it came after.
  const event_field killed[] = {{"signal", std::string_view("SIGKILL")},
                                {"after", 4.0},
                                {"stop_signal", std::string_view("SIGTERM")}};
  r.event = events::killed;
  r.fields = killed;
  EXPECT_EQ(describe_event(r), "killed with SIGKILL: still running 4s after SIGTERM");
  r.fields = std::span(killed, 2);  // no stop signal was sent
  EXPECT_EQ(describe_event(r), "killed with SIGKILL");

  const event_field reason[] = {{"reason", std::string_view("requires role WORKER")}};
  r.event = events::skipped;
  r.fields = reason;
  EXPECT_EQ(describe_event(r), "skipped: requires role WORKER");

  const event_field restarting[] = {{"attempt", std::int64_t{2}}, {"delay", 1.5}};
  r.event = events::restarting;
  r.fields = restarting;
  EXPECT_EQ(describe_event(r), "restarting in 1.5s (attempt 2)");

  const event_field other[] = {{"count", std::int64_t{2}}, {"why", std::string_view("x")}};
  r.event = "something_new";
  r.fields = other;
  EXPECT_EQ(describe_event(r), "something_new count=2 why=x");
}

TEST(record, control_characters_are_made_visible_for_humans) {
  EXPECT_EQ(visible("plain text, tab\tand UTF-8 \xc3\xa9"), "plain text, tab\tand UTF-8 \xc3\xa9");
  EXPECT_EQ(visible("a\rb"), "a\\rb");
  EXPECT_EQ(visible("\x1b[2Kforged"), "\\e[2Kforged");
  EXPECT_EQ(visible(std::string("x\ny\x01\x7f\0z", 7)), "x\\x0ay\\x01\\x7f\\x00z");
  // C1 controls (CSI, OSC as UTF-8) and bytes that are not UTF-8 (a raw CSI, 0xff): terminals
  // act on them too. Well-formed UTF-8 of every length stays as it is.
  EXPECT_EQ(visible("a\xc2\x9b"
                    "2J \xc2\x9d"
                    "0;t"),
            "a\\u009b2J \\u009d0;t");
  EXPECT_EQ(visible("raw \x9b"
                    "2J \xff\xfe"),
            "raw \\x9b2J \\xff\\xfe");
  EXPECT_EQ(visible("\xc2\xa0 \xe2\x82\xac \xf0\x9f\x99\x82"),
            "\xc2\xa0 \xe2\x82\xac \xf0\x9f\x99\x82");
  EXPECT_EQ(visible("\xc0\xaf"), "\\xc0\\xaf") << "overlong";
  EXPECT_EQ(visible("\xed\xa0\x80"), "\\xed\\xa0\\x80") << "a surrogate";
  EXPECT_EQ(visible("cut \xe2\x82"), "cut \\xe2\\x82") << "cut short";
  EXPECT_TRUE(has_control_characters("\xc2\x85"));
  EXPECT_FALSE(has_control_characters("\xc3\xa9t\xc3\xa9"));
  EXPECT_FALSE(has_control_characters("tab\tis fine"));
  EXPECT_TRUE(has_control_characters("cr\r"));
  // Event descriptions carry file names and reasons: shown the same way.
  record e;
  e.plugin = "x";
  e.stream = stream::event;
  e.event = events::skipped;
  const event_field reason[] = {{"reason", std::string_view("bad\rname")}};
  e.fields = reason;
  EXPECT_EQ(describe_event(e), "skipped: bad\\rname");
}

TEST(record, names_are_shown_so_that_no_two_look_alike) {
  // A control character (or a byte that is not UTF-8) and a name spelling its escape looked the
  // same; a name's backslash is doubled, so they do not. Lines keep single backslashes.
  EXPECT_EQ(visible_name("a\nb.sh"), "a\\x0ab.sh");
  EXPECT_EQ(visible_name("a\\x0ab.sh"), "a\\\\x0ab.sh");
  EXPECT_EQ(visible_name("c\r\\r\xff\\xff"), "c\\r\\\\r\\xff\\\\xff");
  EXPECT_EQ(visible_name("plain \xc3\xa9.sh"), "plain \xc3\xa9.sh");
  EXPECT_EQ(visible_name("\\"), "\\\\");
  EXPECT_EQ(visible("C:\\dir \\\"q\\\""), "C:\\dir \\\"q\\\"") << "a line";
  // What it gives, made visible again (a message holding a name), stays as it is.
  EXPECT_EQ(visible(visible_name("a\nb\\c\x1b")), visible_name("a\nb\\c\x1b"));
}

TEST(record, stream_names) {
  EXPECT_EQ(to_string(stream::out), "stdout");
  EXPECT_EQ(to_string(stream::err), "stderr");
  EXPECT_EQ(to_string(stream::event), "event");
}

}  // namespace
}  // namespace plughost
