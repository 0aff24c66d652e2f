// Supervision on one Asio event loop: per-plugin state machines, restarts with backoff, run-time
// limits, the stop sequence, reaping as a child subreaper, the guardian, and reload.
#include "supervision/supervisor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <set>

#include "common/log.hpp"
#include "output/output_pump.hpp"
#include "supervision/guardian.hpp"
#include "supervision/spawn.hpp"

namespace plughost::detail {

namespace asio = boost::asio;
using clock = std::chrono::steady_clock;

std::string signal_name(int signal) {
  if (const char* abbrev = ::sigabbrev_np(signal)) return std::string("SIG") + abbrev;
  return "SIG" + std::to_string(signal);
}

namespace {

// After SIGKILL, how long to wait for output pipes to close before closing them ourselves
// (a process outside the plugin's group, e.g. one that called setsid(), can hold them open).
constexpr auto kill_grace = std::chrono::seconds(1);
// A repeated SIGINT/SIGTERM within this is the same request (timeout(1) signals a child and
// then its whole group); later, it means "kill now".
constexpr auto signal_debounce = std::chrono::seconds(1);

double seconds(std::chrono::nanoseconds d) {
  return std::chrono::duration<double>(d).count();
}

bool group_alive(pid_t pgid) {
  // kill(-0) would signal our own group: only pids of started plugins get here, but be sure.
  return pgid > 0 && (::kill(-pgid, 0) == 0 || errno == EPERM);
}

struct slot;

// One run of a plugin: its main process, its process group, its pipes.
struct instance {
  slot* owner = nullptr;
  std::string name;
  pid_t pid = 0;  // also its process group id
  plugin_policy policy;
  clock::time_point started;
  std::unique_ptr<output_pump> out;
  std::unique_ptr<output_pump> err;
  std::unique_ptr<asio::steady_timer> timeout_timer;
  std::unique_ptr<asio::steady_timer> stop_timer;  // stop timeout, then the kill grace
  bool exited = false;
  bool group_gone = false;
  bool stop_sent = false;
  bool kill_sent = false;
  bool stopped_by_us = false;  // signalled while its main process ran
  bool timed_out = false;

  bool pumps_open() const { return (out && out->is_open()) || (err && err->is_open()); }
};

// A plugin by name, across its runs.
struct slot {
  launch_item item;
  std::optional<launch_item> replacement;  // reload: run this once the current run has ended
  instance* current = nullptr;
  int attempts = 0;  // restarts in a row, for backoff and max_restarts
  std::unique_ptr<asio::steady_timer> restart_timer;
  bool restart_pending = false;
  bool retired = false;  // removed by a reload: never started again
  bool failed = false;   // ended for good in failure
};

}  // namespace

class supervisor::impl {
 public:
  impl(record_dispatch& out, supervisor_options options)
      : out_(out), options_(std::move(options)), child_signals_(ioc_) {}

  ~impl() {
    release_descriptors(context_);
    if (context_.devnull >= 0) ::close(context_.devnull);
  }

  bool run(std::vector<launch_item> items) {
    if (stop_requested_) return true;
    prepare();
    check_descriptor_limit(items.size());
    // Every few starts, whatever is ready runs: a stop signal, a parent that exited, output.
    // Starting thousands of plugins must stay stoppable (not after every start: reading the
    // first plugins' output in small pieces while the others start costs throughput).
    // Nothing may finish the run meanwhile.
    constexpr std::size_t starts_between_polls = 16;
    starting_ = true;
    std::size_t started = 0;
    for (auto& item : items) {
      if (stop_requested_ || phase_ != phase::running) break;
      add_and_start(std::move(item));
      if (++started % starts_between_polls == 0) ioc_.poll();
    }
    starting_ = false;
    if (ioc_.stopped()) ioc_.restart();
    out_.flush();
    if (stop_requested_) begin_shutdown("shutdown");
    check_progress();
    ioc_.run();
    out_.flush();
    return !any_slot_failed();
  }

