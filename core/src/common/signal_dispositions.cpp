// Signal dispositions set back to the defaults with the raw rt_sigaction system call.
#include "common/signal_dispositions.hpp"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace plughost::detail {

void reset_signal_dispositions() noexcept {
  // The raw system call, because glibc's sigaction() refuses its two internal signals (32, 33),
  // and GNU make, for one, starts its children with those ignored; and because a sanitizer
  // intercepts sigaction() and keeps its own SIGSEGV handler. An all-zero kernel sigaction is
  // SIG_DFL, no flags, empty mask, whatever the architecture's field order.
  const unsigned long default_action[4] = {};
  constexpr unsigned long kernel_sigset_size = 64 / 8;
  for (int s = 1; s <= 64; ++s) {
    if (s != SIGKILL && s != SIGSTOP) {
      ::syscall(SYS_rt_sigaction, s, default_action, nullptr, kernel_sigset_size);
    }
  }
}

}  // namespace plughost::detail
