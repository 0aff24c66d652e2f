// clone3() as vfork(): the instructions, and whether the kernel has what the launcher needs.
#include "supervision/clone_launcher.hpp"

#include <linux/close_range.h>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <cerrno>
#include <climits>
#include <fstream>
#include <string>

namespace plughost::detail {

namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool built_for_it = false;  // their run-time libraries handle vfork(), not this
#elif defined(__x86_64__) || defined(__aarch64__)
constexpr bool built_for_it = true;
#else
constexpr bool built_for_it = false;
#endif

constexpr long clone3_number = 435;  // the same number on every architecture

bool kernel_has_it() {
  // A cgroup descriptor too large to be one: a kernel that knows CLONE_INTO_CGROUP refuses it
  // before it does anything else (EINVAL); an older one refuses the size of the arguments
  // (E2BIG), a seccomp filter refuses clone3 (ENOSYS, EPERM). Nothing starts either way; were a
  // filter to answer 0 without starting anything, this is the same process, which says no.
  clone3_args probe;
  probe.flags = clone_into_cgroup;
  probe.exit_signal = SIGCHLD;
  probe.cgroup = std::uint64_t{INT_MAX} + 1;
  const pid_t self = ::getpid();
  const long pid = ::syscall(clone3_number, &probe, sizeof probe);
  if (pid == 0 && ::getpid() != self) ::_exit(0);
  if (pid > 0) ::waitpid(static_cast<pid_t>(pid), nullptr, 0);
  return pid < 0 && errno == EINVAL;
}

}  // namespace

bool can_clone_into_cgroup() {
  static const bool answer = built_for_it && kernel_has_it();
  return answer;
}

bool can_share_descriptors() {
  static const bool answer = [] {
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("Seccomp:", 0) == 0) return line.find_first_of("12") == std::string::npos;
    }
    return false;  // unknown: copy the table
  }();
  return answer;
}

int cgroup_vfork_launcher::own_descriptor_table() const {
  if (::syscall(SYS_close_range, static_cast<unsigned>(keep_below), ~0u, CLOSE_RANGE_UNSHARE) ==
      0) {
    return 0;
  }
  return ::unshare(CLONE_FILES);
}

}  // namespace plughost::detail

// The child returns into its caller's frame with the caller's stack pointer (the kernel keeps it:
// no stack is given), so these instructions keep nothing on the stack across the system call:
// on x86-64 the return address is popped into a register the kernel preserves (rdx: clone3 has
// two arguments) and pushed back by each of the two processes, as glibc's vfork does (and, as
// it does, a child with a shadow stack, which it shares with its parent, jumps back without
// touching it); on AArch64 the return address is in a register already.
#if defined(__x86_64__)
asm(R"(
  .text
  .globl plughost_clone3_vfork
  .hidden plughost_clone3_vfork
  .type plughost_clone3_vfork, @function
plughost_clone3_vfork:
  popq %rdx
  movl $435, %eax
  syscall
  testq %rax, %rax
  jnz 1f
  xorl %esi, %esi
  rdsspq %rsi
  testq %rsi, %rsi
  jz 1f
  jmp *%rdx
1:
  pushq %rdx
  ret
  .size plughost_clone3_vfork, .-plughost_clone3_vfork
)");
#elif defined(__aarch64__)
asm(R"(
  .text
  .globl plughost_clone3_vfork
  .hidden plughost_clone3_vfork
  .type plughost_clone3_vfork, %function
plughost_clone3_vfork:
  mov x8, #435
  svc #0
  ret
  .size plughost_clone3_vfork, .-plughost_clone3_vfork
)");
#else
extern "C" long plughost_clone3_vfork(const plughost::detail::clone3_args*, std::size_t) {
  return -ENOSYS;  // never called: can_clone_into_cgroup() says no
}
#endif
