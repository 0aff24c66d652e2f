// The syslog sink module against a real rsyslogd, started by the test on a private unix socket
// and a private UDP port, writing what it receives to a file the test reads back.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "integration.hpp"

namespace plughost::test {
namespace {

// A free UDP port on 127.0.0.1 (the kernel picks one; it is released for rsyslogd to take).
int free_udp_port() {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

void send_unix(const fs::path& socket_path, const std::string& message) {
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, socket_path.c_str(), sizeof a.sun_path - 1);
  ::sendto(fd, message.data(), message.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::close(fd);
}

void send_udp(int port, const std::string& message) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::sendto(fd, message.data(), message.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::close(fd);
}

class syslog_sink : public plughost_run {
 protected:
  void SetUp() override {
    const auto conf = dir.write(
        "rsyslog/rsyslog.conf",
        "global(workDirectory=\"" + (dir.path() / "rsyslog").string() +
            "\" maxMessageSize=\"64k\")\n"
            "module(load=\"imuxsock\" SysSock.Use=\"off\")\n"
            "input(type=\"imuxsock\" Socket=\"" +
            socket.string() +
            "\" UseSpecialParser=\"off\" "
            "ParseHostname=\"on\")\n"
            "module(load=\"imudp\")\n"
            "input(type=\"imudp\" address=\"127.0.0.1\" port=\"" +
            std::to_string(port) +
            "\")\n"
            "template(name=\"t\" type=\"string\" "
            "string=\"%syslogfacility-text%.%syslogseverity-text% "
            "app=%app-name% procid=%procid% msgid=%msgid% sd=%structured-data% msg=%msg%\\n\")\n"
            "*.* action(type=\"omfile\" file=\"" +
            received.string() + "\" template=\"t\")\n");
    rsyslogd_ = std::make_unique<child_process>(
        child_process::options{{"/usr/sbin/rsyslogd", "-n", "-f", conf.string(), "-i",
                                (dir.path() / "rsyslog" / "pid").string()},
                               env,
                               dir.path() / "rsyslog" / "out",
                               dir.path() / "rsyslog" / "err",
                               {},
                               {}});
    // Ready when a probe sent each way has come out (UDP readiness cannot be seen otherwise).
    const bool ready = eventually([&] {
      send_unix(socket, "<14>1 - - probe - - - probe-unix");
      send_udp(port, "<14>1 - - probe - - - probe-udp");
      const auto text = read_file(received);
      return text.find("probe-unix") != std::string::npos &&
             text.find("probe-udp") != std::string::npos;
    });
    ASSERT_TRUE(ready) << "rsyslogd did not start: " << read_file(dir.path() / "rsyslog" / "err");
  }

  void TearDown() override {
    if (rsyslogd_) rsyslogd_->signal(SIGTERM);
    if (rsyslogd_) rsyslogd_->wait_for(std::chrono::seconds(10));
  }

  // The received lines that mention `text`, once at least `count` of them have arrived.
  std::vector<std::string> received_with(const std::string& text, std::size_t count) {
    std::vector<std::string> out;
    eventually([&] {
      out.clear();
      std::istringstream in(read_file(received));
      for (std::string l; std::getline(in, l);) {
        if (l.find(text) != std::string::npos) out.push_back(l);
      }
      return out.size() >= count;
    });
    return out;
  }

  fs::path socket = dir.path() / "rsyslog" / "log.sock";
  fs::path received = dir.path() / "rsyslog" / "received.log";
  int port = free_udp_port();
  std::unique_ptr<child_process> rsyslogd_;
};

TEST_F(syslog_sink, rfc5424_to_a_unix_socket_with_severities_by_stream) {
  plugin("all_plugin.sh", "echo 'to syslog'\necho 'a warning' >&2\n");
  const auto config = dir.write("c.yaml",
                                "runtime_plugin_locations: [plugins]\n"
                                "plughost:\n"
                                "  sinks:\n"
                                "    - {type: syslog, ident: lmcache-plugins, facility: local0, "
                                "socket: " +
                                    socket.string() + "}\n");
  const auto r = run({"run", "--config", config.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto got = received_with("app=lmcache-plugins", 4);
  ASSERT_EQ(got.size(), 4u) << read_file(received);
  EXPECT_EQ(got[0].rfind("local0.notice app=lmcache-plugins procid=", 0), 0u) << got[0];
  EXPECT_NE(got[0].find(" msgid=event sd=[plughost@32473 plugin=\"all_plugin.sh\" "
                        "stream=\"event\"] msg=[all_plugin.sh] started (pid "),
            std::string::npos)
      << got[0];
  EXPECT_NE(got[1].find("local0.info app=lmcache-plugins"), std::string::npos) << got[1];
  EXPECT_NE(got[1].find("msgid=stdout sd=[plughost@32473 plugin=\"all_plugin.sh\" "
                        "stream=\"stdout\"] msg=[all_plugin.sh] to syslog"),
            std::string::npos)
      << got[1];
  EXPECT_NE(got[2].find("local0.warning"), std::string::npos) << got[2];
  EXPECT_NE(got[2].find("msg=[all_plugin.sh] a warning"), std::string::npos) << got[2];
  EXPECT_NE(got[3].find("local0.notice"), std::string::npos) << got[3];
  EXPECT_NE(got[3].find("exited with code 0"), std::string::npos) << got[3];
}

TEST_F(syslog_sink, rfc3164_over_udp) {
  plugin("udp_check.py", "import sys\nprint('over udp')\nprint('err line', file=sys.stderr)\n");
  const auto config =
      dir.write("c.yaml",
                "runtime_plugin_locations: [plugins]\n"
                "plughost:\n"
                "  sinks:\n"
                "    - {type: syslog, address: \"127.0.0.1:" +
                    std::to_string(port) + "\", format: rfc3164, facility: daemon}\n");
  ASSERT_EQ(run({"run", "--config", config.string()}).exit_code, 0);
  const auto got = received_with("[udp_check.py]", 4);
  ASSERT_EQ(got.size(), 4u) << read_file(received);
  EXPECT_EQ(got[1].rfind("daemon.info app=plughost procid=", 0), 0u) << got[1];
  EXPECT_NE(got[1].find("msg= [udp_check.py] over udp"), std::string::npos) << got[1];
  EXPECT_EQ(got[2].rfind("daemon.warning app=plughost", 0), 0u) << got[2];
  EXPECT_NE(got[2].find("[udp_check.py] stderr: err line"), std::string::npos) << got[2];
}

TEST_F(syslog_sink, a_missing_socket_is_reported_and_other_sinks_go_on) {
  plugin("p.sh", "echo still recorded\n");
  const auto config = dir.write("c.yaml",
                                "runtime_plugin_locations: [plugins]\n"
                                "plughost:\n"
                                "  sinks:\n"
                                "    - {type: syslog, socket: " +
                                    (dir.path() / "nothing.sock").string() +
                                    "}\n"
                                    "    - jsonl:" +
                                    (dir.path() / "other.jsonl").string() + "\n");
  const auto r2 = run({"run", "--config", config.string()});
  EXPECT_EQ(r2.exit_code, 3) << "records were lost";
  EXPECT_NE(r2.err.find("plughost: error: sink syslog failed in write: connect to " +
                        (dir.path() / "nothing.sock").string() + ": No such file or directory"),
            std::string::npos)
      << r2.err;
  bool seen = false;
  for (const auto& rec : read_jsonl(dir.path() / "other.jsonl")) {
    seen = seen || rec.value("line", "") == "still recorded";
  }
  EXPECT_TRUE(seen);
}

}  // namespace
}  // namespace plughost::test
