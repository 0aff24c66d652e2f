// Spawning with Boost.Process v2's default launcher, plus the child set-up plugins need.
#include "supervision/spawn.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <fnmatch.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/process/v2/environment.hpp>
#include <boost/process/v2/process.hpp>
#include <boost/process/v2/stdio.hpp>
// Boost 1.81's header-only mode forgets the out-of-line process_environment::on_setup: it is
// defined here, in this one translation unit.
#include <boost/process/v2/impl/environment.ipp>
#include <cerrno>
#include <cstring>

#include "common/signal_dispositions.hpp"
#include "supervision/clone_launcher.hpp"
#include "supervision/guardian.hpp"
#include "supervision/raw_proc.hpp"
#include "supervision/supervision_port.hpp"

namespace plughost::detail {

std::vector<std::string> plugin_environment_entries::entries() const {
  const auto name_of = [](const std::string& entry) {
    return std::string_view(entry).substr(0, entry.find('='));
  };
  std::vector<std::string> out;
  out.reserve((shared ? shared->size() : 0) + own.size());
  if (shared) {
    for (const auto& e : *shared) {
      const bool replaced = std::any_of(
          own.begin(), own.end(), [&](const std::string& o) { return name_of(o) == name_of(e); });
      const bool removed = std::any_of(remove.begin(), remove.end(), [&](const std::string& p) {
        return ::fnmatch(p.c_str(), std::string(name_of(e)).c_str(), 0) == 0;
      });
      if (!replaced && !removed) out.push_back(e);
    }
  }
  for (auto it = own.begin(); it != own.end(); ++it) {  // the last of a name wins
    const bool later = std::any_of(
        std::next(it), own.end(), [&](const std::string& o) { return name_of(o) == name_of(*it); });
    if (!later) out.push_back(*it);
  }
  return out;
}

namespace {

namespace bp2 = boost::process::v2;

// Runs in the child between fork and exec (only async-signal-safe calls), after the stdio
// redirection. Gives the plugin the process state docs/running.md promises.
// A step of the plugin's own set-up failed: said to the caller through the plan.
bp2::error_code step_failed(child_plan& plan, const char* step) {
  plan.failed_step = step;
  plan.failed_errno = errno;
  return {errno, bp2::system_category()};
}

// The plugin's cgroups, first (nothing it does is outside them), by writing to descriptors it
// may share with the host. It opens one only when it was not born in its v2 folder, and then it
// has a table of its own (clone_launcher.hpp: it shares the host's only when clone3 started it,
// in its folder).
bp2::error_code join_cgroups(child_plan& plan, bool in_cgroup) {
  if (plan.cgroup_folder >= 0 && !in_cgroup) {
    const int fd = ::openat(plan.cgroup_folder, "cgroup.procs", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || ::write(fd, "0", 1) != 1) return step_failed(plan, "join its cgroup");
    ::close(fd);
  }
  for (const int fd : plan.cgroup_fds) {
    if (::write(fd, "0", 1) != 1) return step_failed(plan, "join its cgroup");
  }
  return {};
}

// The rest of the plugin's own set-up (isolation.hpp), in the child: limits and priorities,
// then its user, then its folder as that user.
bp2::error_code apply_plan(child_plan& plan) {
  // Before its limits: a low limits.nofile may leave no descriptor number free to open it with.
  if (!plan.oom_score_adj.empty()) {
    const int fd = ::open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    const auto size = plan.oom_score_adj.size();
    if (fd < 0 || ::write(fd, plan.oom_score_adj.data(), size) != static_cast<ssize_t>(size)) {
      return step_failed(plan, "set its oom_score_adj");
    }
    ::close(fd);
  }
  for (const auto& [resource, limit] : plan.limits) {
    if (::setrlimit(static_cast<__rlimit_resource_t>(resource), &limit) != 0) {
      return step_failed(plan, resource == RLIMIT_NOFILE  ? "set its limits.nofile"
                               : resource == RLIMIT_NPROC ? "set its limits.nproc"
                               : resource == RLIMIT_AS    ? "set its limits.as"
                                                          : "set its limits.core");
    }
  }
  if (plan.nice && ::setpriority(PRIO_PROCESS, 0, *plan.nice) != 0) {
    return step_failed(plan, "set its nice value");
  }
  if (plan.cpus && ::sched_setaffinity(0, sizeof(cpu_set_t), &*plan.cpus) != 0) {
    return step_failed(plan, "set its CPUs");
  }
  // Raw system calls: glibc's setuid() would signal every thread of the host, whose memory
  // this vfork child shares.
  if (plan.gid) {
    if (::syscall(SYS_setgroups, plan.groups.size(), plan.groups.data()) != 0 ||
        ::syscall(SYS_setresgid, *plan.gid, *plan.gid, *plan.gid) != 0) {
      return step_failed(plan, "take its group");
    }
  }
  if (plan.uid && ::syscall(SYS_setresuid, *plan.uid, *plan.uid, *plan.uid) != 0) {
    return step_failed(plan, "take its user");
  }
  if (!plan.working_dir.empty() && ::chdir(plan.working_dir.c_str()) != 0) {
    return step_failed(plan, "change to its working_dir");
  }
  return {};
}

struct child_setup {
  spawn_context& context;
  child_plan* plan;

