// What the loop hears from the world: stop, reload and reopen signals (a second stop signal
// kills), SIGCHLD or each main process's pidfd, and reaping what exited.
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/log.hpp"
#include "plughost/sink_helpers.hpp"
#include "supervision/supervisor_impl.hpp"

namespace plughost::detail {

namespace {}  // namespace

// options.handle_signals: SIGTERM/SIGINT stop, SIGHUP reloads, SIGUSR1 reopens the sinks.
void supervisor::impl::watch_signals() {
  stop_signals_.emplace(ioc_, SIGTERM, SIGINT);
  wait_for_stop_signal();
  reload_signals_.emplace(ioc_, SIGHUP);
  wait_for_reload_signal();
  reopen_signals_.emplace(ioc_, SIGUSR1);
  wait_for_reopen_signal();
}

void supervisor::impl::wait_for_stop_signal() {
  stop_signals_->async_wait([this](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    on_stop_signal(signal);
    if (machine_.phase() != run_phase::finished) wait_for_stop_signal();
  });
}

// The first SIGTERM/SIGINT stops every plugin; what a later one does is the machine's to say
// (a second one kills them now).
void supervisor::impl::on_stop_signal(int signal) {
  stop_requested_ = true;
  if (machine_.stop_signal(signal_name(signal))) tell_systemd_stopping();
  out_.flush();
}

// plughost.watch: a burst of changes in the plugin locations is a reload, as SIGHUP is.
void supervisor::impl::start_watch() {
  const auto how =
      options_.watch == "scan" ? folder_watch::method::scan : folder_watch::method::notify;
  watch_ = std::make_unique<folder_watch>(
      ioc_.get_executor(), options_.watch_locations, how,
      [this](const std::string& what) {
        log().debug("watch: {} changed: reloading the configuration", visible(what));
        watch_cause_ = fmt::format("watch: {} changed", visible(what));
        request_reload(nullptr);
      },
      [](const std::string& warning) { log().warn("{}", warning); });
}

void supervisor::impl::wait_for_reload_signal() {
  reload_signals_->async_wait([this](const boost::system::error_code& ec, int) {
    if (ec) return;
    log().info("received SIGHUP: reloading the configuration");
    request_reload(nullptr);
    if (machine_.phase() != run_phase::finished) wait_for_reload_signal();
  });
}

void supervisor::impl::wait_for_reopen_signal() {
  reopen_signals_->async_wait([this](const boost::system::error_code& ec, int) {
    if (ec) return;
    log().info("received SIGUSR1: reopening the sinks");
    if (options_.reopen) options_.reopen();
    if (machine_.phase() != run_phase::finished) wait_for_reopen_signal();
  });
}

void supervisor::impl::watch_sigchld() {
  if (sigchld_) return;
  sigchld_ = true;
  child_signals_.add(SIGCHLD);
  wait_for_children();
}

// Without the SIGCHLD handler: the main process's pidfd, readable once it has exited (Linux
// 5.3). Where the kernel has no pidfds, SIGCHLD it is, and the log says so once.
void supervisor::impl::watch_main_process(run_id id, run_io& io) {
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

void supervisor::impl::wait_for_children() {
  child_signals_.async_wait([this](const boost::system::error_code& ec, int) {
    if (ec) return;
    reap_soon();
    if (machine_.phase() != run_phase::finished) wait_for_children();
  });
}

// A look at every child costs the kernel a walk through all of them (waitid(P_ALL) twice,
// 2,000 children with 1,000 plugins and their probes): at most one every 20 ms, the first
// at once. 1,000 exec probes a second took 19 % of a core looking at each exit, 6 % now.
void supervisor::impl::reap_soon() {
  constexpr auto spacing = std::chrono::milliseconds(20);
  if (reap_pending_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_reap_ >= spacing) {
    last_reap_ = now;
    return reap();
  }
  reap_pending_ = true;
  reap_timer_.expires_at(last_reap_ + spacing);
  reap_timer_.async_wait([this](const boost::system::error_code& ec) {
    reap_pending_ = false;
    if (ec || machine_.phase() == run_phase::finished) return;
    last_reap_ = std::chrono::steady_clock::now();
    reap();
  });
}

void supervisor::impl::reap() {
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
void supervisor::impl::reap_any() {
  while (true) {
    siginfo_t info{};
    if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG) != 0 || info.si_pid == 0) break;
    if (const auto probe = probe_pids_.find(info.si_pid); probe != probe_pids_.end()) {
      // An exec probe's: kept for its probe (as waitpid() would have said it).
      probe->second =
          info.si_code == CLD_EXITED ? (info.si_status & 0xff) << 8 : info.si_status & 0x7f;
      continue;
    }
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
void supervisor::impl::reap_groups() {
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

}  // namespace plughost::detail
