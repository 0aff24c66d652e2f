// plughost under systemd: the test plays systemd's side of sd_notify(3) on a datagram socket of
// its own and reads what plughost tells it (READY=1 once the plugins have started, WATCHDOG=1
// from the loop, RELOADING=1 and READY=1 around a reload, STOPPING=1).
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "integration.hpp"

namespace plughost::test {
namespace {

using namespace std::chrono_literals;

class systemd_notify : public plughost_run {
 protected:
  // `name` a path, or "@..." for the abstract namespace.
  void listen(const std::string& name) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, name.data(), name.size());
    socklen_t length = offsetof(sockaddr_un, sun_path) + name.size() + 1;
    if (name.front() == '@') {
      a.sun_path[0] = '\0';
      length -= 1;
    }
    ASSERT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), length), 0) << std::strerror(errno);
    env.push_back("NOTIFY_SOCKET=" + name);
  }
  ~systemd_notify() override {
    if (fd_ >= 0) ::close(fd_);
  }

  // The next message, waiting up to 30 s (only to catch a hang); "" when none came.
  std::string next() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 30000) != 1) return "";
    char buffer[4096];
    const auto n = ::recv(fd_, buffer, sizeof buffer, 0);
    return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : "";
  }

  // The next message that is not WATCHDOG=1.
  std::string next_state() {
    for (auto m = next();; m = next()) {
      if (m != "WATCHDOG=1") return m;
    }
  }

  int fd_ = -1;
};

TEST_F(systemd_notify, ready_once_the_plugins_started_watchdog_reload_and_stopping) {
  plugin("all_a.sh",
         "echo \"socket ${NOTIFY_SOCKET:-unset} ${WATCHDOG_USEC:-unset}\"; exec sleep 300\n");
  plugin("all_b.sh", "exec sleep 300\n");
  listen((dir.path() / "notify").string());
  env.push_back("WATCHDOG_USEC=200000");
  auto host = start({"run", "--role", "none"});
  EXPECT_EQ(next_state(), "READY=1\nSTATUS=2 of 2 plugins running");
  // Its STATUS counts the plugins running when it was sent: READY came after both started.
  int watchdogs = 0;
  while (watchdogs < 3 && next() == "WATCHDOG=1") ++watchdogs;
  EXPECT_EQ(watchdogs, 3) << "WATCHDOG=1 every half of WATCHDOG_USEC";
  ASSERT_TRUE(wait_for_line("all_a.sh", "socket unset unset"))
      << "plugins do not speak for plughost to systemd";

  host->signal(SIGHUP);
  const auto reloading = next_state();
  EXPECT_EQ(reloading.rfind("RELOADING=1\nMONOTONIC_USEC=", 0), 0u) << reloading;
  EXPECT_EQ(next_state(), "READY=1\nSTATUS=2 of 2 plugins running");
  host->signal(SIGTERM);
  EXPECT_EQ(next_state(), "STOPPING=1");
  ASSERT_TRUE(host->wait_for(30s));
}

TEST_F(systemd_notify, an_abstract_socket_works_too_and_no_watchdog_without_watchdog_usec) {
  plugin("all_a.sh", "exec sleep 300\n");
  listen("@plughost-test-" + std::to_string(::getpid()));
  env.push_back("WATCHDOG_USEC=200000");
  env.push_back("WATCHDOG_PID=1");  // meant for another process: not plughost's to send
  auto host = start({"run", "--role", "none"});
  EXPECT_EQ(next(), "READY=1\nSTATUS=1 of 1 plugins running");
  host->signal(SIGTERM);
  EXPECT_EQ(next(), "STOPPING=1") << "no WATCHDOG=1 in between";
  ASSERT_TRUE(host->wait_for(30s));
}

// ready_requires_plugins: plughost's READY=1 waits until the required plugin is ready, and its
// STATUS= says what it waits for meanwhile.
TEST_F(systemd_notify, ready_waits_for_the_required_plugins_when_asked_to) {
  const auto go = dir.path() / "go";
  plugin("all_server.py",
         "import os, socket, time\n"
         "while not os.path.exists('" +
             go.string() +
             "'): time.sleep(0.02)\n"
             "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
             "s.sendto(b'READY=1', '\\0' + os.environ['NOTIFY_SOCKET'][1:])\n"
             "time.sleep(300)\n");
  plugin("all_other.sh", "exec sleep 300\n");
  listen("@plughost-test-" + std::to_string(::getpid()));
  const auto settings = dir.write("settings.yaml",
                                  "plughost:\n  ready_requires_plugins: true\n  plugins:\n"
                                  "    all_server.py: {notify: true, required: true}\n");
  auto host = start({"run", "--role", "none", "--settings", settings.string()});
  EXPECT_EQ(next_state(), "STATUS=waiting for required plugins to be ready: all_server.py");
  dir.write("go", "");
  EXPECT_EQ(next_state(), "READY=1\nSTATUS=2 of 2 plugins running");
  host->signal(SIGTERM);
  EXPECT_EQ(next_state(), "STOPPING=1");
  ASSERT_TRUE(host->wait_for(30s));
}

}  // namespace
}  // namespace plughost::test