  // First, maybe still in the host's descriptor table (clone_launcher.hpp): nothing here
  // opens, closes or duplicates a descriptor.
  bp2::error_code on_child_start(const cgroup_vfork_launcher& launcher) const {
    // Its own session and process group, so that stopping it reaches everything it started,
    // and no process of another plugin can join its group (setpgid() works only within a
    // session): what comes from its group is its own (docs/health.md).
    if (::setsid() < 0) return {errno, bp2::system_category()};
    if (context.guardian_fd >= 0) {  // before any plugin code runs: see spawn_context
      const pid_t self = ::getpid();
      char line[24];
      const auto n = guardian::watch_message(self, line);
      if (::send(context.guardian_fd, line, n, MSG_NOSIGNAL) == static_cast<ssize_t>(n)) {
        context.registered = self;
      }
    }
    return plan ? join_cgroups(*plan, launcher.in_cgroup) : bp2::error_code{};
  }

  // In the host, before the launch: Boost.Process closes every descriptor but those of its
  // whitelist right before exec, and the plugin's notify_fd is one it keeps.
  bp2::error_code on_setup(cgroup_vfork_launcher& launcher, const bp2::filesystem::path&,
                           const char* const*) const {
    if (plan && plan->notify_fd > 0) launcher.fd_whitelist.push_back(plan->notify_fd);
    return {};
  }

  bp2::error_code on_exec_setup(cgroup_vfork_launcher&, const bp2::filesystem::path&,
                                const char* const*) const {
    ::setrlimit(RLIMIT_NOFILE, &context.nofile);  // the plan's `nofile` may change it again
    if (plan) {
      if (auto ec = apply_plan(*plan)) return ec;
    }
    // Dies with the host. The kernel sends this when the *thread* that forked exits: plugins are
    // forked from the event-loop thread, which lives as long as they are supervised. After the
    // change of user, which clears it.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != context.host_pid) ::_exit(127);  // the host died before prctl took effect
    reset_signal_dispositions();
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    // No descriptor but 0, 1, 2 survives exec. (Boost.Process 1.81's fork launcher leaves every
    // fd below its exec-error pipe open; marking, not closing, keeps that pipe working. Its
    // vfork launcher closes them itself; this does not depend on which one is used.)
    close_descriptors_from(3, true);
    if (plan && plan->notify_fd > 0) {  // its readiness pipe, the one it keeps (docs/health.md)
      const int from = plan->notify_source;
      if (from == plan->notify_fd ? ::fcntl(from, F_SETFD, 0) != 0
                                  : ::dup2(from, plan->notify_fd) < 0) {
        return step_failed(*plan, "open its notify_fd");
      }
    }
    return {};
  }

