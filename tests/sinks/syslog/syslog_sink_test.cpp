// The syslog sink module against a real rsyslogd, started by the test on a private unix socket
// and a private UDP port, writing what it receives to a file the test reads back.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "integration.hpp"

namespace plughost::test {
namespace {

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
  int port = free_port(SOCK_DGRAM);
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

// Settings that would have no effect are refused, naming the setting, before any plugin starts.
class syslog_settings : public plughost_run {};

TEST_F(syslog_settings, that_would_have_no_effect_are_refused) {
  plugin("p.sh", "echo started >&2\n");
  const std::pair<std::string, std::string> cases[] = {
      {"{type: syslog, address: \"127.0.0.1:9\", transport: tcp, ca_file: /etc/hostname}",
       "ca_file is for transport tls, and this sink sends over tcp"},
      {"{type: syslog, server_name: logs.example}",
       "server_name is for transport tls, and this sink sends over the unix socket"},
      {"{type: syslog, address: \"127.0.0.1:9\", verify: false}",
       "verify is for transport tls, and this sink sends over udp"},
      {"{type: syslog, transport: unix, address: \"127.0.0.1:514\"}",
       "address is for transports udp, tcp and tls; transport unix sends to socket (/dev/log)"},
      {"{type: syslog, format: rfc3164, labels: [\"team=kv\"]}",
       "labels need format rfc5424 (an RFC 3164 message has no structured data to hold them)"},
  };
  for (const auto& [sink, said] : cases) {
    const auto config = dir.write(
        "c.yaml", "runtime_plugin_locations: [plugins]\nplughost:\n  sinks:\n    - " + sink + "\n");
    const auto r = run({"run", "--config", config.string()});
    EXPECT_EQ(r.exit_code, 2) << sink;
    EXPECT_NE(r.err.find(said), std::string::npos) << sink << ": " << r.err;
    EXPECT_EQ(r.err.find("started"), std::string::npos) << "no plugin started: " << r.err;
  }
}

// ---- over TCP and TLS ------------------------------------------------------------------------

// A real rsyslogd receiving over TCP (imtcp), or TLS with its gnutls driver and a certificate
// the test makes; it can be stopped and started again on the same port.
class syslog_stream : public plughost_run {
 protected:
  void TearDown() override { stop_receiver(); }

  // A CA, and a certificate it signed for 127.0.0.1 and localhost.
  void make_certificates() {
    const auto script = dir.write(
        "tls/make.sh",
        "set -e\ncd " + (dir.path() / "tls").string() +
            "\n"
            "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 "
            "-subj /CN=plughost-test-ca\n"
            "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr "
            "-subj /CN=localhost\n"
            "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > ext.cnf\n"
            "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
            "-out server.pem -days 2 -extfile ext.cnf\n"
            "openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other-ca.pem "
            "-days 2 -subj /CN=another-ca\n");
    child_process make({{"/bin/sh", script.string()},
                        env,
                        dir.path() / "tls" / "out",
                        dir.path() / "tls" / "err"});
    const auto status = make.wait_for(std::chrono::seconds(120));
    ASSERT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
        << read_file(dir.path() / "tls" / "err");
  }

  void start_receiver() {
    const auto tls = dir.path() / "tls";
    std::string conf = "global(workDirectory=\"" + (dir.path() / "rsyslog").string() + "\"";
    if (use_tls) {
      conf += " DefaultNetstreamDriverCAFile=\"" + (tls / "ca.pem").string() +
              "\" DefaultNetstreamDriverCertFile=\"" + (tls / "server.pem").string() +
              "\" DefaultNetstreamDriverKeyFile=\"" + (tls / "server.key").string() + "\"";
    }
    conf +=
        ")\nmodule(load=\"imtcp\"" +
        std::string(use_tls ? " StreamDriver.Name=\"gtls\" StreamDriver.Mode=\"1\" "
                              "StreamDriver.Authmode=\"anon\""
                            : "") +
        ")\ninput(type=\"imtcp\" address=\"127.0.0.1\" port=\"" + std::to_string(port) +
        "\")\ntemplate(name=\"t\" type=\"string\" string=\"sd=%structured-data% msg=%msg%\\n\")\n"
        "*.* action(type=\"omfile\" file=\"" +
        received.string() + "\" template=\"t\")\n";
    const auto file = dir.write("rsyslog/rsyslog.conf", conf);
    rsyslogd_ = std::make_unique<child_process>(
        child_process::options{{"/usr/sbin/rsyslogd", "-n", "-f", file.string(), "-i",
                                (dir.path() / "rsyslog" / "pid").string()},
                               env,
                               dir.path() / "rsyslog" / "out",
                               dir.path() / "rsyslog" / "err",
                               {},
                               {}});
    // Ready once it accepts connections.
    ASSERT_TRUE(eventually([&] {
      const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<std::uint16_t>(port));
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      const bool up = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
      ::close(fd);
      return up;
    })) << read_file(dir.path() / "rsyslog" / "err");
  }

