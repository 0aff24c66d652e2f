// The syslog sink over TLS against a receiver that accepts the connection and never answers.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "syslog/syslog_sink.hpp"

namespace plughost::sinks {
namespace {

// A TCP listener on 127.0.0.1 that takes connections and holds them, saying nothing.
class silent_listener {
 public:
  silent_listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), len) != 0 || ::listen(fd_, 8) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      ADD_FAILURE() << "cannot listen on 127.0.0.1";
    }
    port_ = ntohs(a.sin_port);
    accepter_ = std::thread([this] {
      while (true) {
        const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) return;  // shut down
        held_.push_back(c);
      }
    });
  }
  ~silent_listener() {
    ::shutdown(fd_, SHUT_RDWR);
    accepter_.join();
    ::close(fd_);
    for (const int c : held_) ::close(c);
  }
  silent_listener(const silent_listener&) = delete;
  silent_listener& operator=(const silent_listener&) = delete;
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::vector<int> held_;
  std::thread accepter_;
};

TEST(syslog_tls, a_handshake_without_an_answer_says_so_with_the_timeout) {
  silent_listener receiver;
  syslog_sink::options o;
  o.via = syslog_sink::transport::tls;
  o.address = "127.0.0.1:" + std::to_string(receiver.port());
  o.timeout = std::chrono::seconds(2);
  syslog_sink sink(o);
  record r;
  r.time = std::chrono::system_clock::now();
  r.plugin = "all_plugin.sh";
  r.stream = stream::out;
  r.line = "hello";
  sink.write(r);
  try {
    sink.flush();
    FAIL() << "the handshake succeeded";
  } catch (const sink_error& e) {
    const std::string expected =
        "TLS handshake with " + o.address + ": no answer within 2s; trying again";
    EXPECT_EQ(std::string(e.what()).substr(0, expected.size()), expected) << e.what();
  }
}

}  // namespace
}  // namespace plughost::sinks
