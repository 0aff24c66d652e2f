// The supervision state machine on one Asio event loop: the run (prepare the process, start
// every plugin, run the loop, put the process back), stop, and plugins stopped or started by
// hand. The rest of the loop's work is in the files supervisor_impl.hpp lists.
#include "supervision/supervisor.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/log.hpp"
#include "supervision/supervisor_impl.hpp"

namespace plughost::detail {

namespace {

// How long a stop, start or restart by hand waits for the loop.
constexpr auto act_patience = std::chrono::seconds(5);

}  // namespace

supervisor::impl::impl(record_dispatch& out, supervisor_options options)
    : out_(out), options_(std::move(options)), child_signals_(ioc_), reap_timer_(ioc_) {
  machine_.set_ordered_stop(options_.ordered_stop);
  machine_.set_keep_running(!options_.watch.empty() && options_.reload);
}

supervisor::impl::~impl() {
  if (planner_.joinable()) planner_.join();  // run() ended early, by an exception
  out_.detach();
  release_descriptors(context_);
  close_stdio_slots(context_);
  if (context_.devnull >= 0) ::close(context_.devnull);
}

bool supervisor::impl::run(std::vector<launch_item> items) {
  if (stop_requested_) {  // stopped before it ran: nothing starts
    const std::lock_guard lock(status_mutex_);
    status_.phase = launcher_phase::finished;
    return true;
  }
  {
    const std::lock_guard lock(status_mutex_);
    loop_thread_ = std::this_thread::get_id();
    loop_running_ = true;
    status_.phase = launcher_phase::starting;
    status_.taken = std::chrono::system_clock::now();
    started_ = status_.taken;
  }
  prepare();
  check_descriptor_limit(items.size());
  start_all(items);
  publish();  // what status() gives while the loop is too busy to answer
  tell_systemd_ready();
  watchdog();
  ioc_.run();
  loop_ended();
  return !machine_.any_failed();
}

// Every item is handed to the machine, then the loop may stop them.
void supervisor::impl::start_all(std::vector<launch_item>& items) {
  // Every few starts, whatever is ready runs: a stop signal, a parent that exited, output.
  // Starting thousands of plugins must stay stoppable (not after every start: reading the
  // first plugins' output in small pieces while the others start costs throughput).
  constexpr std::size_t starts_between_polls = 16;
  std::size_t started = 0;
  for (auto& item : items) {
    if (stop_requested_ || machine_.phase() != run_phase::starting) break;
    update_guardian_timeout(item.policy.stop_timeout);
    machine_.add(std::move(item));
    if (++started % starts_between_polls == 0) ioc_.poll();
  }
  if (ioc_.stopped()) ioc_.restart();
  out_.flush();
  if (stop_requested_) machine_.stop("shutdown");
  machine_.started_all();
  out_.flush();
}

// After the loop: the process as it was, the last snapshot, and nobody waits for the loop.
void supervisor::impl::loop_ended() {
  end_planning();
  out_.flush();
  restore_process();
  publish();
  {
    const std::lock_guard lock(status_mutex_);
    loop_running_ = false;
  }
  status_changed_.notify_all();
}

void supervisor::impl::stop() noexcept {
  stop_requested_ = true;
  try {
    asio::post(ioc_, [this] {
      tell_systemd_stopping();
      after(&supervision_machine::stop, "shutdown");
    });
  } catch (...) {
  }
}

std::string supervisor::impl::act(supervisor::by_hand what, std::string_view plugin) {
  return on_loop("a plugin cannot be stopped or started by hand from the launcher's loop",
                 act_patience, [this, what, name = std::string(plugin)] {
                   using enum supervisor::by_hand;
                   auto said = what == stop    ? machine_.stop_by_hand(name)
                               : what == start ? machine_.start_by_hand(name)
                                               : machine_.restart_by_hand(name);
                   out_.flush();
                   return said;
                 });
}

std::string supervisor::impl::await(std::future<std::string>& answer, std::chrono::seconds patience,
                                    const char* unanswered) {
  if (answer.wait_for(patience) != std::future_status::ready) {
    if (unanswered) throw usage_error(unanswered);
    throw usage_error(
        fmt::format("plughost's event loop did not answer within {} s", patience.count()));
  }
  try {
    return answer.get();
  } catch (const std::exception& e) {
    throw usage_error(e.what());
  }
}

void supervisor::impl::prepare() {
  ::getrlimit(RLIMIT_NOFILE, &context_.nofile);
  if (options_.raise_open_file_limit) {
    // 1,000 plugins need 2,000 pipes: raise the soft limit to the hard one for the host only.
    struct rlimit raised = context_.nofile;
    raised.rlim_cur = raised.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &raised);
  }
  context_.devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);  // stdin, and discarded output
  if (context_.devnull < 0) {
    log().error("cannot open /dev/null for the plugins' stdin: {}", std::strerror(errno));
  }
  context_.host_pid = ::getpid();
  make_stdio_slots(context_);
  reserve_descriptors(context_);

  out_.attach(ioc_.get_executor());
  if (options_.subreaper) {
    // A plugin's orphans become our children: reaped here (no zombies), stopped with it.
    ::prctl(PR_GET_CHILD_SUBREAPER, &was_subreaper_);
    if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
      log().warn("cannot become a child subreaper: {}", std::strerror(errno));
    }
    watch_sigchld();
  }
  if (options_.handle_signals) watch_signals();
  if (!options_.watch.empty() && options_.reload) start_watch();
  make_cgroups();  // before the guardian: plughost may move itself into a leaf cgroup first
  start_guardian();
  processes_ = make_group_run_processes(context_.host_pid, guardian_.pid());
  if (cgroups_) processes_ = make_cgroup_run_processes(*cgroups_, std::move(processes_));
  if (options_.exit_with) watch_exit_with(*options_.exit_with);
}

