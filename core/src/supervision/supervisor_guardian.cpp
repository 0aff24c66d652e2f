// The supervisor's links outside the loop that outlive a killed host: the guardian process
// (told each plugin's group and the longest stop timeout), and the process plughost exits
// with (--exit-with-parent), watched through a pidfd.
#include <poll.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/log.hpp"
#include "supervision/supervisor_impl.hpp"

namespace plughost::detail {

void supervisor::impl::start_guardian() {
  if (!guardian_.start(max_stop_timeout_,
                       cgroups_ ? cgroups_->roots() : std::vector<std::filesystem::path>{},
                       options_.credentials)) {
    log().warn("cannot start the guardian process: plugins would outlive a killed host");
  }
}

void supervisor::impl::update_guardian_timeout(std::chrono::nanoseconds t) {
  if (t > max_stop_timeout_) {
    max_stop_timeout_ = t;
    guardian_.set_stop_timeout(t);
  }
}

// --exit-with-parent: a pidfd of that process on the loop (readable once it has exited; unlike
// PR_SET_PDEATHSIG it follows the process, not the thread that forked us).
void supervisor::impl::watch_exit_with(int requested) {
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

void supervisor::impl::on_exit_with_gone(pid_t pid) {
  if (machine_.phase() == run_phase::finished) return;
  log().warn("process {} (--exit-with-parent) has exited: stopping every plugin", pid);
  tell_systemd_stopping();
  stop_requested_ = true;
  after(&supervision_machine::cap_stop_grace, parent_exit_grace, "parent exited");
}

}  // namespace plughost::detail
