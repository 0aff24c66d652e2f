// Starting plugins (Boost.Process v2) and supervising them on one Asio event loop.
#include "supervisor.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/process/v2/environment.hpp>
#include <boost/process/v2/process.hpp>
#include <boost/process/v2/stdio.hpp>
// Boost 1.81's header-only mode forgets the out-of-line process_environment::on_setup: it is
// defined here, in this one translation unit.
#include <boost/process/v2/impl/environment.ipp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <unordered_set>

#include "log.hpp"
#include "output_pump.hpp"

namespace plughost::detail {

namespace asio = boost::asio;
namespace bp2 = boost::process::v2;

std::string signal_name(int signal) {
  if (const char* abbrev = ::sigabbrev_np(signal)) return std::string("SIG") + abbrev;
  return "SIG" + std::to_string(signal);
}

namespace {

// How often the stop sequence checks whether plugins' process groups are gone. Only while
// stopping: a group whose members closed their output can only be seen by asking the kernel.
constexpr auto group_check_interval = std::chrono::milliseconds(20);
// After SIGKILL, how long to wait for output pipes to close before closing them ourselves
// (a process outside the plugin's group, e.g. one that called setsid(), can hold them open).
constexpr auto kill_grace = std::chrono::seconds(1);
constexpr auto signal_debounce = std::chrono::seconds(1);

// Runs in the child between fork and exec (only async-signal-safe calls), after the stdio
// redirection. Gives the plugin the process state SPEC.md §5 promises.
struct child_setup {
  pid_t host_pid;
  struct rlimit nofile;  // the limit the host started with: raised limits are the host's own

  bp2::error_code on_exec_setup(bp2::posix::default_launcher&, const bp2::filesystem::path&,
                                const char* const*) const {
    // Its own process group, so that stopping it reaches everything it started.
    if (::setpgid(0, 0) != 0) return {errno, bp2::system_category()};
    // Dies with the host. The kernel sends this when the *thread* that forked exits: plugins are
    // forked from the event-loop thread, which lives as long as they are supervised.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != host_pid) ::_exit(127);  // the host died before prctl took effect
    // Default dispositions for every signal. The raw system call, because glibc's sigaction()
    // refuses its two internal signals (32, 33), and GNU make, for one, starts its children with
    // those ignored. An all-zero kernel sigaction is SIG_DFL, no flags, empty mask, whatever the
    // architecture's field order.
    const unsigned long default_action[4] = {};
    constexpr unsigned long kernel_sigset_size = 64 / 8;
    for (int s = 1; s <= 64; ++s) {
      if (s != SIGKILL && s != SIGSTOP) {
        ::syscall(SYS_rt_sigaction, s, default_action, nullptr, kernel_sigset_size);
      }
    }
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::setrlimit(RLIMIT_NOFILE, &nofile);
    // Boost.Process 1.81's close_all() leaves every fd below its exec-error pipe open. Marking
    // them close-on-exec (not closing) keeps that pipe working, so exec errors still reach us.
    ::syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC);
    return {};
  }
};

// Process groups that have at least one member that is not a zombie. kill(-pgid, 0) alone is
// not enough: a plugin's orphaned child that died stays a zombie until init reaps it, which in
// containers can take seconds (or forever), and zombies still count as group members.
std::unordered_set<pid_t> scan_live_groups() {
  std::unordered_set<pid_t> live;
  DIR* proc = ::opendir("/proc");
  if (!proc) return live;
  char path[320];  // "/proc/" + a file name (at most 255 bytes) + "/stat"
  char buf[512];
  while (const dirent* e = ::readdir(proc)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
    const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    const auto n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n <= 0) continue;
    buf[n] = '\0';
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
    const char* close_paren = std::strrchr(buf, ')');
    char state = 0;
    int ppid = 0, pgrp = 0;
    if (close_paren && std::sscanf(close_paren + 1, " %c %d %d", &state, &ppid, &pgrp) == 3 &&
        state != 'Z' && state != 'X') {
      live.insert(pgrp);
    }
  }
  ::closedir(proc);
  return live;
}

struct plugin_process {
  launch_item item;
  pid_t pid = 0;  // also its process group id
  std::optional<bp2::process> process;
  std::unique_ptr<output_pump> out;
  std::unique_ptr<output_pump> err;
  bool exited = false;
  bool stopped_by_us = false;  // we signalled its group while its main process ran
  bool group_gone = false;

  bool pumps_open() const { return (out && out->is_open()) || (err && err->is_open()); }
};

}  // namespace

class supervisor::impl {
 public:
  impl(record_dispatch& out, supervisor_options options)
      : out_(out), options_(options), stop_timer_(ioc_), check_timer_(ioc_) {}

  ~impl() {
    if (devnull_ >= 0) ::close(devnull_);
  }