  void stop_receiver() {
    if (!rsyslogd_) return;
    rsyslogd_->signal(SIGTERM);
    rsyslogd_->wait_for(std::chrono::seconds(30));
    rsyslogd_.reset();
  }

  // The "line N" messages received, in order.
  std::vector<int> numbers_received() {
    std::vector<int> out;
    std::istringstream in(read_file(received));
    for (std::string l; std::getline(in, l);) {
      const auto at = l.find("] line ");
      if (at != std::string::npos) out.push_back(std::stoi(l.substr(at + 7)));
    }
    return out;
  }

  // A plugin that writes lines 1..100, then, once `go` exists, 101..300.
  fs::path two_phase_plugin() {
    plugin("all_count.sh",
           "for i in $(seq 1 100); do echo \"line $i\"; done\n"
           "while [ ! -e " +
               (dir.path() / "go").string() +
               " ]; do sleep 0.05; done\n"
               "for i in $(seq 101 300); do echo \"line $i\"; done\nexec sleep 300\n");
    return dir.path() / "go";
  }

  fs::path config(const std::string& sink) {
    return dir.write("c.yaml", "runtime_plugin_locations: [plugins]\nplughost:\n  sinks:\n    - " +
                                   sink + "\n    - jsonl:" + records_file.string() + "\n");
  }

  std::vector<int> one_to(int n) {
    std::vector<int> out;
    for (int i = 1; i <= n; ++i) out.push_back(i);
    return out;
  }

  bool use_tls = false;
  int port = free_port(SOCK_STREAM);
  fs::path received = dir.path() / "rsyslog" / "received.log";
  std::unique_ptr<child_process> rsyslogd_;
};

TEST_F(syslog_stream, tcp_loses_nothing_while_the_receiver_restarts) {
  start_receiver();
  const auto go = two_phase_plugin();
  auto host =
      start({"run", "--config",
             config("{type: syslog, transport: tcp, address: \"127.0.0.1:" + std::to_string(port) +
                    "\", labels: [\"team=kv\"]}")
                 .string()});
  ASSERT_TRUE(eventually([&] { return numbers_received().size() == 100; })) << read_file(received);
  EXPECT_NE(read_file(received).find("sd=[plughost@32473 plugin=\"all_count.sh\" "
                                     "stream=\"stdout\" team=\"kv\"] msg=[all_count.sh] line 1\n"),
            std::string::npos)
      << read_file(received);

  stop_receiver();
  dir.write("go", "");
  // plughost notices, says so once, and keeps the messages while it tries again.
  ASSERT_TRUE(eventually([&] {
    return read_file(dir.path() / "bg.err").find("connect to 127.0.0.1:" + std::to_string(port)) !=
           std::string::npos;
  })) << read_file(dir.path() / "bg.err");
  start_receiver();
  ASSERT_TRUE(eventually([&] { return numbers_received().size() >= 300; }))
      << numbers_received().size() << " received";
  EXPECT_EQ(numbers_received(), one_to(300)) << "each line once, in order";
  host->signal(SIGTERM);
  ASSERT_TRUE(host->wait_for(std::chrono::seconds(30)));
}

TEST_F(syslog_stream, tls_to_rsyslogd_with_its_certificate_checked) {
  make_certificates();
  use_tls = true;
  start_receiver();
  const auto go = two_phase_plugin();
  dir.write("go", "");
  auto host =
      start({"run", "--config",
             config("{type: syslog, transport: tls, address: \"127.0.0.1:" + std::to_string(port) +
                    "\", ca_file: " + (dir.path() / "tls" / "ca.pem").string() + "}")
                 .string()});
  ASSERT_TRUE(eventually([&] { return numbers_received().size() >= 300; }))
      << read_file(dir.path() / "bg.err") << read_file(dir.path() / "rsyslog" / "err");
  EXPECT_EQ(numbers_received(), one_to(300));
  host->signal(SIGTERM);
  ASSERT_TRUE(host->wait_for(std::chrono::seconds(30)));
}

TEST_F(syslog_stream, tls_refuses_a_receiver_whose_certificate_another_ca_signed) {
  make_certificates();
  use_tls = true;
  start_receiver();
  plugin("all_a.sh", "echo secret; exec sleep 300\n");
  auto host =
      start({"run", "--config",
             config("{type: syslog, transport: tls, address: \"127.0.0.1:" + std::to_string(port) +
                    "\", ca_file: " + (dir.path() / "tls" / "other-ca.pem").string() + "}")
                 .string()});
  ASSERT_TRUE(eventually([&] {
    return read_file(dir.path() / "bg.err").find("certificate verify failed") != std::string::npos;
  })) << read_file(dir.path() / "bg.err");
  EXPECT_EQ(read_file(received).find("secret"), std::string::npos);
  host->signal(SIGTERM);
  ASSERT_TRUE(host->wait_for(std::chrono::seconds(30)));
}

}  // namespace
}  // namespace plughost::test
