/* libplughost-glibc-compat.so: the glibc functions plughost's portable build (the wheel and the
 * tarball) uses that glibc 2.28 lacks, or that a newer glibc defines at several versions none of
 * which an unversioned reference may take (glibc_floor.py explains both).
 *
 * The portable build is linked on Debian 12 (glibc 2.36) and its version requirements lowered
 * to 2.28 afterwards; each reference lowered that way binds to the first definition the
 * dynamic loader finds, which on an older glibc is this library's. Each function here calls
 * glibc's own where the running glibc has it (looked up by its exact version) and otherwise does
 * the same job with what 2.28 has: the system call, or the older function.
 *
 * Built by scripts/build-wheel.sh with `cc -shared`; C only, so that it needs no C++ runtime.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

/* glibc's own definitions, where the running glibc has them, looked up once when the library
 * is loaded: never while an exception is being unwound or a lock is waited on. A look-up
 * (dlvsym) takes the dynamic loader's lock, which a thread in dlopen() holds while a module's
 * constructors run: a constructor waiting for a thread that throws would wait for ever. And a
 * look-up that fails sets dlerror(), which must stay the caller's. This library's own
 * definitions carry no version, so a look-up by version never finds them. */
typedef const char* (*sigabbrev_np_fn)(int);
typedef int (*cond_clockwait_fn)(pthread_cond_t*, pthread_mutex_t*, clockid_t,
                                 const struct timespec*);
typedef int (*mutex_clocklock_fn)(pthread_mutex_t*, clockid_t, const struct timespec*);
typedef int (*condattr_setclock_fn)(pthread_condattr_t*, clockid_t);
typedef int (*dl_find_object_fn)(void*, struct dl_find_object*);

static struct {
  sigabbrev_np_fn sigabbrev_np;
  cond_clockwait_fn pthread_cond_clockwait;
  mutex_clocklock_fn pthread_mutex_clocklock;
  condattr_setclock_fn pthread_condattr_setclock;
  dl_find_object_fn _dl_find_object;
} glibc;

/* Before the libraries that need these are initialised: they depend on this one. */
__attribute__((constructor)) static void find_glibc_functions(void) {
  glibc.sigabbrev_np = (sigabbrev_np_fn)dlvsym(RTLD_DEFAULT, "sigabbrev_np", "GLIBC_2.32");
  glibc.pthread_cond_clockwait =
      (cond_clockwait_fn)dlvsym(RTLD_DEFAULT, "pthread_cond_clockwait", "GLIBC_2.30");
  glibc.pthread_mutex_clocklock =
      (mutex_clocklock_fn)dlvsym(RTLD_DEFAULT, "pthread_mutex_clocklock", "GLIBC_2.30");
  glibc.pthread_condattr_setclock =
      (condattr_setclock_fn)dlvsym(RTLD_DEFAULT, "pthread_condattr_setclock", "GLIBC_2.3.3");
  glibc._dl_find_object =
      (dl_find_object_fn)dlvsym(RTLD_DEFAULT, "_dl_find_object", "GLIBC_2.35");
  (void)dlerror(); /* what the failed look-ups left is nobody's */
}

/* --- glibc 2.32: a flag libstdc++ reads to skip atomic operations in a single-threaded process.
 * Zero means "not known to be single-threaded": always correct, at the cost of those atomics. */
EXPORT char __libc_single_threaded = 0;

/* --- glibc 2.33: stat and its family became functions (before, inline wrappers of __xstat).
 * On x86_64 the kernel's struct stat is glibc's, so the system calls fill it directly. */
