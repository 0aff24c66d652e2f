// Reload: the configuration read again (options.reload) on a planner thread of the
// supervisor's, while the loop goes on; the loop applies what was planned (machine.reload).
// Refused while stopping; bracketed by RELOADING=1 and READY=1 for systemd.
//
// One planner at a time. A reload asked for while one is being planned is not lost, nor does
// each request plan again: all that come meanwhile are merged into one more planning after it,
// which reads the configuration as it is then (the one under way may have read it before the
// change that was asked about). Whoever waits (reload_now) gets the outcome of a planning that
// began after the request.
#include <fmt/format.h>

#include <boost/asio/post.hpp>

#include "common/log.hpp"
#include "supervision/supervisor_impl.hpp"

namespace plughost::detail {

namespace {

// Under the control client's 10 s: reading the configuration may load modules.
constexpr auto reload_patience = std::chrono::seconds(8);
constexpr auto still_planning =
    "the reload is still being planned after 8 s (reading the configuration, hashing plugin "
    "files): it applies once its plan is ready; `plughost status` and the log show its outcome";

std::exception_ptr failure(const std::string& why) {
  return std::make_exception_ptr(std::runtime_error(why));
}

}  // namespace

// A reload that waits for its outcome: what changed, or why nothing did (usage_error).
std::string supervisor::impl::reload_now() {
  auto done = std::make_shared<std::promise<std::string>>();
  auto answer = done->get_future();
  {
    const std::lock_guard lock(status_mutex_);
    if (!loop_running_) throw usage_error("plughost is not running its plugins");
    if (std::this_thread::get_id() == loop_thread_) {
      throw usage_error("plughost cannot be reloaded and waited for from the launcher's loop");
    }
    asio::post(ioc_, [this, done] { request_reload(done); });
  }
  // A stop meanwhile answers at once: whoever waits (the control socket) need not hold up the
  // end of plughost until the planning gives up.
  const auto until = std::chrono::steady_clock::now() + reload_patience;
  while (answer.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
    if (stop_requested_) throw usage_error("plughost is stopping: the reload was not applied");
    if (std::chrono::steady_clock::now() >= until) throw usage_error(still_planning);
  }
  return await(answer, reload_patience, still_planning);
}

void supervisor::impl::reload() noexcept {
  try {
    const std::lock_guard lock(status_mutex_);
    if (!loop_running_) return;  // no effect outside run()
    asio::post(ioc_, [this] { request_reload(nullptr); });
  } catch (...) {
  }
}

// On the loop: a reload asked for; `waiter` (may be null) is answered with its outcome.
void supervisor::impl::request_reload(reload_waiter waiter) {
  if (const auto refused = reload_refused()) {
    if (waiter) waiter->set_exception(failure(*refused));
    return;
  }
  if (planning_) {
    plan_again_ = true;
    if (waiter) reload_next_.push_back(std::move(waiter));
    return;
  }
  if (waiter) reload_waiting_.push_back(std::move(waiter));
  start_planning();
}

// Why no reload can be applied now (said on the log when it is stopping); nullopt: it can.
std::optional<std::string> supervisor::impl::reload_refused() const {
  if (machine_.phase() == run_phase::finished || !options_.reload) {
    return "plughost is not running its plugins";
  }
  if (machine_.phase() == run_phase::stopping) {
    log().info("reload ignored: plughost is stopping");
    return "plughost is stopping: the reload was not applied";
  }
  return std::nullopt;
}

// The planner thread calls options.reload and hands the loop what it returned or why it threw.
// It reaches nothing of the loop's: run() joins it before it returns.
void supervisor::impl::start_planning() {
  planning_ = true;
  tell_systemd_reloading();
  if (planner_.joinable()) planner_.join();  // it has handed its plan over: it is ending
  try {
    planner_ = std::thread([this, logger = current_logger()] {
      const log_scope scope(logger);
      reload_outcome outcome;
      try {
        outcome = options_.reload(stop_requested_);
      } catch (const std::exception& e) {
        outcome = std::string(e.what());
      } catch (...) {
        outcome = std::string("unknown exception");
      }
      asio::post(ioc_,
                 [this, outcome = std::move(outcome)]() mutable { planned(std::move(outcome)); });
    });
  } catch (const std::exception& e) {  // no thread to be had
    planned(fmt::format("cannot start a thread to read the configuration: {}", e.what()));
  }
}

// On the loop: the planner is done. Its plan is applied (or why there is none said), whoever
// waited is answered, and what was asked for meanwhile is planned next.
void supervisor::impl::planned(reload_outcome outcome) {
  planning_ = false;
  std::string said;
  std::exception_ptr failed;
  try {
    said = apply_plan(std::move(outcome));
  } catch (...) {
    failed = std::current_exception();
  }
  tell_systemd_ready();
  answer_reloads(reload_waiting_, failed ? nullptr : &said, failed);
  if (!std::exchange(plan_again_, false)) return;
  reload_waiting_ = std::exchange(reload_next_, {});
  if (const auto refused = reload_refused()) {
    answer_reloads(reload_waiting_, nullptr, failure(*refused));
    return;
  }
  start_planning();
}

// The machine decides when a plan applies (after the start-up, never while stopping). Returns
// what changed; throws (having said so) when the configuration could not be loaded.
std::string supervisor::impl::apply_plan(reload_outcome outcome) {
  if (const auto* why = std::get_if<std::string>(&outcome)) {
    log().error("reload failed, everything keeps running as it was: {}", *why);
    throw std::runtime_error(
        fmt::format("reload failed, everything keeps running as it was: {}", *why));
  }
  if (const auto refused = reload_refused()) throw std::runtime_error(*refused);
  if (options_.reload_planned) options_.reload_planned();
  auto& items = std::get<std::vector<launch_item>>(outcome);
  for (const auto& item : items) update_guardian_timeout(item.policy.stop_timeout);
  machine_.set_reload_cause(std::exchange(watch_cause_, {}));
  auto result = machine_.reload(std::move(items));
  machine_.set_reload_cause({});  // a reload kept for after the start-up says no cause
  out_.flush();
  if (!result.applied) throw std::runtime_error("plughost is stopping: the reload was not applied");
  return result.said;
}

void supervisor::impl::answer_reloads(std::vector<reload_waiter>& waiters, const std::string* said,
                                      std::exception_ptr failed) {
  for (auto& w : waiters) {
    if (said) {
      w->set_value(*said);
    } else {
      w->set_exception(failed);
    }
  }
  waiters.clear();
}

// After the loop (run() returns): the planner is waited for, and whoever still waits is told.
void supervisor::impl::end_planning() {
  if (planner_.joinable()) planner_.join();
  planning_ = false;
  plan_again_ = false;
  const auto over = failure("plughost is not running its plugins");
  answer_reloads(reload_waiting_, nullptr, over);
  answer_reloads(reload_next_, nullptr, over);
}

}  // namespace plughost::detail
