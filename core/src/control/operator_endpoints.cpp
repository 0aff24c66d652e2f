// The operator thread and what it serves.
#include "control/operator_endpoints.hpp"

#include <boost/asio/post.hpp>

#include "common/log.hpp"
#include "plughost/error.hpp"

namespace plughost::detail {

operator_endpoints::operator_endpoints(const launch_settings& settings, operator_calls calls) {
  if (settings.control_socket) {
    try {
      control_.emplace(ioc_, *settings.control_socket, calls);
      log().debug("control socket: {}", settings.control_socket->string());
    } catch (const std::exception& e) {
      // Asked for by name: an error, unless the run serves a process (below). The default one
      // (two plughosts of one identity): a warning.
      if (settings.control_socket_named && settings.parent_pid == 0) {
        throw config_error("control socket", e.what());
      }
      log().warn("no control socket: {}", e.what());
    }
  }
  if (settings.metrics) {
    try {
      metrics_.emplace(ioc_, *settings.metrics, calls);
    } catch (const std::exception& e) {
      // A run that serves a process (the Python drop-in's, for one LMCache process) runs its
      // plugins anyway: nobody would start it again, and LMCache would go on without them (a
      // settings file that every LMCache process of a host shares names one address). A run of
      // its own fails, so that whoever started it sees why.
      if (settings.parent_pid == 0) throw config_error("metrics endpoint", e.what());
      log().warn(
          "no metrics endpoint: {}; the plugins run without it (give each plughost its "
          "own port: HOST:PORT+{{worker_id}}, docs/operations.md)",
          e.what());
    }
  }
  if (metrics_) {
    const auto at = metrics_->local_endpoint();
    log().info("metrics: http://{}/metrics",
               at.address().is_v6()
                   ? "[" + at.address().to_string() + "]:" + std::to_string(at.port())
                   : at.address().to_string() + ":" + std::to_string(at.port()));
  }
  if (!control_ && !metrics_) return;
  std::promise<void> ended;
  ended_ = ended.get_future();
  thread_ = std::thread([this, logger = current_logger(), ended = std::move(ended)]() mutable {
    const log_scope scope(logger);
    ioc_.run();
    ended.set_value();
  });
}

operator_endpoints::~operator_endpoints() {
  if (thread_.joinable()) {
    // What was posted before (the last records for `logs -f`) is handled first; then the
    // endpoints close, and the loop ends once their connections have: at most shutdown_patience.
    boost::asio::post(ioc_, [this] {
      if (control_) control_->shutdown();
      if (metrics_) metrics_->shutdown();
    });
    if (ended_.wait_for(shutdown_patience) != std::future_status::ready) ioc_.stop();
    thread_.join();
  }
  metrics_.reset();
  control_.reset();
}

}  // namespace plughost::detail
