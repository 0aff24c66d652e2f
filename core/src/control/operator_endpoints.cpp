// The operator thread and what it serves.
#include "control/operator_endpoints.hpp"

#include "common/log.hpp"

namespace plughost::detail {

operator_endpoints::operator_endpoints(const launch_settings& settings, operator_calls calls) {
  if (settings.control_socket) {
    try {
      control_.emplace(ioc_, *settings.control_socket, calls);
      log().debug("control socket: {}", settings.control_socket->string());
    } catch (const std::exception& e) {
      log().warn("no control socket: {}", e.what());
    }
  }
  if (settings.metrics) {
    try {
      metrics_.emplace(ioc_, *settings.metrics, calls);
      const auto at = metrics_->local_endpoint();
      log().info("metrics: http://{}/metrics",
                 at.address().is_v6()
                     ? "[" + at.address().to_string() + "]:" + std::to_string(at.port())
                     : at.address().to_string() + ":" + std::to_string(at.port()));
    } catch (const std::exception& e) {
      log().warn("no metrics endpoint: {}", e.what());
    }
  }
  if (!control_ && !metrics_) return;
  thread_ = std::thread([this, logger = current_logger()] {
    const log_scope scope(logger);
    ioc_.run();
  });
}

operator_endpoints::~operator_endpoints() {
  ioc_.stop();
  if (thread_.joinable()) thread_.join();
  metrics_.reset();
  control_.reset();
}

}  // namespace plughost::detail
