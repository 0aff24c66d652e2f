// The supervision state machine on one Asio event loop: the port it acts through (processes,
// process groups, pipes, timers, records), and what it hears from the world (SIGCHLD and
// reaping, stop and reload signals, the process plughost exits with).
#include "supervision/supervisor.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>

#include "common/log.hpp"
#include "output/output_pump.hpp"
#include "plughost/error.hpp"
#include "supervision/guardian.hpp"
#include "supervision/published_state.hpp"
#include "supervision/room_timers.hpp"
#include "supervision/run_processes.hpp"
#include "supervision/spawn.hpp"
#include "supervision/supervision_machine.hpp"

namespace plughost::detail {

namespace asio = boost::asio;

namespace {

// How long status() waits for the loop to answer before it gives the last snapshot (a handler
// of the embedding program's may hold the loop).
constexpr auto status_patience = std::chrono::seconds(1);
// How long a stop, start or restart by hand waits for the loop.
constexpr auto act_patience = std::chrono::seconds(5);
// Under the control client's 10 s: reading the configuration may load modules.
constexpr auto reload_patience = std::chrono::seconds(8);

// A repeated SIGINT/SIGTERM within this is the same request (timeout(1) signals a child and then
// its whole group); later, it means "kill now".
constexpr auto signal_debounce = std::chrono::seconds(1);

// What the loop holds for one run: its process group and its two pipes.
struct run_io {
  pid_t pid = 0;  // also its process group id
  bool main_reaped = false;
  // Without the SIGCHLD handler: readable once the main process has exited.
  std::unique_ptr<asio::posix::stream_descriptor> pidfd;
  std::unique_ptr<output_pump> out;
  std::unique_ptr<output_pump> err;
  // Its main process exited while its `block` sinks were full: the exit reaches the machine
  // once the pumps have read what the pipes held then (exit_waits of them still reading).
  std::optional<exit_status> held_exit;
  int exit_waits = 0;
  bool exit_was_held = false;
};

}  // namespace

class supervisor::impl : private supervision_port {
 public:
  impl(record_dispatch& out, supervisor_options options)
      : out_(out), options_(std::move(options)), child_signals_(ioc_) {}

  ~impl() {
    out_.detach();
    release_descriptors(context_);
    if (context_.devnull >= 0) ::close(context_.devnull);
  }

  bool run(std::vector<launch_item> items) {
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
    publish();  // what status() gives while the loop is too busy to answer
    tell_systemd_ready();
    watchdog();
    ioc_.run();
    out_.flush();
    restore_process();
    publish();
    {
      const std::lock_guard lock(status_mutex_);
      loop_running_ = false;
    }
    status_changed_.notify_all();
    return !machine_.any_failed();
  }

  void stop() noexcept {
    stop_requested_ = true;
    try {
      asio::post(ioc_, [this] {
        tell_systemd_stopping();
        after(&supervision_machine::stop, "shutdown");
      });
    } catch (...) {
    }
  }

  std::string act(supervisor::by_hand what, std::string_view plugin) {
    return on_loop("a plugin cannot be stopped or started by hand from the launcher's loop",
                   act_patience, [this, what, name = std::string(plugin)] {
                     using enum supervisor::by_hand;
                     auto said = what == stop    ? machine_.stop_by_hand(name)
                                 : what == start ? machine_.start_by_hand(name)
                                                 : machine_.restart_by_hand(name);
                     deliver_held_exits();  // a run it stops may have ended already
                     out_.flush();
                     return said;
                   });
  }

  // A reload that waits for its outcome: what changed, or why nothing did (usage_error).
  std::string reload_now() {
    return on_loop("plughost cannot be reloaded and waited for from the launcher's loop",
                   reload_patience, [this] { return apply_reload(); });
  }

  void reload() noexcept {
    try {
      const std::lock_guard lock(status_mutex_);
      if (!loop_running_) return;  // no effect outside run()
      asio::post(ioc_, [this] { reload_here(); });
    } catch (...) {
    }
  }

