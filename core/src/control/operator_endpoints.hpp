// The operator thread: one Asio loop of its own for the control socket and the metrics
// endpoint, so that nothing an operator or a scraper does can hold up the plugins' event loop.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <thread>

#include "config/launch_settings.hpp"
#include "control/control_server.hpp"
#include "control/metrics_server.hpp"

namespace plughost::detail {

class operator_endpoints {
 public:
  /// Opens what `settings` asks for (a control socket, a metrics endpoint) and starts the
  /// thread. Throws config_error when the metrics endpoint or a control socket named by the
  /// configuration cannot be opened; the default control socket is only a warning (another
  /// plughost of the same identity has it).
  operator_endpoints(const launch_settings& settings, operator_calls calls);
  /// Closes both (the control socket's file is removed) and joins the thread.
  ~operator_endpoints();
  operator_endpoints(const operator_endpoints&) = delete;
  operator_endpoints& operator=(const operator_endpoints&) = delete;

 private:
  boost::asio::io_context ioc_;
  std::optional<control_server> control_;
  std::optional<metrics_server> metrics_;
  std::thread thread_;
  std::future<void> ended_;  // ready once the operator loop has run out of work
  static constexpr auto shutdown_patience = std::chrono::seconds(2);
};

}  // namespace plughost::detail