  void stop() noexcept {
    stop_requested_ = true;
    try {
      asio::post(ioc_, [this] { begin_shutdown("shutdown"); });
    } catch (...) {
    }
  }

  void reload() noexcept {
    try {
      asio::post(ioc_, [this] { apply_reload(); });
    } catch (...) {
    }
  }

 private:
  enum class phase { running, shutting_down, finished };

  void prepare() {
    // 1,000 plugins need 2,000 pipes: raise the soft limit to the hard one for the host only.
    ::getrlimit(RLIMIT_NOFILE, &context_.nofile);
    struct rlimit raised = context_.nofile;
    raised.rlim_cur = raised.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &raised);
    context_.devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    context_.host_pid = ::getpid();
    reserve_descriptors(context_);

    // A plugin's orphans become our children: reaped here (no zombies), stopped with it.
    ::prctl(PR_GET_CHILD_SUBREAPER, &was_subreaper_);
    if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
      log().warn("cannot become a child subreaper: {}", std::strerror(errno));
    }
    child_signals_.add(SIGCHLD);
    wait_for_children();
    if (options_.handle_signals) {
      stop_signals_.emplace(ioc_, SIGTERM, SIGINT);
      wait_for_stop_signal();
      reload_signals_.emplace(ioc_, SIGHUP);
      wait_for_reload_signal();
    }
    if (!guardian_.start(max_stop_timeout_)) {
      log().warn("cannot start the guardian process: plugins would outlive a killed host");
    }
    if (options_.exit_with) watch_exit_with(*options_.exit_with);
  }

  // --exit-with-parent: a pidfd of that process on the loop (readable once it has exited; unlike
  // PR_SET_PDEATHSIG it follows the process, not the thread that forked us).
  void watch_exit_with(int requested) {
    const pid_t pid = requested == 0 ? ::getppid() : requested;
    const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (fd < 0) {
      if (errno == ESRCH) {
        log().warn("process {} (--exit-with-parent) does not exist: starting nothing", pid);
        return on_exit_with_gone(pid);
      }
      log().warn("cannot watch process {} (--exit-with-parent): {}", pid, std::strerror(errno));
      if (requested == 0 && ::prctl(PR_SET_PDEATHSIG, SIGTERM) == 0 && ::getppid() != pid) {
        on_exit_with_gone(pid);
      }
      return;
    }
    // The parent may have died between getppid() and pidfd_open() (and the pid been reused), or
    // have exited already without being reaped (the pidfd is readable then).
    struct pollfd ready {
      fd, POLLIN, 0
    };
    if ((requested == 0 && ::getppid() != pid) || ::poll(&ready, 1, 0) > 0) {
      ::close(fd);
      return on_exit_with_gone(pid);
    }
    guardian_.exit_with(pid, parent_exit_grace);
    exit_with_.emplace(ioc_, fd);
    exit_with_->async_wait(asio::posix::stream_descriptor::wait_read,
                           [this, pid](const boost::system::error_code& ec) {
                             if (!ec) on_exit_with_gone(pid);
                           });
  }

  void on_exit_with_gone(pid_t pid) {
    if (phase_ == phase::finished) return;
    log().warn("process {} (--exit-with-parent) has exited: stopping every plugin", pid);
    stop_grace_cap_ = parent_exit_grace;
    stop_requested_ = true;
    if (phase_ == phase::running) return begin_shutdown("parent exited");
    // Already stopping (the parent asked, then died): nobody waits for a graceful end now.
    const auto deadline = clock::now() + parent_exit_grace;
    for (auto& i : instances_) {
      if (i->stop_sent && !i->kill_sent && !done(*i) && i->stop_timer->expiry() > deadline) {
        arm_stop_timer(*i, parent_exit_grace);
      }
    }
  }

  // Each plugin needs two pipes; say so before spawning fails with EMFILE half-way.
  void check_descriptor_limit(std::size_t plugins) const {
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

  // ---- signals -------------------------------------------------------------------------------

  void wait_for_children() {
    child_signals_.async_wait([this](const boost::system::error_code& ec, int) {
      if (ec) return;
      reap();
      if (phase_ != phase::finished) wait_for_children();
    });
  }

  void wait_for_stop_signal() {
    stop_signals_->async_wait([this](const boost::system::error_code& ec, int signal) {
      if (ec) return;
      const auto now = clock::now();
      if (phase_ == phase::running) {
        log().info("received {}: stopping plugins", signal_name(signal));
        first_stop_signal_ = now;
        stop_requested_ = true;
        begin_shutdown("shutdown");
      } else if (phase_ == phase::shutting_down && now - first_stop_signal_ > signal_debounce) {
        log().warn("received {} again: killing plugins now", signal_name(signal));
        for (auto& i : instances_) kill_now(*i);
        check_progress();
      }
      if (phase_ != phase::finished) wait_for_stop_signal();
    });
  }

  void wait_for_reload_signal() {
    reload_signals_->async_wait([this](const boost::system::error_code& ec, int) {
      if (ec) return;
      log().info("received SIGHUP: reloading the configuration");
      apply_reload();
      if (phase_ != phase::finished) wait_for_reload_signal();
    });
  }

  // ---- starting ------------------------------------------------------------------------------

  slot& add_slot(launch_item item) {
    auto s = std::make_unique<slot>();
    s->item = std::move(item);
    s->restart_timer = std::make_unique<asio::steady_timer>(ioc_);
    auto& ref = *s;
    active_[ref.item.name] = &ref;
    slots_.push_back(std::move(s));
    update_guardian_timeout(ref.item.policy.stop_timeout);
    return ref;
  }

  void add_and_start(launch_item item) { start(add_slot(std::move(item))); }

  void start(slot& s) {
    s.restart_pending = false;
    const auto& item = s.item;
    auto result = spawn_plugin(item.argv, item.environment, context_);
    if (auto* error = std::get_if<std::string>(&result)) {
      log().error("plugin {}: {}", item.name, *error);
      const event_field fields[] = {{"message", std::string_view(*error)}};
      out_.event(item.name, 0, "error", fields);
      after_run(s, /*failed=*/true, std::chrono::nanoseconds(0));
      return;
    }
    const auto& p = std::get<spawned>(result);
    auto inst = std::make_unique<instance>();
    inst->owner = &s;
    inst->name = item.name;
    inst->pid = p.pid;
    inst->policy = item.policy;
    inst->started = clock::now();
    inst->stop_timer = std::make_unique<asio::steady_timer>(ioc_);
    guardian_.watch(p.pid);

    const event_field started[] = {{"argv", std::span<const std::string>(item.argv)}};
    out_.event(item.name, p.pid, "started", started);

    const auto on_closed = [this] { check_progress(); };
    inst->out = std::make_unique<output_pump>(ioc_.get_executor(), p.out_fd, item.name, p.pid,
                                              stream::out, out_, on_closed);
    inst->err = std::make_unique<output_pump>(ioc_.get_executor(), p.err_fd, item.name, p.pid,
                                              stream::err, out_, on_closed);
    inst->out->start();
    inst->err->start();
    if (item.policy.timeout) {
      auto* raw = inst.get();
      inst->timeout_timer = std::make_unique<asio::steady_timer>(ioc_, *item.policy.timeout);
      inst->timeout_timer->async_wait([this, raw](const boost::system::error_code& ec) {
        if (!ec && !raw->exited) on_timeout(*raw);
        check_progress();
      });
    }
    s.current = inst.get();
    instances_.push_back(std::move(inst));
  }

  // ---- reaping -------------------------------------------------------------------------------

  // On SIGCHLD: reap every child in our plugins' process groups (their main processes, and the
  // orphans that became ours as subreaper). Only those: an embedding program's own children are
  // not ours to reap.
  void reap() {
    for (std::size_t i = 0; i < instances_.size(); ++i) {
      auto& inst = *instances_[i];
      while (!inst.group_gone) {
        siginfo_t info{};
        if (::waitid(P_PGID, static_cast<id_t>(inst.pid), &info, WEXITED | WNOHANG) != 0) break;
        if (info.si_pid == 0) break;
        if (info.si_pid == inst.pid) on_main_exit(inst, info);
      }
      if (!inst.exited) {  // a main process that moved to another process group
        siginfo_t info{};
        if (::waitid(P_PID, static_cast<id_t>(inst.pid), &info, WEXITED | WNOHANG) == 0 &&
            info.si_pid == inst.pid) {
          on_main_exit(inst, info);
        }
      }
    }
    check_progress();
  }

  void on_main_exit(instance& inst, const siginfo_t& info) {
    // Everything the plugin wrote before it exited is in its pipes now: deliver it first.
    inst.out->drain_now();
    inst.err->drain_now();
    inst.exited = true;
    if (inst.timeout_timer) inst.timeout_timer->cancel();
    bool failed = true;
    if (info.si_code == CLD_EXITED) {
      const event_field fields[] = {{"exit_code", std::int64_t{info.si_status}}};
      out_.event(inst.name, inst.pid, "exited", fields);
      failed = info.si_status != 0;
    } else {
      const auto name = signal_name(info.si_status);
      const event_field fields[] = {{"signal", std::string_view(name)}};
      out_.event(inst.name, inst.pid, "exited", fields);
    }
    // What a plugin does after plughost asked it to stop is not its failure; a run-time limit
    // it went past is.
    if (inst.stopped_by_us && !inst.timed_out) failed = false;
    out_.flush();
    auto& s = *inst.owner;
    if (s.current == &inst) {
      s.current = nullptr;
      after_run(s, failed, clock::now() - inst.started);
    }
    // Background processes of a plugin that will run again must not pile up.
    if ((s.current || s.restart_pending) && group_alive(inst.pid)) stop_instance(inst, "restart");
  }

  // What happens to a plugin once one of its runs has ended (or could not start).
  void after_run(slot& s, bool failed, std::chrono::nanoseconds ran_for) {
    if (phase_ != phase::running || s.retired) return;  // stopped by plughost: not a failure
    if (s.replacement) {  // reloaded with a changed file: the new one starts now
      s.item = std::move(*s.replacement);
      s.replacement.reset();
      s.attempts = 0;
      s.failed = false;
      start(s);
      return;
    }
    const auto& policy = s.item.policy;
    const bool restart = policy.restart == restart_mode::always ||
                         (policy.restart == restart_mode::on_failure && failed);
    if (!restart) {
      s.failed = s.failed || failed;
      return;
    }
    if (ran_for >= policy.restart_reset_after) s.attempts = 0;
    ++s.attempts;
    if (s.attempts > policy.max_restarts) {
      s.failed = true;
      const auto reason = fmt::format("{} restarts in a row, each run shorter than {}s",
                                      policy.max_restarts, seconds(policy.restart_reset_after));
      log().error("plugin {} gave up: {}", s.item.name, reason);
      const event_field fields[] = {{"restarts", std::int64_t{policy.max_restarts}},
                                    {"reason", std::string_view(reason)}};
      out_.event(s.item.name, 0, "gave_up", fields);
      return;
    }
    const auto delay = policy.backoff(s.attempts);
    const event_field fields[] = {{"attempt", std::int64_t{s.attempts}}, {"delay", seconds(delay)}};
    out_.event(s.item.name, 0, "restarting", fields);
    s.restart_pending = true;
    s.restart_timer->expires_after(delay);
    s.restart_timer->async_wait([this, &s](const boost::system::error_code& ec) {
      if (!ec && s.restart_pending && phase_ == phase::running && !s.retired) start(s);
      check_progress();
    });
  }

  // ---- stopping ------------------------------------------------------------------------------

  // Ended and left nothing behind: main process reaped, pipes closed, process group empty.
  static bool done(const instance& inst) {
    return inst.group_gone || (inst.exited && !inst.pumps_open() && !group_alive(inst.pid));
  }

  // The stop sequence for one run: its stop signal to the whole group, then SIGKILL after its
  // stop timeout, then, a second later, its pipes are closed if something outside still holds
  // them.
  void stop_instance(instance& inst, std::string_view reason) {
    if (done(inst) || inst.stop_sent) return;
    inst.stop_sent = true;
    const int sig = inst.policy.stop_signal;
    if (!inst.exited) {
      inst.stopped_by_us = true;
      const auto name = signal_name(sig);
      const event_field fields[] = {{"signal", std::string_view(name)}, {"reason", reason}};
      out_.event(inst.name, inst.pid, "stopping", fields);
    }
    send_to_group(inst, sig);
    arm_stop_timer(inst, stop_grace(inst));
  }

  // SIGKILL to the run's group once `grace` has passed.
  void arm_stop_timer(instance& inst, std::chrono::nanoseconds grace) {
    auto* raw = &inst;
    inst.stop_timer->expires_after(grace);
    inst.stop_timer->async_wait([this, raw](const boost::system::error_code& ec) {
      if (!ec) kill_now(*raw);
      check_progress();
    });
  }

  std::chrono::nanoseconds stop_grace(const instance& inst) const {
    return std::min<std::chrono::nanoseconds>(inst.policy.stop_timeout, stop_grace_cap_);
  }

  void kill_now(instance& inst) {
    if (done(inst) || inst.kill_sent) return;
    inst.kill_sent = true;
    if (!inst.exited) {
      inst.stopped_by_us = true;
      log().warn("plugin {} did not stop in time: sending SIGKILL", inst.name);
      const auto name = signal_name(inst.policy.stop_signal);
      const event_field fields[] = {{"after", seconds(stop_grace(inst))},
                                    {"signal", std::string_view(name)}};
      out_.event(inst.name, inst.pid, "killed", fields);
    }
    send_to_group(inst, SIGKILL);
    auto* raw = &inst;
    inst.stop_timer->expires_after(kill_grace);
    inst.stop_timer->async_wait([this, raw](const boost::system::error_code& ec) {
      if (ec || !raw->pumps_open()) return;
      log().warn(
          "output of plugin {} is still held open by a process outside its process group: "
          "closing it",
          raw->name);
      raw->out->close();
      raw->err->close();
      check_progress();
    });
  }

  void send_to_group(const instance& inst, int sig) {
    if (inst.pid <= 0) return;
    if (::kill(-inst.pid, sig) != 0 && errno != ESRCH) {
      log().warn("cannot send {} to plugin {} (process group {}): {}", signal_name(sig), inst.name,
                 inst.pid, std::strerror(errno));
    }
  }

  void on_timeout(instance& inst) {
    inst.timed_out = true;
    const auto limit = seconds(*inst.policy.timeout);
    log().warn("plugin {} ran longer than its timeout of {}s: stopping it", inst.name, limit);
    const event_field fields[] = {{"timeout", limit}};
    out_.event(inst.name, inst.pid, "timed_out", fields);
    stop_instance(inst, "timeout");
  }

  void begin_shutdown(std::string_view reason) {
    if (phase_ != phase::running) return;
    phase_ = phase::shutting_down;
    for (auto& s : slots_) {
      s->restart_pending = false;
      s->restart_timer->cancel();
    }
    // Every group at once: the stop takes one stop timeout, not one per plugin.
    for (auto& i : instances_) stop_instance(*i, reason);
    check_progress();
  }

  // A run that left nothing behind is freed, so that a plugin restarting for weeks does not
  // accumulate them. Later, from the queue: the handlers its timers and pipes cancelled are
  // queued before this one, and they must still find it.
  void forget_later(instance* done_instance) {
    asio::post(ioc_, [this, done_instance] {
      if (done_instance->owner->current == done_instance) return;
      std::erase_if(instances_, [&](const auto& i) { return i.get() == done_instance; });
    });
  }

  bool any_slot_failed() const {
    for (const auto& s : slots_) {
      if (s->failed) return true;
    }
    return false;
  }

  // After every exit, every closed pipe, every reaped child, every timer: has everything ended?
  // Also where the records of a handler become visible: every handler ends here.
  void check_progress() {
    out_.flush();
    if (phase_ == phase::finished) return;
    bool all_done = true;
    for (auto& i : instances_) {
      if (i->group_gone) continue;
      if (done(*i)) {
        i->group_gone = true;
        i->stop_timer->cancel();
        guardian_.forget(i->pid);
        forget_later(i.get());
      } else {
        all_done = false;
      }
    }
    if (!all_done || starting_) return;
    for (const auto& s : slots_) {
      if (s->current || s->restart_pending) return;
    }
    finish();
  }

  void finish() {
    phase_ = phase::finished;
    boost::system::error_code ec;
    child_signals_.cancel(ec);
    if (stop_signals_) stop_signals_->cancel(ec);
    if (reload_signals_) reload_signals_->cancel(ec);
    if (exit_with_) exit_with_->cancel(ec);
    for (auto& s : slots_) s->restart_timer->cancel();
    guardian_.dismiss();
    ::prctl(PR_SET_CHILD_SUBREAPER, was_subreaper_);
    out_.flush();
  }

  void update_guardian_timeout(std::chrono::nanoseconds t) {
    if (t > max_stop_timeout_) {
      max_stop_timeout_ = t;
      guardian_.set_stop_timeout(t);
    }
  }

  // ---- reload --------------------------------------------------------------------------------

  void apply_reload() {
    if (phase_ != phase::running || !options_.reload) return;
    auto items = options_.reload();
    if (!items) return;  // the launcher said why; everything keeps running as it was
    std::set<std::string> wanted;
    std::size_t started = 0, restarted = 0, stopped = 0;
    for (auto& item : *items) {
      wanted.insert(item.name);
      const auto it = active_.find(item.name);
      if (it == active_.end()) {
        ++started;
        add_and_start(std::move(item));
        continue;
      }
      slot& s = *it->second;
      update_guardian_timeout(item.policy.stop_timeout);
      if (s.item.fingerprint == item.fingerprint) {
        s.item.policy = item.policy;  // for its next run; this one goes on untouched
        s.item.environment = std::move(item.environment);
        continue;
      }
      ++restarted;
      if (s.current) {
        s.replacement = std::move(item);
        stop_instance(*s.current, "reload");
      } else {  // ended, or waiting to restart: the new file starts now
        s.restart_timer->cancel();
        s.item = std::move(item);
        s.attempts = 0;
        s.failed = false;
        start(s);
      }
    }
    for (auto it = active_.begin(); it != active_.end();) {
      if (wanted.count(it->first)) {
        ++it;
        continue;
      }
      slot& s = *it->second;
      s.retired = true;
      s.restart_pending = false;
      s.restart_timer->cancel();
      if (s.current) {
        ++stopped;
        stop_instance(*s.current, "removed");
      }
      it = active_.erase(it);
    }
    log().info("reloaded: {} started, {} restarted, {} stopped", started, restarted, stopped);
    out_.flush();
    check_progress();
  }

  asio::io_context ioc_;  // first member: destroyed last, after everything that uses it
  record_dispatch& out_;
  supervisor_options options_;
  spawn_context context_;
  guardian guardian_;
  asio::signal_set child_signals_;
  std::optional<asio::signal_set> stop_signals_;
  std::optional<asio::signal_set> reload_signals_;
  std::optional<asio::posix::stream_descriptor> exit_with_;
  std::chrono::nanoseconds stop_grace_cap_ = std::chrono::nanoseconds::max();
  std::vector<std::unique_ptr<slot>> slots_;          // every plugin ever started, retired too
  std::map<std::string, slot*> active_;               // by name, the ones not retired
  std::vector<std::unique_ptr<instance>> instances_;  // every run, until the end
  std::atomic<bool> stop_requested_{false};
  phase phase_ = phase::running;
  bool starting_ = false;  // run() is starting the first plugins: the run cannot end yet
  clock::time_point first_stop_signal_{};
  std::chrono::nanoseconds max_stop_timeout_{0};
  int was_subreaper_ = 0;
};

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

}  // namespace plughost::detail