 private:
  // Runs `what` on the loop and waits up to `patience` for what it returns; what it throws is
  // the caller's usage_error.
  template <typename F>
  std::string on_loop(const char* from_loop, std::chrono::seconds patience, F what) {
    auto done = std::make_shared<std::promise<std::string>>();
    auto answer = done->get_future();
    {
      const std::lock_guard lock(status_mutex_);
      if (!loop_running_) throw usage_error("plughost is not running its plugins");
      if (std::this_thread::get_id() == loop_thread_) throw usage_error(from_loop);
      asio::post(ioc_, [this, what = std::move(what), done] {
        try {
          std::string said = what();
          out_.flush();
          done->set_value(std::move(said));
        } catch (...) {
          out_.flush();
          done->set_exception(std::current_exception());
        }
      });
    }
    if (answer.wait_for(patience) != std::future_status::ready) {
      throw usage_error(
          fmt::format("plughost's event loop did not answer within {} s", patience.count()));
    }
    try {
      return answer.get();
    } catch (const std::exception& e) {
      throw usage_error(e.what());
    }
  }

  // Every handler ends here: records written by a handler become visible when it ends.
  template <typename... Args>
  void after(void (supervision_machine::*handle)(Args...), auto&&... args) {
    (machine_.*handle)(std::forward<decltype(args)>(args)...);
    deliver_held_exits();
    out_.flush();
  }

 public:
  // Built on the loop when asked for (building it after every event would cost O(plugins) each
  // time: O(plugins²) to stop them all). While the loop runs, the caller waits for it.
  launcher_status status() {
    std::unique_lock lock(status_mutex_);
    if (loop_running_ &&
        std::this_thread::get_id() == loop_thread_) {  // e.g. a diagnostics handler
      lock.unlock();
      publish();
      lock.lock();
    } else if (loop_running_) {
      const auto wanted = ++status_requested_;
      try {
        asio::post(ioc_, [this] { publish(); });
        status_changed_.wait_for(lock, status_patience,
                                 [&] { return status_published_ >= wanted || !loop_running_; });
      } catch (...) {  // the last snapshot, then
      }
    }
    return status_;
  }

 private:
  // The machine's view of every plugin, for status() from other threads. On the loop thread.
  void publish() {
    std::uint64_t requested = 0;
    {
      const std::lock_guard lock(status_mutex_);
      requested = status_requested_;
    }
    const auto steady_now = clock::now();
    const auto system_now = std::chrono::system_clock::now();
    const auto wall = [&](clock::time_point t) {
      return system_now -
             std::chrono::duration_cast<std::chrono::system_clock::duration>(steady_now - t);
    };
    launcher_status fresh;
    fresh.phase = published_phase(machine_.phase());
    fresh.taken = system_now;
    fresh.plugins.reserve(machine_.plugin_count());
    machine_.visit_plugins([&](supervision_machine::plugin_view&& v) {
      plugin_status p;
      p.name = v.name;
      const auto* io = v.current ? find(*v.current) : nullptr;
      p.state = published_state(v.state, v.current_state, io && io->held_exit);
      p.pid = v.pid;
      p.restarts = v.restarts;
      if (v.since) p.since = wall(*v.since);
      if (v.next_restart) p.next_restart = wall(*v.next_restart);
      if (v.last_exit && v.last_exit->by_signal) p.last_signal = signal_name(v.last_exit->value);
      if (v.last_exit && !v.last_exit->by_signal) p.last_exit_code = v.last_exit->value;
      p.by_hand = published_by_hand(v.by_hand);
      p.exit_codes = std::move(v.exit_codes);
      p.exit_signals = std::move(v.exit_signals);
      if (const auto it = totals_.find(v.name); it != totals_.end()) {
        p.out = {it->second[0].lines, it->second[0].bytes};
        p.err = {it->second[1].lines, it->second[1].bytes};
      }
      fresh.plugins.push_back(std::move(p));
    });
    fresh.sinks = out_.statuses();
    fresh.pid = context_.host_pid;
    fresh.started = started_;
    {
      const std::lock_guard lock(status_mutex_);
      status_ = std::move(fresh);
      status_published_ = requested;
    }
    status_changed_.notify_all();
  }

