// The metrics endpoint: /metrics in Prometheus' text format, /healthz and /readyz, over HTTP
// with Boost.Beast, on the operator thread (never the event loop). The operator thread only
// accepts, reads and writes: a /metrics text and each verdict are made on a thread each, once for
// every connection that asked meanwhile, so that a flood of scrapes cannot hold up a liveness
// probe. Memory is bounded: 16 connections at a time (a new one closes the oldest of the peer
// holding the most), each with one request (headers only, 8 KiB at most) and one answer; a
// connection idle for 10 s is closed, and one that pipelines requests gets one answer and is
// closed.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/launch_settings.hpp"
#include "control/control_server.hpp"
#include "control/metrics_text.hpp"

namespace plughost::detail {

class metrics_server {
 public:
  /// Listens on `where`. Throws std::runtime_error naming the address and what is wrong.
  metrics_server(boost::asio::io_context& ioc, const metrics_endpoint& where, operator_calls calls);
  /// Stops the threads that make answers (waits for them).
  ~metrics_server();
  metrics_server(const metrics_server&) = delete;
  metrics_server& operator=(const metrics_server&) = delete;

  /// On the operator thread: no new connections, the open ones closed.
  void shutdown() noexcept;

  /// Where it listens (the port chosen when :0 was asked for).
  boost::asio::ip::tcp::endpoint local_endpoint() const;

  struct reply;
  using shared_reply = std::shared_ptr<const reply>;

 private:
  class session;
  class maker;
  void accept();
  void admit(boost::asio::ip::tcp::socket socket);
  void forget(const session* s) noexcept;
  // What a session asked for, answered on the operator thread (at once or when it is made).
  void ask_health(std::function<void(shared_reply)> done);
  void ask_readiness(std::function<void(shared_reply)> done);
  void ask_metrics(std::function<void(shared_reply)> done);

  boost::asio::io_context& ioc_;
  operator_calls calls_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::vector<std::shared_ptr<session>> open_;  // oldest first; owns the open connections
  shared_reply latest_metrics_;                 // shared by scrapes soon after it was made
  std::unique_ptr<maker> health_;               // last: stopped before what they use goes
  std::unique_ptr<maker> readiness_;
  std::unique_ptr<maker> metrics_;
};

}  // namespace plughost::detail
