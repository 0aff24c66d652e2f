// The stdout sink over a real pipe and a real pseudo-terminal.
#include "stdout/stdout_sink.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pty.h>
#include <stdlib.h>
#include <unistd.h>

#include "plughost/events.hpp"

namespace plughost::sinks {
namespace {

class stdout_sink_test : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(::pipe(fds_), 0); }
  void TearDown() override {
    ::close(fds_[0]);
    if (fds_[1] >= 0) ::close(fds_[1]);
  }
  std::string written() {
    ::close(fds_[1]);
    fds_[1] = -1;
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fds_[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    return out;
  }
  static record line(stream s, std::string_view text) {
    record r;
    r.plugin = "all_plugin.sh";
    r.pid = 7;
    r.stream = s;
    r.line = text;
    return r;
  }
  int fds_[2] = {-1, -1};
};

TEST_F(stdout_sink_test, prefixes_every_line_with_the_plugin_and_marks_stderr_and_events) {
  {
    stdout_sink s(fds_[1], false);
    s.write(line(stream::out, "hello"));
    s.write(line(stream::err, "oops"));
    record e = line(stream::event, "");
    const event_field code[] = {{"exit_code", std::int64_t{0}}};
    e.event = events::exited;
    e.fields = code;
    s.write(e);
    s.flush();
  }
  EXPECT_EQ(written(),
            "[all_plugin.sh] hello\n"
            "[all_plugin.sh:stderr] oops\n"
            "[all_plugin.sh:event] exited with code 0\n");
}

TEST_F(stdout_sink_test, a_plugin_cannot_forge_lines_of_another) {
  {
    stdout_sink s(fds_[1], false);
    auto r = line(stream::out, "done\r[other.sh] forged\x1b[0m");
    r.plugin = "odd\nname.sh";
    s.write(r);
    s.flush();
  }
  EXPECT_EQ(written(), "[odd\\x0aname.sh] done\\r[other.sh] forged\\e[0m\n");
}

TEST_F(stdout_sink_test, colours_only_when_asked) {
  {
    stdout_sink s(fds_[1], true);
    s.write(line(stream::out, "hello"));
    s.write(line(stream::err, "oops"));
  }  // the destructor flushes
  EXPECT_EQ(written(),
            "\x1b[36m[all_plugin.sh]\x1b[0m hello\n\x1b[33m[all_plugin.sh:stderr]\x1b[0m oops\n");
}

TEST_F(stdout_sink_test, auto_colour_means_a_terminal_without_NO_COLOR) {
  EXPECT_FALSE(stdout_sink::want_color("auto", fds_[1]));
  EXPECT_TRUE(stdout_sink::want_color("always", fds_[1]));
  int master = -1, slave = -1;
  ASSERT_EQ(::openpty(&master, &slave, nullptr, nullptr, nullptr), 0);
  ::unsetenv("NO_COLOR");
  ::setenv("TERM", "xterm", 1);
  EXPECT_TRUE(stdout_sink::want_color("auto", slave));
  EXPECT_FALSE(stdout_sink::want_color("never", slave));
  ::setenv("NO_COLOR", "1", 1);
  EXPECT_FALSE(stdout_sink::want_color("auto", slave));
  ::unsetenv("NO_COLOR");
  ::close(master);
  ::close(slave);
}

TEST_F(stdout_sink_test, a_closed_reader_is_an_exception_not_a_crash) {
  ::close(fds_[0]);
  fds_[0] = ::open("/dev/null", O_RDONLY);
  ::signal(SIGPIPE, SIG_IGN);
  stdout_sink s(fds_[1], false);
  s.write(line(stream::out, "x"));
  EXPECT_THROW(s.flush(), std::system_error);
}

}  // namespace
}  // namespace plughost::sinks
