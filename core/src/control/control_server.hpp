// The control socket: a UNIX stream socket (mode 0600, its folder 0700, peers checked by their
// credentials) where `plughost status|start|stop|restart|reload|logs` talk to a running
// plughost in line-delimited JSON (docs/operations.md has the protocol). It runs on the
// operator thread (operator_endpoints), never on the event loop: what it asks the loop goes
// through the launcher's thread-safe calls.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "control/reload_answers.hpp"
#include "output/record_tap.hpp"
#include "plughost/launcher.hpp"

namespace plughost::detail {

/// What the operator endpoints may ask of the launcher. Called on the operator thread; each may
/// block (status() waits for the event loop up to a second).
struct operator_calls {
  std::function<launcher_status()> status;
  /// "stop", "start" or "restart" one plugin; returns what happened; throws usage_error.
  std::function<std::string(std::string_view what, std::string_view plugin)> act;
  /// Waits for the reload: what changed, then one line per warning it gave; throws usage_error
  /// saying why nothing changed.
  std::function<std::string()> reload;
  std::function<void()> reopen;
  record_tap* tap = nullptr;  ///< for logs; may be null
};

class control_server {
 public:
  /// Creates the socket's folder (0700) when missing and binds `path` (0600). Throws
  /// std::runtime_error naming the path and what is wrong: another plughost listens there, the
  /// folder is someone else's or writable by others, the path is something else.
  control_server(boost::asio::io_context& ioc, std::filesystem::path path, operator_calls calls);
  /// Closes every connection and removes the socket (if it is still the one it made).
  ~control_server();
  control_server(const control_server&) = delete;
  control_server& operator=(const control_server&) = delete;

  const std::filesystem::path& path() const noexcept { return path_; }

  /// On the operator thread: no new connections; `logs -f` readers get what was posted to them
  /// before, then their connection ends; the others end now.
  void shutdown() noexcept;

 private:
  class connection;
  void accept();

  boost::asio::io_context& ioc_;
  std::filesystem::path path_;
  operator_calls calls_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  dev_t made_dev_ = 0;
  ino_t made_ino_ = 0;
  // Open connections (to close them with the server), and how many there are (each connection
  // counts itself, and may outlive the server inside a handler that never runs).
  std::vector<std::weak_ptr<connection>> open_;
  std::shared_ptr<std::size_t> count_ = std::make_shared<std::size_t>(0);
  waiting_threads waiters_;
};

}  // namespace plughost::detail