EXPORT int stat(const char* path, struct stat* st) {
  return (int)syscall(SYS_newfstatat, AT_FDCWD, path, st, 0);
}
EXPORT int lstat(const char* path, struct stat* st) {
  return (int)syscall(SYS_newfstatat, AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW);
}
EXPORT int fstat(int fd, struct stat* st) { return (int)syscall(SYS_fstat, fd, st); }
EXPORT int fstatat(int dir, const char* path, struct stat* st, int flags) {
  return (int)syscall(SYS_newfstatat, dir, path, st, flags);
}
EXPORT int stat64(const char* path, struct stat64* st) {
  return (int)syscall(SYS_newfstatat, AT_FDCWD, path, st, 0);
}
EXPORT int lstat64(const char* path, struct stat64* st) {
  return (int)syscall(SYS_newfstatat, AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW);
}
EXPORT int fstat64(int fd, struct stat64* st) { return (int)syscall(SYS_fstat, fd, st); }
EXPORT int fstatat64(int dir, const char* path, struct stat64* st, int flags) {
  return (int)syscall(SYS_newfstatat, dir, path, st, flags);
}

/* --- glibc 2.34: close_range(2) got a wrapper; the system call is Linux 5.9's (ENOSYS before,
 * which callers handle). */
EXPORT int close_range(unsigned int first, unsigned int last, int flags) {
  return (int)syscall(SYS_close_range, first, last, flags);
}

/* --- glibc 2.32: sigabbrev_np, a signal's name without "SIG" (NULL for one it does not know). */
EXPORT const char* sigabbrev_np(int sig) {
  static const char* const names[] = {
      [SIGHUP] = "HUP",   [SIGINT] = "INT",       [SIGQUIT] = "QUIT",     [SIGILL] = "ILL",
      [SIGTRAP] = "TRAP", [SIGABRT] = "ABRT",     [SIGBUS] = "BUS",       [SIGFPE] = "FPE",
      [SIGKILL] = "KILL", [SIGUSR1] = "USR1",     [SIGSEGV] = "SEGV",     [SIGUSR2] = "USR2",
      [SIGPIPE] = "PIPE", [SIGALRM] = "ALRM",     [SIGTERM] = "TERM",     [SIGSTKFLT] = "STKFLT",
      [SIGCHLD] = "CHLD", [SIGCONT] = "CONT",     [SIGSTOP] = "STOP",     [SIGTSTP] = "TSTP",
      [SIGTTIN] = "TTIN", [SIGTTOU] = "TTOU",     [SIGURG] = "URG",       [SIGXCPU] = "XCPU",
      [SIGXFSZ] = "XFSZ", [SIGVTALRM] = "VTALRM", [SIGPROF] = "PROF",     [SIGWINCH] = "WINCH",
      [SIGPOLL] = "POLL",     [SIGPWR] = "PWR",       [SIGSYS] = "SYS",
  };
  if (glibc.sigabbrev_np) return glibc.sigabbrev_np(sig);
  if (sig <= 0 || sig >= (int)(sizeof names / sizeof names[0])) return NULL;
  return names[sig];
}

/* --- glibc 2.36: arc4random, random bytes from the kernel (what glibc's does, without its
 * per-thread buffer). getrandom(2) waits only until the kernel's pool is first seeded. */
EXPORT void arc4random_buf(void* buffer, size_t size) {
  unsigned char* p = buffer;
  while (size > 0) {
    long n = syscall(SYS_getrandom, p, size, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      /* glibc aborts too: there is no error to return, and no randomness is no answer. */
      static const char message[] = "plughost: getrandom() failed; cannot make random bytes\n";
      (void)!write(2, message, sizeof message - 1);
      abort();
    }
    p += n;
    size -= (size_t)n;
  }
}
EXPORT uint32_t arc4random(void) {
  uint32_t value;
  arc4random_buf(&value, sizeof value);
  return value;
}
EXPORT uint32_t arc4random_uniform(uint32_t bound) {
  if (bound < 2) return 0;
  /* Rejection sampling: values below 2^32 mod bound would make the low results likelier. */
  const uint32_t floor = -bound % bound;
  for (;;) {
    const uint32_t value = arc4random();
    if (value >= floor) return value % bound;
  }
}