  void prepare() {
    ::getrlimit(RLIMIT_NOFILE, &context_.nofile);
    if (options_.raise_open_file_limit) {
      // 1,000 plugins need 2,000 pipes: raise the soft limit to the hard one for the host only.
      struct rlimit raised = context_.nofile;
      raised.rlim_cur = raised.rlim_max;
      ::setrlimit(RLIMIT_NOFILE, &raised);
    }
    context_.devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (context_.devnull < 0) {
      log().error("cannot open /dev/null for the plugins' stdin: {}", std::strerror(errno));
    }
    context_.host_pid = ::getpid();
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
    if (options_.handle_signals) {
      stop_signals_.emplace(ioc_, SIGTERM, SIGINT);
      wait_for_stop_signal();
      reload_signals_.emplace(ioc_, SIGHUP);
      wait_for_reload_signal();
      reopen_signals_.emplace(ioc_, SIGUSR1);
      wait_for_reopen_signal();
    }
    if (!guardian_.start(max_stop_timeout_)) {
      log().warn("cannot start the guardian process: plugins would outlive a killed host");
    }
    processes_ = make_group_run_processes(context_.host_pid, guardian_.pid());
    if (options_.exit_with) watch_exit_with(*options_.exit_with);
  }

  // --exit-with-parent: a pidfd of that process on the loop (readable once it has exited; unlike
  // PR_SET_PDEATHSIG it follows the process, not the thread that forked us).
  void watch_exit_with(int requested) {
    const pid_t pid = requested == 0 ? ::getppid() : requested;
    const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (fd < 0) {
      if (errno == ESRCH) return on_exit_with_gone(pid);  // one line says so
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
    if (machine_.phase() == run_phase::finished) return;
    log().warn("process {} (--exit-with-parent) has exited: stopping every plugin", pid);
    tell_systemd_stopping();
    stop_requested_ = true;
    after(&supervision_machine::cap_stop_grace, parent_exit_grace, "parent exited");
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

  // ---- what the loop hears -------------------------------------------------------------------

  void watch_sigchld() {
    if (sigchld_) return;
    sigchld_ = true;
    child_signals_.add(SIGCHLD);
    wait_for_children();
  }

  // Without the SIGCHLD handler: the main process's pidfd, readable once it has exited (Linux
  // 5.3). Where the kernel has no pidfds, SIGCHLD it is, and the log says so once.
  void watch_main_process(run_id id, run_io& io) {
    const int fd = static_cast<int>(::syscall(SYS_pidfd_open, io.pid, 0));
    if (fd < 0) {
      log().warn("cannot watch plugin processes through pidfds ({}): handling SIGCHLD instead",
                 std::strerror(errno));
      return watch_sigchld();
    }
    io.pidfd = std::make_unique<asio::posix::stream_descriptor>(ioc_, fd);
    io.pidfd->async_wait(
        asio::posix::stream_descriptor::wait_read, [this, id](const boost::system::error_code& ec) {
          if (ec) return;
          auto* run = find(id);
          if (!run || run->main_reaped) return;
          siginfo_t info{};
          if (::waitid(P_PID, static_cast<id_t>(run->pid), &info, WEXITED | WNOHANG) == 0 &&
              info.si_pid == run->pid) {
            main_exited(id, *run, info);
          }
          after(&supervision_machine::on_group_change);
        });
  }

  void wait_for_children() {
    child_signals_.async_wait([this](const boost::system::error_code& ec, int) {
      if (ec) return;
      reap();
      if (machine_.phase() != run_phase::finished) wait_for_children();
    });
  }

  void reap() {
    if (options_.reap_all_children) {
      reap_any();
    } else {
      reap_groups();
    }
    after(&supervision_machine::on_group_change);
  }

  // Every child that changed state, one system call each: the plugins' main processes (found
  // by pid), and the orphans we adopted as subreaper, in a plugin's group or not (a descendant
  // that called setsid() would otherwise stay a zombie for ever).
  void reap_any() {
    while (true) {
      siginfo_t info{};
      if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG) != 0 || info.si_pid == 0) break;
      const auto it = main_pids_.find(info.si_pid);
      if (it == main_pids_.end()) continue;
      const auto id = it->second;
      main_pids_.erase(it);
      if (auto* io = find(id)) main_exited(id, *io, info);
    }
  }

