// A Boost.Process v2 launcher (its documented extension point) that does what its vfork_launcher
// does, except that the child can be born inside a cgroup: clone3() with CLONE_VM | CLONE_VFORK
// | CLONE_INTO_CGROUP. A child that joins its cgroup itself, by writing to cgroup.procs, is moved
// there by the kernel under a global lock, whose first use after a quiet while also waits for an
// RCU grace period (about 20 ms); a child born there is never moved (docs/isolation.md, cost).
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/process/v2/posix/default_launcher.hpp>
#include <cstddef>
#include <cstdint>

namespace plughost::detail {

/// The arguments of clone3() this launcher passes (the kernel's struct clone_args up to the
/// field `cgroup`, its third version, Linux 5.7).
struct clone3_args {
  std::uint64_t flags = 0;
  std::uint64_t pidfd = 0;
  std::uint64_t child_tid = 0;
  std::uint64_t parent_tid = 0;
  std::uint64_t exit_signal = 0;
  std::uint64_t stack = 0;
  std::uint64_t stack_size = 0;
  std::uint64_t tls = 0;
  std::uint64_t set_tid = 0;
  std::uint64_t set_tid_size = 0;
  std::uint64_t cgroup = 0;
};

/// Whether children can be born in a cgroup here: the kernel has clone3's CLONE_INTO_CGROUP (and
/// no seccomp filter refuses clone3, as container runtimes' default ones do), and this build
/// has the few instructions the child needs (x86-64, AArch64; not under the sanitizers, whose
/// run-time libraries know vfork but not this). Asked of the kernel once.
bool can_clone_into_cgroup();

/// Whether a child may share this process's descriptor table until it takes its own: no
/// seccomp filter here (one could refuse both ways of taking it, close_range and unshare, and
/// the child could then start no plugin). Asked once.
bool can_share_descriptors();

constexpr std::uint64_t clone_vm = 0x100, clone_files = 0x400, clone_vfork = 0x4000,
                        clone_into_cgroup = 0x200000000;

/// What clone3() gets to start a child as vfork() does, born in the cgroup folder `cgroup_fd`
/// (-1: its parent's), sharing its parent's descriptor table (`share_files`) until it takes
/// one of its own.
constexpr clone3_args vfork_into(int cgroup_fd, bool share_files) {
  clone3_args out;
  out.flags = clone_vm | clone_vfork | (share_files ? clone_files : 0) |
              (cgroup_fd >= 0 ? clone_into_cgroup : 0);
  out.exit_signal = SIGCHLD;
  out.cgroup = cgroup_fd >= 0 ? static_cast<std::uint64_t>(cgroup_fd) : 0;
  return out;
}

}  // namespace plughost::detail

/// clone3(*args, size) on the caller's stack, returning as vfork() does: 0 in the child, the
/// child's pid in the caller once the child has exec'd or exited, -errno when none started.
/// A few instructions (clone_launcher.cpp) with no frame of their own: the child returns into
/// the caller's frame, which it shares with the caller until exec, as after vfork(). Call it
/// only where can_clone_into_cgroup() says it exists, and only from the frame that goes on.
extern "C" long plughost_clone3_vfork(const plughost::detail::clone3_args* args, std::size_t size)
    __attribute__((returns_twice));

namespace plughost::detail {

/// Boost.Process's vfork_launcher, with two things clone3() adds where the kernel has it:
/// - `cgroup` (a cgroup v2 folder opened O_DIRECTORY, -1: none): the child is born there. Where
///   the kernel refuses, `in_cgroup` stays false and the child's own set-up joins the folder.
/// - `keep_below` (-1: the whole table): every descriptor the child needs is below it, from
///   the time its stdio is set up. The child does not copy its parent's descriptor table (a
///   fork's copy, whose thousands of pipes exec then closes one by one, is most of what
///   starting the thousandth plugin costs): it shares it at first, then takes a table of its own
///   with only the descriptors below `keep_below`. Until then, an init's hook
///   `on_child_start(launcher)` may use descriptors but not open, close or duplicate any; its
///   on_exec_setup comes after.
/// Without clone3 (or where it is refused) it is vfork_launcher, with the same hooks.
struct cgroup_vfork_launcher : boost::process::v2::posix::default_launcher {
  int cgroup = -1;
  int keep_below = -1;
  bool in_cgroup = false;    ///< read by the child (the memory is the caller's)
  bool share_files = false;  ///< the child shares the caller's descriptor table at first