  bool run(std::vector<launch_item> items) {
    if (stop_requested_) return true;
    prepare();
    if (options_.handle_signals) {
      signals_.emplace(ioc_, SIGTERM, SIGINT);
      wait_for_signal();
    }
    for (auto& item : items) {
      if (stop_requested_) break;
      spawn(std::move(item));
    }
    out_.flush();
    if (stop_requested_) {
      enter_stopping();
    } else {
      check_progress();
    }
    ioc_.run();
    out_.flush();
    return !failed_;
  }

  void stop() noexcept {
    stop_requested_ = true;
    try {
      asio::post(ioc_, [this] { enter_stopping(); });
    } catch (...) {
    }
  }

 private:
  enum class phase { running, stopping, killing, finished };

  void prepare() {
    // 1,000 plugins need 2,000 pipes: raise the soft limit to the hard one for the host only.
    ::getrlimit(RLIMIT_NOFILE, &child_nofile_);
    struct rlimit raised = child_nofile_;
    raised.rlim_cur = raised.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &raised);
    devnull_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  }

  void wait_for_signal() {
    signals_->async_wait([this](const boost::system::error_code& ec, int signal) {
      if (ec) return;
      const auto now = std::chrono::steady_clock::now();
      if (phase_ == phase::running) {
        log().info("received {}: stopping plugins", signal_name(signal));
        first_signal_ = now;
        stop_requested_ = true;
        enter_stopping();
      } else if (phase_ == phase::stopping && now - first_signal_ > signal_debounce) {
        // A second Ctrl-C means "now". Tools such as timeout(1) signal the child and then its
        // whole group, so a repeat within the debounce interval is the same request.
        log().warn("received {} again: killing plugins now", signal_name(signal));
        enter_killing();
      }
      if (phase_ != phase::finished) wait_for_signal();
    });
  }

  void spawn(launch_item item) {
    auto p = std::make_unique<plugin_process>();
    p->item = std::move(item);
    const auto& argv = p->item.argv;

    int out_pipe[2] = {-1, -1};
    int err_pipe[2] = {-1, -1};
    if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
      const int err = errno;
      for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) {
        if (fd >= 0) ::close(fd);
      }
      fail_to_start(p->item.name, fmt::format("cannot create pipes: {}", std::strerror(err)));
      return;
    }

    bp2::error_code ec;
    bp2::posix::default_launcher launcher;
    const std::vector<std::string> args(argv.begin() + 1, argv.end());
    auto process = launcher(ioc_.get_executor(), ec, bp2::filesystem::path(argv[0]), args,
                            bp2::process_stdio{devnull_, out_pipe[1], err_pipe[1]},
                            bp2::process_environment(p->item.environment),
                            child_setup{::getpid(), child_nofile_});
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    if (ec) {
      ::close(out_pipe[0]);
      ::close(err_pipe[0]);
      fail_to_start(p->item.name, fmt::format("cannot start {}: {}", argv[0], ec.message()));
      return;
    }

    p->pid = process.id();
    p->process.emplace(std::move(process));
    const event_field started[] = {{"argv", std::span<const std::string>(argv)}};
    out_.event(p->item.name, p->pid, "started", started);

    auto* raw = p.get();
    const auto on_closed = [this] { check_progress(); };
    p->out = std::make_unique<output_pump>(ioc_.get_executor(), out_pipe[0], raw->item.name,
                                           raw->pid, stream::out, out_, on_closed);
    p->err = std::make_unique<output_pump>(ioc_.get_executor(), err_pipe[0], raw->item.name,
                                           raw->pid, stream::err, out_, on_closed);
    p->out->start();
    p->err->start();
    p->process->async_wait(
        [this, raw](const boost::system::error_code& wait_ec, int) { on_exit(*raw, wait_ec); });
    plugins_.push_back(std::move(p));
  }

  void fail_to_start(const std::string& name, const std::string& message) {
    failed_ = true;
    log().error("plugin {}: {}", name, message);
    const event_field fields[] = {{"message", std::string_view(message)}};
    out_.event(name, 0, "error", fields);
  }

  void on_exit(plugin_process& p, const boost::system::error_code& ec) {
    // Everything the plugin wrote before it exited is in its pipes now: deliver it first. (Not
    // yet marked exited, so that a pipe closing here does not look like the end of the run.)
    p.out->drain_now();
    p.err->drain_now();
    p.exited = true;
    ++exited_count_;
    const int status = p.process->native_exit_code();
    bool failed = true;
    if (ec) {
      const auto message = fmt::format("waiting for the process failed: {}", ec.message());
      const event_field fields[] = {{"message", std::string_view(message)}};
      out_.event(p.item.name, p.pid, "error", fields);
    } else if (WIFSIGNALED(status)) {
      const auto name = signal_name(WTERMSIG(status));
      const event_field fields[] = {{"signal", std::string_view(name)}};
      out_.event(p.item.name, p.pid, "exited", fields);
    } else {
      const int code = WEXITSTATUS(status);
      const event_field fields[] = {{"exit_code", std::int64_t{code}}};
      out_.event(p.item.name, p.pid, "exited", fields);
      failed = code != 0;
    }
    // Whatever a plugin does after plughost asked it to stop is not its failure.
    if (failed && !p.stopped_by_us) failed_ = true;
    out_.flush();
    check_progress();
  }

  // Ended and left nothing behind: main process reaped, pipes closed, process group empty.
  bool done(plugin_process& p) {
    if (!p.exited || p.pumps_open()) return false;
    if (!p.group_gone) p.group_gone = !group_alive(p.pid);
    return p.group_gone;
  }

  bool group_alive(pid_t pgid) {
    // kill(-0) would signal our own group: only pids of started plugins get here, but be sure.
    if (pgid <= 0 || (::kill(-pgid, 0) != 0 && errno == ESRCH)) return false;
    if (!live_groups_) live_groups_ = scan_live_groups();  // one scan per round, not per plugin
    return live_groups_->count(pgid) > 0;
  }

  // Called after every exit and every closed pipe, and periodically while stopping.
  void check_progress() {
    if (phase_ == phase::finished || exited_count_ < plugins_.size()) return;
    live_groups_.reset();
    bool all_done = true;
    for (auto& p : plugins_) all_done = done(*p) && all_done;
    if (all_done) {
      finish();
    } else if (phase_ == phase::running) {
      // Every plugin's main process ended, but something it started lives on in its group.
      enter_stopping();
    }
  }

  void signal_groups(int signal) {
    live_groups_.reset();
    for (auto& p : plugins_) {
      if (p->pid <= 0 || done(*p)) continue;
      if (!p->exited) p->stopped_by_us = true;
      if (::kill(-p->pid, signal) != 0 && errno != ESRCH) {
        log().warn("cannot send {} to plugin {} (process group {}): {}", signal_name(signal),
                   p->item.name, p->pid, std::strerror(errno));
      }
    }
  }

  void enter_stopping() {
    if (phase_ != phase::running) return;
    phase_ = phase::stopping;
    signal_groups(SIGTERM);  // every group at once: the stop takes one timeout, not one per plugin
    stop_timer_.expires_after(options_.stop_timeout);
    stop_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) enter_killing();
    });
    schedule_check();
  }

  void enter_killing() {
    if (phase_ != phase::running && phase_ != phase::stopping) return;
    phase_ = phase::killing;
    live_groups_.reset();
    for (auto& p : plugins_) {
      if (!done(*p)) log().warn("plugin {} did not stop in time: sending SIGKILL", p->item.name);
    }
    signal_groups(SIGKILL);
    stop_timer_.expires_after(kill_grace);
    stop_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) close_held_pipes();
    });
    schedule_check();
  }

  void close_held_pipes() {
    for (auto& p : plugins_) {
      if (p->pumps_open()) {
        log().warn(
            "output of plugin {} is still held open by a process outside its process "
            "group: closing it",
            p->item.name);
        p->out->close();
        p->err->close();
      }
    }
    check_progress();
  }

  void schedule_check() {
    check_timer_.expires_after(group_check_interval);
    check_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec || phase_ == phase::finished) return;
      check_progress();
      if (phase_ != phase::finished) schedule_check();
    });
  }

  void finish() {
    phase_ = phase::finished;
    stop_timer_.cancel();
    check_timer_.cancel();
    if (signals_) {
      boost::system::error_code ec;
      signals_->cancel(ec);
    }
    out_.flush();
  }

  asio::io_context ioc_;  // first member: destroyed last, after everything that uses it
  record_dispatch& out_;
  supervisor_options options_;
  asio::steady_timer stop_timer_;
  asio::steady_timer check_timer_;
  std::optional<asio::signal_set> signals_;
  std::vector<std::unique_ptr<plugin_process>> plugins_;
  std::size_t exited_count_ = 0;
  std::optional<std::unordered_set<pid_t>> live_groups_;  // cache for one check round
  std::atomic<bool> stop_requested_{false};
  phase phase_ = phase::running;
  std::chrono::steady_clock::time_point first_signal_{};
  bool failed_ = false;
  int devnull_ = -1;
  struct rlimit child_nofile_ {};
};

supervisor::supervisor(record_dispatch& out, supervisor_options options)
    : impl_(std::make_unique<impl>(out, options)) {}

supervisor::~supervisor() = default;

bool supervisor::run(std::vector<launch_item> items) {
  return impl_->run(std::move(items));
}

void supervisor::stop() noexcept {
  impl_->stop();
}

}  // namespace plughost::detail