  // Every child in our plugins' process groups (their main processes, and the orphans that
  // became ours as subreaper). Only those: an embedding program's own children are not ours to
  // reap. Costs a system call per plugin.
  void reap_groups() {
    for (auto& [id, io] : runs_) {  // a std::map: a run started meanwhile keeps this valid
      while (true) {
        siginfo_t info{};
        if (::waitid(P_PGID, static_cast<id_t>(io.pid), &info, WEXITED | WNOHANG) != 0) break;
        if (info.si_pid == 0) break;
        if (info.si_pid == io.pid) main_exited(id, io, info);
      }
      if (!io.main_reaped) {  // a main process that moved to another process group
        siginfo_t info{};
        if (::waitid(P_PID, static_cast<id_t>(io.pid), &info, WEXITED | WNOHANG) == 0 &&
            info.si_pid == io.pid) {
          main_exited(id, io, info);
        }
      }
    }
  }

  void main_exited(run_id id, run_io& io, const siginfo_t& info) {
    io.main_reaped = true;
    main_pids_.erase(io.pid);
    const exit_status status{info.si_code != CLD_EXITED, info.si_status};
    // What a run leaves in its pipes waits for room in a full `block` sink like the rest of
    // its output (a pipe can hold a MiB), and so does its exit event, which comes after it;
    // and so the restart the machine decides on the exit. Not while stopping: all is read then.
    if (machine_.phase() == run_phase::starting || machine_.phase() == run_phase::running) {
      for (auto* pump : {io.out.get(), io.err.get()}) {
        if (!pump->drain_or_wait([this, id] { exit_drained(id); })) ++io.exit_waits;
      }
      if (io.exit_waits > 0) {
        io.held_exit = status;
        ++held_exits_;
        return;
      }
    }
    machine_.on_main_exit(id, status);
  }

  // A pump of a held exit has read what its pipe held at the exit (posted: it may be inside
  // the machine's own call to close the pipe).
  void exit_drained(run_id id) {
    asio::post(ioc_, [this, id] {
      auto* io = find(id);
      if (io && io->held_exit && --io->exit_waits == 0) deliver_held_exit(id, *io);
    });
  }

  void deliver_held_exit(run_id id, run_io& io) {
    const auto status = *io.held_exit;
    io.held_exit.reset();
    io.exit_was_held = true;
    --held_exits_;
    after(&supervision_machine::on_main_exit, id, status);
  }

  // The exits that waited for room are delivered, with all that is in their pipes, when the
  // run is being stopped (the shutdown, by hand, a reload): there is nothing left to stop.
  void deliver_held_exits() {
    if (held_exits_ == 0) return;
    std::set<run_id> stopping;
    if (machine_.phase() != run_phase::stopping) {
      machine_.visit_plugins([&](supervision_machine::plugin_view&& v) {
        if (v.current &&
            (v.current_state == run_state::stopping || v.current_state == run_state::killing)) {
          stopping.insert(*v.current);
        }
      });
      if (stopping.empty()) return;
    }
    for (auto& [id, io] : runs_) {
      if (!io.held_exit) continue;
      if (machine_.phase() != run_phase::stopping && !stopping.count(id)) continue;
      io.exit_was_held = false;  // drain_output reads all
      const auto status = *io.held_exit;
      io.held_exit.reset();
      --held_exits_;
      machine_.on_main_exit(id, status);
    }
  }