  template <typename Executor, typename Args, typename... Inits>
  auto operator()(Executor exec, boost::process::v2::error_code& ec,
                  const boost::process::v2::filesystem::path& executable, Args&& args,
                  Inits&&... inits) -> boost::process::v2::basic_process<Executor> {
    namespace bp2 = boost::process::v2;
    namespace asio = boost::asio;
    auto argv = this->build_argv_(executable, std::forward<Args>(args));
    ec = bp2::posix::detail::on_setup(*this, executable, argv, inits...);
    if (ec) {
      bp2::posix::detail::on_error(*this, executable, argv, ec, inits...);
      return bp2::basic_process<Executor>(exec);
    }
    auto& ctx = asio::query(exec, asio::execution::context);
    ctx.notify_fork(asio::execution_context::fork_prepare);
    pid = -1;
    in_cgroup = false;
    share_files = false;
    if ((cgroup >= 0 || keep_below >= 0) && can_clone_into_cgroup()) {
      in_cgroup = cgroup >= 0;
      share_files = keep_below >= 0 && can_share_descriptors();
      const auto how = vfork_into(cgroup, share_files);
      const long started = plughost_clone3_vfork(&how, sizeof how);
      if (started == 0) child(ctx, ec, executable, argv, inits...);
      if (started > 0) {
        pid = static_cast<int>(started);
      } else {
        in_cgroup = share_files = false;
      }
    }
    if (pid < 0) {
      pid = ::vfork();
      if (pid == 0) child(ctx, ec, executable, argv, inits...);
    }
    ctx.notify_fork(asio::execution_context::fork_parent);
    if (pid == -1) {
      ec.assign(errno, bp2::system_category());
      bp2::posix::detail::on_fork_error(*this, executable, argv, ec, inits...);
      bp2::posix::detail::on_error(*this, executable, argv, ec, inits...);
      return bp2::basic_process<Executor>{exec};
    }
    if (ec) {  // set by the child, in this memory: its set-up or its exec failed, and it left
      ::waitpid(pid, nullptr, 0);
      bp2::posix::detail::on_error(*this, executable, argv, ec, inits...);
      return bp2::basic_process<Executor>{exec};
    }
    bp2::basic_process<Executor> proc(exec, pid);
    bp2::posix::detail::on_success(*this, executable, argv, ec, inits...);
    return proc;
  }

 private:
  // The child, on the caller's stack until exec: system calls only.
  template <typename Context, typename... Inits>
  [[noreturn]] void child(Context& ctx, boost::process::v2::error_code& ec,
                          const boost::process::v2::filesystem::path& executable,
                          const char* const* argv, Inits&... inits) {
    namespace bp2 = boost::process::v2;
    ctx.notify_fork(boost::asio::execution_context::fork_child);
    ((ec = ec ? ec : child_start(inits)), ...);
    if (!ec && share_files && own_descriptor_table() != 0) {
      ec.assign(errno, bp2::system_category());
    }
    if (!ec) ec = bp2::posix::detail::on_exec_setup(*this, executable, argv, inits...);
    if (!ec) close_all_fds(ec);
    if (!ec) {
      ::execve(executable.c_str(), const_cast<char* const*>(argv), const_cast<char* const*>(env));
    }
    ec.assign(errno, bp2::system_category());
    bp2::posix::detail::on_exec_error(*this, executable, argv, ec, inits...);
    ::_exit(EXIT_FAILURE);
  }

  template <typename Init>
  boost::process::v2::error_code child_start(Init& init) {
    if constexpr (requires { init.on_child_start(*this); }) {
      return init.on_child_start(*this);
    } else {
      return {};
    }
  }

  // In the child that shares its parent's table: a table of its own with the descriptors below
  // keep_below (close_range's CLOSE_RANGE_UNSHARE, Linux 5.9; a whole copy before).
  int own_descriptor_table() const;
};

}  // namespace plughost::detail