  // The exec failed (the error code is already in the parent's memory). Leave now: after a
  // vfork, the launcher's own exit() would run the host's atexit handlers and flush its stdio
  // buffers, in memory the host shares with this child.
  void on_exec_error(bp2::posix::default_launcher&, const bp2::filesystem::path&,
                     const char* const*, const bp2::error_code&) const {
    ::_exit(127);
  }
  // Boost.Process 1.81 looks for the hook above with a mistyped signature (default_launcher.hpp,
  // invoke_on_exec_error: `on_exec_error(launcher, ec, executable, cmd_line, ec)`) and calls it
  // only when that expression compiles: this declaration, never defined nor called, makes it
  // compile. Without it the hook was never called, and the child's exit() ran this thread's
  // thread_local destructors and the host's static ones in the memory it shares with the host
  // (found by ASan: the host's logger released once too often).
  void on_exec_error(bp2::posix::default_launcher&, const bp2::error_code&,
                     const bp2::filesystem::path&, const char* const*,
                     const bp2::error_code&) const;
};

// The hook is found (see above): a Boost.Process that fixes its lookup keeps finding it too.
static_assert(requires(const child_setup& c, bp2::posix::default_launcher& l,
                       const bp2::filesystem::path& p, const char* const* argv,
                       const bp2::error_code& ec) {
  c.on_exec_error(l, ec, p, argv, ec);
  c.on_exec_error(l, p, argv, ec);
});

void close_all(std::initializer_list<int> fds) {
  for (const int fd : fds) {
    if (fd >= 0) ::close(fd);
  }
}

}  // namespace

void child_plan::close_cgroups() {
  if (cgroup_folder >= 0) ::close(cgroup_folder);
  cgroup_folder = -1;
  for (const int fd : cgroup_fds) ::close(fd);
  cgroup_fds.clear();
}

bool reserve_descriptors(spawn_context& context) {
  for (int& fd : context.reserve) {
    if (fd < 0) fd = ::fcntl(context.devnull, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) return false;
  }
  return true;
}

namespace {
// Why reserve_descriptors() failed, in words.
std::string reserve_failure(const spawn_context& context) {
  if (context.devnull < 0) {
    return "/dev/null could not be opened when plughost started (it is the plugins' stdin)";
  }
  return fmt::format("{} (the open-file limit is reached)", std::strerror(EMFILE));
}
}  // namespace

bool make_stdio_slots(spawn_context& context) {
  if (context.stdio[0] >= 0) return true;
  for (int* fd : {&context.stdio[0], &context.stdio[1], &context.stdio[2], &context.notify}) {
    *fd = ::fcntl(context.devnull, F_DUPFD_CLOEXEC, 0);
    if (*fd < 0) {
      close_stdio_slots(context);
      return false;
    }
  }
  return true;
}

void close_stdio_slots(spawn_context& context) {
  for (int* fd : {&context.stdio[0], &context.stdio[1], &context.stdio[2], &context.notify}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
}

namespace {
// A launch's stdout and stderr go into the stdio slots (the pipes' own descriptors are closed:
// the slots hold their write ends until after the launch). False, with nothing changed, when
// there are no slots or a duplication fails.
bool into_slots(spawn_context& context, int out, int err) {
  if (context.stdio[0] < 0) return false;
  if (::dup3(out, context.stdio[1], O_CLOEXEC) < 0) return false;
  if (::dup3(err, context.stdio[2], O_CLOEXEC) < 0) {
    ::dup3(context.devnull, context.stdio[1], O_CLOEXEC);
    return false;
  }
  ::close(out);
  ::close(err);
  return true;
}

// After the launch: the slots hold /dev/null again (which closes the pipes' write ends here).
void empty_slots(spawn_context& context) {
  ::dup3(context.devnull, context.stdio[1], O_CLOEXEC);
  ::dup3(context.devnull, context.stdio[2], O_CLOEXEC);
  ::dup3(context.devnull, context.notify, O_CLOEXEC);
}

// The plan's notify_fd pipe into its slot, where the child finds it (should that fail, the
// child cannot find it, and says so: "cannot open its notify_fd").
void notify_into_slot(spawn_context& context, child_plan& plan) {
  if (::dup3(plan.notify_source, context.notify, O_CLOEXEC) >= 0) {
    plan.notify_source = context.notify;
  }
}
}  // namespace

void release_descriptors(spawn_context& context) {
  for (int& fd : context.reserve) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
}

namespace {
// The launch itself, with the child's stdin, stdout and stderr. Its pid, or -1 and `ec`.
pid_t launch(const std::vector<std::string>& argv, const std::vector<std::string>& environment,
             spawn_context& context, child_plan* plan, const int (&stdio)[3], bp2::error_code& ec) {
  // The launcher calls notify_fork() on the io_context of its executor, in the child too;
  // after a vfork that runs in memory the host shares with the child, and an io_context with
  // a reactor would re-create its epoll set there, under the host's feet. A fresh io_context
  // has no reactor yet when the child starts (Boost.Process adds one only afterwards, for the
  // process handle), so notify_fork() does nothing. It costs a few system calls.
  boost::asio::io_context io;
  // vfork: no copy of the host's page tables and no copy-on-write faults afterwards, which is
  // most of a fork's cost in a host supervising many plugins (posix_spawn does the same). The
  // child only makes system calls until exec (child_setup), as vfork requires. Born in its
  // cgroup, and without a copy of the host's descriptors, where the kernel can do it
  // (clone_launcher.hpp).
  cgroup_vfork_launcher launcher;
  if (plan) launcher.cgroup = plan->cgroup_folder;
  if (&stdio[0] == &context.stdio[0]) {
    launcher.keep_below = std::max(*std::max_element(stdio, stdio + 3), context.notify) + 1;
  }
  const std::vector<std::string> args(argv.begin() + 1, argv.end());
  auto process = launcher(io.get_executor(), ec, bp2::filesystem::path(argv[0]), args,
                          bp2::process_stdio{stdio[0], stdio[1], stdio[2]},
                          bp2::process_environment(environment), child_setup{context, plan});
  if (ec) return -1;
  const pid_t pid = process.id();
  process.detach();  // reaped by the supervisor (SIGCHLD), not by Boost.Process
  return pid;
}
}  // namespace

std::variant<spawned, std::string> spawn_plugin(const std::vector<std::string>& argv,
                                                const std::vector<std::string>& environment,
                                                spawn_context& context, child_plan* plan,
                                                output to) {
  if (!reserve_descriptors(context)) {
    return fmt::format("cannot start {}: {}", argv[0], reserve_failure(context));
  }
  int out_pipe[2] = {-1, -1};
  int err_pipe[2] = {-1, -1};
  if (to == output::discarded) {  // the write ends are duplicates of /dev/null, closed after
    out_pipe[1] = ::fcntl(context.devnull, F_DUPFD_CLOEXEC, 3);
    err_pipe[1] = ::fcntl(context.devnull, F_DUPFD_CLOEXEC, 3);
  }
  if (to == output::discarded
          ? (out_pipe[1] < 0 || err_pipe[1] < 0)
          : (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0)) {
    const int err = errno;
    close_all({out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]});
    return fmt::format("cannot create pipes: {}", std::strerror(err));
  }
  // The child's stdio in the low slots: it need not copy the host's table (clone_launcher.hpp).
  const bool slots = into_slots(context, out_pipe[1], err_pipe[1]);
  if (slots) out_pipe[1] = err_pipe[1] = -1;
  if (slots && plan && plan->notify_source >= 0) notify_into_slot(context, *plan);
  const auto close_write_ends = [&] {
    if (slots) empty_slots(context);
    close_all({out_pipe[1], err_pipe[1]});
  };
  bp2::error_code ec;
  pid_t pid = -1;
  context.registered = 0;
  release_descriptors(context);  // room for what Boost.Process needs once the child runs
  try {
    const int own[3] = {context.devnull, out_pipe[1], err_pipe[1]};
    pid = launch(argv, environment, context, plan, slots ? context.stdio : own, ec);
  } catch (const std::exception& e) {
    close_write_ends();
    close_all({out_pipe[0], err_pipe[0]});
    reserve_descriptors(context);
    return fmt::format("cannot start {}: {}", argv[0], e.what());
  }
  close_write_ends();
  reserve_descriptors(context);
  if (ec) {
    close_all({out_pipe[0], err_pipe[0]});
    if (plan && plan->failed_step) {
      return fmt::format("cannot start {}: cannot {}: {}", argv[0], plan->failed_step,
                         std::strerror(plan->failed_errno));
    }
    return fmt::format("cannot start {}: {}", argv[0], ec.message());
  }
  if (pid <= 0) {  // never a group or every process to signal later
    close_all({out_pipe[0], err_pipe[0]});
    return fmt::format("cannot start {}: no process id", argv[0]);
  }
  return spawned{pid, out_pipe[0], err_pipe[0]};
}

}  // namespace plughost::detail