  void wait_for_stop_signal() {
    stop_signals_->async_wait([this](const boost::system::error_code& ec, int signal) {
      if (ec) return;
      const auto now = clock::now();
      const auto phase = machine_.phase();
      if (phase == run_phase::starting || phase == run_phase::running) {
        log().info("received {}: stopping plugins", signal_name(signal));
        tell_systemd_stopping();
        first_stop_signal_ = now;
        stop_requested_ = true;
        after(&supervision_machine::stop, "shutdown");
      } else if (phase == run_phase::stopping && now - first_stop_signal_ > signal_debounce) {
        log().warn("received {} again: killing plugins now", signal_name(signal));
        after(&supervision_machine::kill_all);
      }
      if (machine_.phase() != run_phase::finished) wait_for_stop_signal();
    });
  }

  void wait_for_reload_signal() {
    reload_signals_->async_wait([this](const boost::system::error_code& ec, int) {
      if (ec) return;
      log().info("received SIGHUP: reloading the configuration");
      reload_here();
      if (machine_.phase() != run_phase::finished) wait_for_reload_signal();
    });
  }

  void wait_for_reopen_signal() {
    reopen_signals_->async_wait([this](const boost::system::error_code& ec, int) {
      if (ec) return;
      log().info("received SIGUSR1: reopening the sinks");
      if (options_.reopen) options_.reopen();
      if (machine_.phase() != run_phase::finished) wait_for_reopen_signal();
    });
  }

  // A reload nobody waits for: a failure was said, and everything goes on as it was.
  void reload_here() noexcept {
    try {
      apply_reload();
    } catch (...) {
    }
  }

  // Read now; the machine decides when it applies (after the start-up, never while stopping).
  // Returns what changed; throws (having said so) when the configuration could not be loaded.
  std::string apply_reload() {
    if (machine_.phase() == run_phase::finished || !options_.reload) {
      throw std::runtime_error("plughost is not running its plugins");
    }
    if (machine_.phase() == run_phase::stopping) {
      log().info("reload ignored: plughost is stopping");
      throw std::runtime_error("plughost is stopping: the reload was not applied");
    }
    if (notifier()) {
      timespec t{};
      ::clock_gettime(CLOCK_MONOTONIC, &t);
      notifier()->notify(fmt::format("RELOADING=1\nMONOTONIC_USEC={}",
                                     static_cast<std::uint64_t>(t.tv_sec) * 1000000 +
                                         static_cast<std::uint64_t>(t.tv_nsec) / 1000));
    }
    std::vector<launch_item> items;
    try {
      items = options_.reload();
    } catch (const std::exception& e) {
      log().error("reload failed, everything keeps running as it was: {}", e.what());
      tell_systemd_ready();
      throw std::runtime_error(
          fmt::format("reload failed, everything keeps running as it was: {}", e.what()));
    }
    for (const auto& item : items) update_guardian_timeout(item.policy.stop_timeout);
    auto said = machine_.reload(std::move(items));
    out_.flush();
    tell_systemd_ready();
    return said;
  }

  // ---- systemd -------------------------------------------------------------------------------

  systemd_notifier* notifier() const { return options_.notifier.get(); }

  // Every plugin has started or failed to; after a reload, the reload was applied.
  void tell_systemd_ready() {
    if (!notifier() || stop_requested_) return;
    std::size_t running = 0;
    const auto plugins = machine_.plugins();
    for (const auto& p : plugins) running += p.state == plugin_state::running ? 1 : 0;
    notifier()->notify(
        fmt::format("READY=1\nSTATUS={} of {} plugins running", running, plugins.size()));
  }

  void tell_systemd_stopping() {
    if (notifier() && !told_stopping_) notifier()->notify("STOPPING=1");
    told_stopping_ = true;
  }