// Each plugin needs two pipes; say so before spawning fails with EMFILE half-way.
void supervisor::impl::check_descriptor_limit(std::size_t plugins) const {
  struct rlimit now {};
  ::getrlimit(RLIMIT_NOFILE, &now);
  const auto needed = 2 * plugins + 64;
  if (now.rlim_cur != RLIM_INFINITY && now.rlim_cur < needed) {
    log().error(
        "the open-file limit is {} (hard limit {}), but {} plugins need about {} "
        "descriptors (two pipes each): some cannot start; raise the hard limit "
        "(ulimit -Hn, systemd's LimitNOFILE=)",
        now.rlim_cur, now.rlim_max, plugins, needed);
  }
}

// What run() changed in the process, as it was (once).
void supervisor::impl::restore_process() {
  if (restored_) return;
  restored_ = true;
  boost::system::error_code ec;
  // Cancelled (their waits end) and cleared (the last registration of a signal puts its
  // default disposition back).
  for (auto* set : {&child_signals_, stop_signals_ ? &*stop_signals_ : nullptr,
                    reload_signals_ ? &*reload_signals_ : nullptr,
                    reopen_signals_ ? &*reopen_signals_ : nullptr}) {
    if (!set) continue;
    set->cancel(ec);
    set->clear(ec);
  }
  if (options_.subreaper) ::prctl(PR_SET_CHILD_SUBREAPER, was_subreaper_);
  if (options_.raise_open_file_limit) ::setrlimit(RLIMIT_NOFILE, &context_.nofile);
}

run_io* supervisor::impl::find(run_id id) {
  const auto it = runs_.find(id);
  return it == runs_.end() ? nullptr : &it->second;
}

// ---- the public face ---------------------------------------------------------------------------

supervisor::supervisor(record_dispatch& out, supervisor_options options)
    : impl_(std::make_unique<impl>(out, std::move(options))) {}

supervisor::~supervisor() = default;

bool supervisor::run(std::vector<launch_item> items) {
  return impl_->run(std::move(items));
}

void supervisor::stop() noexcept {
  impl_->stop();
}

void supervisor::reload() noexcept {
  impl_->reload();
}

launcher_status supervisor::status() const {
  return impl_->status();
}

std::string supervisor::act(by_hand what, std::string_view plugin) {
  return impl_->act(what, plugin);
}

std::string supervisor::reload_now() {
  return impl_->reload_now();
}

}  // namespace plughost::detail