/* --- glibc 2.30: waits on a condition variable or a mutex against a chosen clock. Before, only
 * CLOCK_REALTIME deadlines: a CLOCK_MONOTONIC one is turned into the same wait on the realtime
 * clock (what libstdc++ did before 2.30; a clock step during the wait moves its end). */
static struct timespec realtime_deadline(clockid_t clock, const struct timespec* deadline) {
  if (clock == CLOCK_REALTIME) return *deadline;
  struct timespec now_clock, now_real, out;
  clock_gettime(clock, &now_clock);
  clock_gettime(CLOCK_REALTIME, &now_real);
  long long ns = (long long)(deadline->tv_sec - now_clock.tv_sec) * 1000000000LL +
                 (deadline->tv_nsec - now_clock.tv_nsec);
  if (ns < 0) ns = 0;
  ns += now_real.tv_nsec;
  out.tv_sec = now_real.tv_sec + (time_t)(ns / 1000000000LL);
  out.tv_nsec = (long)(ns % 1000000000LL);
  return out;
}

EXPORT int pthread_cond_clockwait(pthread_cond_t* cond, pthread_mutex_t* mutex, clockid_t clock,
                                  const struct timespec* deadline) {
  if (glibc.pthread_cond_clockwait) {
    return glibc.pthread_cond_clockwait(cond, mutex, clock, deadline);
  }
  if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC) return EINVAL;
  const struct timespec until = realtime_deadline(clock, deadline);
  return pthread_cond_timedwait(cond, mutex, &until);
}

EXPORT int pthread_mutex_clocklock(pthread_mutex_t* mutex, clockid_t clock,
                                   const struct timespec* deadline) {
  if (glibc.pthread_mutex_clocklock) {
    return glibc.pthread_mutex_clocklock(mutex, clock, deadline);
  }
  if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC) return EINVAL;
  const struct timespec until = realtime_deadline(clock, deadline);
  return pthread_mutex_timedlock(mutex, &until);
}

/* --- glibc 2.34 also defines pthread_condattr_setclock at 2.34 beside 2.3.3, so an unversioned
 * reference binds to neither there: this one forwards to the 2.3.3 symbol, which every glibc
 * has. */
EXPORT int pthread_condattr_setclock(pthread_condattr_t* attr, clockid_t clock) {
  if (!glibc.pthread_condattr_setclock) return ENOSYS;
  return glibc.pthread_condattr_setclock(attr, clock);
}

/* --- glibc 2.35: _dl_find_object, which GCC 12's unwinder (libgcc_s) calls to find the unwind
 * tables of the code an exception passes through. Before 2.35, the same answer from walking
 * the loaded objects' program headers. */
struct find_request {
  uintptr_t pc;
  struct dl_find_object* result;
  int found;
};

static int find_object(struct dl_phdr_info* info, size_t size, void* data) {
  (void)size;
  struct find_request* request = data;
  uintptr_t start = UINTPTR_MAX, end = 0;
  const void* eh_frame = NULL;
  int contains = 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)* ph = &info->dlpi_phdr[i];
    const uintptr_t from = info->dlpi_addr + ph->p_vaddr;
    if (ph->p_type == PT_LOAD) {
      if (from < start) start = from;
      if (from + ph->p_memsz > end) end = from + ph->p_memsz;
      if (request->pc >= from && request->pc < from + ph->p_memsz) contains = 1;
    } else if (ph->p_type == PT_GNU_EH_FRAME) {
      eh_frame = (const void*)from;
    }
  }
  if (!contains) return 0;
  memset(request->result, 0, sizeof *request->result);
  request->result->dlfo_map_start = (void*)start;
  request->result->dlfo_map_end = (void*)end;
  request->result->dlfo_eh_frame = (void*)eh_frame;
  request->found = 1;
  return 1;
}

EXPORT int _dl_find_object(void* pc, struct dl_find_object* result) {
  if (glibc._dl_find_object) return glibc._dl_find_object(pc, result);
  struct find_request request = {(uintptr_t)pc, result, 0};
  dl_iterate_phdr(find_object, &request);
  return request.found ? 0 : -1;
}