  // WATCHDOG=1 from the loop itself: a loop that hangs stops sending it, and systemd acts.
  void watchdog() {
    if (!notifier() || !notifier()->watchdog_period()) return;
    if (!watchdog_timer_) watchdog_timer_.emplace(ioc_);
    notifier()->notify("WATCHDOG=1");
    watchdog_timer_->expires_after(*notifier()->watchdog_period());
    watchdog_timer_->async_wait([this](const boost::system::error_code& ec) {
      if (!ec && machine_.phase() != run_phase::finished) watchdog();
    });
  }

  void update_guardian_timeout(std::chrono::nanoseconds t) {
    if (t > max_stop_timeout_) {
      max_stop_timeout_ = t;
      guardian_.set_stop_timeout(t);
    }
  }

  // ---- the port: what the machine does -------------------------------------------------------

  clock::time_point now() override { return clock::now(); }

  std::variant<pid_t, std::string> spawn(run_id id, const launch_item& item) override {
    context_.guardian_fd = guardian_.socket();
    // The run's mark first (found in /proc/<pid>/environ without reading megabytes of
    // configuration first): what leaves the run's group is still found by it.
    auto environment = item.environment.entries();
    std::erase_if(environment, [](const std::string& e) {
      return e.size() > run_mark_variable.size() &&
             e.compare(0, run_mark_variable.size(), run_mark_variable) == 0 &&
             e[run_mark_variable.size()] == '=';
    });
    environment.insert(environment.begin(), processes_->mark(id));
    auto result = spawn_plugin(item.argv, environment, context_);
    if (auto* error = std::get_if<std::string>(&result)) {
      if (context_.registered > 0) guardian_.forget(context_.registered);  // its exec failed
      return std::move(*error);
    }
    const auto& p = std::get<spawned>(result);
    if (context_.registered != p.pid) guardian_.watch(p.pid);  // it could not say so itself
    processes_->started(id, p.pid);
    auto& io = runs_[id];
    io.pid = p.pid;
    main_pids_[p.pid] = id;
    const auto on_closed = [this, id] { after(&supervision_machine::on_output_closed, id); };
    auto& totals = totals_[item.name];
    io.out = std::make_unique<output_pump>(ioc_.get_executor(), p.out_fd, item.name, p.pid,
                                           stream::out, out_, on_closed, &totals[0]);
    io.err = std::make_unique<output_pump>(ioc_.get_executor(), p.err_fd, item.name, p.pid,
                                           stream::err, out_, on_closed, &totals[1]);
    io.out->start();  // only waits: the first lines come after the machine's "started"
    io.err->start();
    if (!sigchld_) watch_main_process(id, io);
    return p.pid;
  }

  // A run's group, and what left it (setsid()): run_processes.hpp.
  void signal_group(pid_t group, int sig) override { processes_->signal(group, sig); }

  bool group_alive(pid_t group) override { return processes_->alive(group); }

  bool output_open(run_id id) override {
    const auto* io = find(id);
    return io && (io->out->is_open() || io->err->is_open());
  }

  void drain_output(run_id id) override {
    // A held exit was delivered once its pumps had read what the pipes held at the exit: what
    // came since is the group's, and waits for room like any output.
    if (auto* io = find(id); io && !io->exit_was_held) {
      io->out->drain_now();
      io->err->drain_now();
    }
  }

  void close_output(run_id id) override {
    if (auto* io = find(id)) {
      io->out->close();
      io->err->close();
    }
  }

  // Later, from the queue: a pump may be inside its own handler when its run is released (its
  // pipe's end of file is what ended the run).
  void release(run_id id, pid_t group) override {
    guardian_.forget(group);
    processes_->ended(group);
    asio::post(ioc_, [this, id] { runs_.erase(id); });
  }

