// The metrics endpoint: /metrics in Prometheus' text format and /healthz, over HTTP with
// Boost.Beast, on the operator thread (never the event loop). Memory is bounded: about 16
// connections at a time (a new one closes the oldest that only waits), each with one request
// (headers only, 8 KiB at most) and one response; a connection idle for 10 s is closed.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "config/launch_settings.hpp"
#include "control/control_server.hpp"
#include "control/process_stats.hpp"

namespace plughost::detail {

/// The /metrics text for a status; `usage` by process group (a plugin's pid).
std::string metrics_text(const launcher_status& s, const std::map<pid_t, group_usage>& usage);

/// /healthz: whether plughost is healthy now (its plugins' phase is starting or running, and the
/// event loop answered within the last few seconds), and why not.
bool healthy(const launcher_status& s, std::chrono::system_clock::time_point now, std::string& why);

class metrics_server {
 public:
  /// Listens on `where`. Throws std::runtime_error naming the address and what is wrong.
  metrics_server(boost::asio::io_context& ioc, const metrics_endpoint& where, operator_calls calls);
  ~metrics_server();
  metrics_server(const metrics_server&) = delete;
  metrics_server& operator=(const metrics_server&) = delete;

  /// On the operator thread: no new connections, the open ones closed.
  void shutdown() noexcept;

  /// Where it listens (the port chosen when :0 was asked for).
  boost::asio::ip::tcp::endpoint local_endpoint() const;

 private:
  class session;
  void accept();

  boost::asio::io_context& ioc_;
  operator_calls calls_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::shared_ptr<std::size_t> count_ = std::make_shared<std::size_t>(0);
  std::vector<std::weak_ptr<session>> open_;
};

}  // namespace plughost::detail
