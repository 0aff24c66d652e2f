// The operator thread: one Asio loop of its own for the control socket and the metrics
// endpoint, so that nothing an operator or a scraper does can hold up the plugins' event loop.
#pragma once

#include <boost/asio/io_context.hpp>
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
  /// thread. What cannot be opened is a warning (the plugins matter more), logged here.
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
};

}  // namespace plughost::detail