  // A timer that has expired may have its handler queued already when it is re-armed or
  // cancelled: each arming has a number, and only the handler of the latest one counts.
  void arm(timer_key key, clock::duration after_) override {
    room_timers_.cancel(key);
    auto& armed = timers_[key];
    if (!armed.timer) armed.timer = std::make_unique<asio::steady_timer>(ioc_);
    const auto generation = ++timer_generation_;
    armed.generation = generation;
    armed.timer->expires_after(after_);
    armed.timer->async_wait([this, key, generation](const boost::system::error_code& ec) {
      const auto it = timers_.find(key);
      if (ec || it == timers_.end() || it->second.generation != generation) return;
      after(&supervision_machine::on_timer, key);
    });
  }

  void cancel(timer_key key) override {
    // Destroying the timer cancels its wait: the handler sees operation_aborted.
    timers_.erase(key);
    room_timers_.cancel(key);
  }

  bool output_room(std::string_view plugin) override { return room_timers_.room(plugin); }

  void arm_on_room(timer_key key, std::string_view plugin) override {
    timers_.erase(key);
    room_timers_.arm(key, plugin);
  }

  void event(std::string_view plugin, int pid, std::string_view name,
             std::span<const event_field> fields) override {
    out_.event(plugin, pid, name, fields);
  }

  void finished() override {
    boost::system::error_code ec;
    if (exit_with_) exit_with_->cancel(ec);
    if (watchdog_timer_) watchdog_timer_->cancel();
    timers_.clear();
    room_timers_.clear();
    out_.detach();
    guardian_.dismiss();
    restore_process();
  }

  // What run() changed in the process, as it was (once).
  void restore_process() {
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

  run_io* find(run_id id) {
    const auto it = runs_.find(id);
    return it == runs_.end() ? nullptr : &it->second;
  }

  using clock = supervision_port::clock;

  asio::io_context ioc_;  // first member: destroyed last, after everything that uses it
  record_dispatch& out_;
  supervisor_options options_;
  spawn_context context_;
  guardian guardian_;
  std::unique_ptr<run_processes> processes_;  // made once the guardian runs
  asio::signal_set child_signals_;
  std::optional<asio::signal_set> stop_signals_;
  std::optional<asio::signal_set> reload_signals_;
  std::optional<asio::signal_set> reopen_signals_;
  std::optional<asio::posix::stream_descriptor> exit_with_;
  std::optional<asio::steady_timer> watchdog_timer_;
  bool told_stopping_ = false;
  std::map<run_id, run_io> runs_;
  std::unordered_map<pid_t, run_id> main_pids_;  // main processes not reaped yet
  // What each plugin wrote (stdout, stderr), by name, in all its runs; the pumps count.
  std::map<std::string, std::array<stream_totals, 2>, std::less<>> totals_;
  std::optional<std::chrono::system_clock::time_point> started_;
  struct armed_timer {
    std::unique_ptr<asio::steady_timer> timer;
    std::uint64_t generation = 0;
  };
  std::map<timer_key, armed_timer> timers_;
  std::uint64_t timer_generation_ = 0;
  room_timers room_timers_{out_, ioc_.get_executor(),
                           [this](timer_key key) { after(&supervision_machine::on_timer, key); }};
  int held_exits_ = 0;  // runs whose exit waits for room (run_io::held_exit)
  supervision_machine machine_{*this};
  std::atomic<bool> stop_requested_{false};
  clock::time_point first_stop_signal_{};
  std::chrono::nanoseconds max_stop_timeout_{0};
  int was_subreaper_ = 0;
  bool sigchld_ = false;  // SIGCHLD handled (else each main process has its pidfd)
  bool restored_ = false;
  // status(): the snapshot, and how callers wait for a fresh one.
  std::thread::id loop_thread_;
  std::mutex status_mutex_;
  std::condition_variable status_changed_;
  bool loop_running_ = false;
  std::uint64_t status_requested_ = 0;
  std::uint64_t status_published_ = 0;
  launcher_status status_;
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
