// The guardian process. Its loop runs in a forked child of a host that may have other threads,
// so it allocates nothing and calls only async-signal-safe functions: read, poll, kill, _exit.
#include "supervision/guardian.hpp"

#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "common/signal_dispositions.hpp"
#include "supervision/run_processes.hpp"

namespace plughost::detail {

namespace {

// Room for this many live process groups (the host forgets groups as they end).
constexpr std::size_t max_groups = 1 << 16;
// Room for this many processes that left their plugin's group, found once the host is gone.
constexpr std::size_t max_escaped = 1 << 16;
constexpr int poll_interval_ms = 20;
// While waiting for the plugins to stop, how often /proc is searched again for processes that
// left their group (a plugin's stop handler may start one).
constexpr long long look_again_ms = 200;
// After SIGKILL: looks through /proc, each killing what it found, until one finds nothing.
constexpr int kill_rounds = 20;

long long now_ms() {
  timespec t{};
  ::clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<long long>(t.tv_sec) * 1000 + t.tv_nsec / 1000000;
}

// The state letter of /proc/<pid>/stat ('R', 'S', 'Z', ...), or 0 when there is no such
// process. Raw calls and stack buffers only.
char process_state(pid_t pid) {
  char path[32] = "/proc/";
  char digits[16];
  std::size_t n = 0;
  for (auto v = static_cast<unsigned long>(pid); v > 0 && n < sizeof digits; v /= 10) {
    digits[n++] = static_cast<char>('0' + v % 10);
  }
  std::size_t at = 6;
  while (n > 0) path[at++] = digits[--n];
  std::memcpy(path + at, "/stat", 6);
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char stat[512];
  const auto got = ::read(fd, stat, sizeof stat - 1);
  ::close(fd);
  if (got <= 0) return 0;
  stat[got] = '\0';
  const char* p = std::strrchr(stat, ')');  // "pid (comm) state ..."
  return p && p[1] == ' ' ? p[2] : 0;
}

// Reads /proc/<name>/stat into `stat` (raw calls, stack buffers). Returns false when there is no
// such process.
bool read_stat(const char* name, std::size_t name_length, char (&stat)[512]) {
  char path[64];
  if (name_length > 20) return false;
  std::memcpy(path, "/proc/", 6);
  std::memcpy(path + 6, name, name_length);
  std::memcpy(path + 6 + name_length, "/stat", 6);
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const auto got = ::read(fd, stat, sizeof stat - 1);
  ::close(fd);
  if (got <= 0) return false;
  stat[got] = '\0';
  return true;
}

// The fields of a stat line that matter here: state, process group, start time (clock ticks
// after boot: with the pid, it names one process, whatever reuses the pid later).
struct stat_fields {
  char state = 0;
  long group = 0;
  unsigned long long started = 0;
};

bool parse_stat(const char* stat, stat_fields& out) {
  const char* p = std::strrchr(stat, ')');  // "pid (comm) state ppid pgrp ... starttime(22)"
  if (!p || p[1] != ' ') return false;
  out.state = p[2];
  p += 3;
  for (int field = 4; field <= 22; ++field) {
    while (*p == ' ') ++p;
    unsigned long long value = 0;
    const bool negative = *p == '-';
    if (negative) ++p;
    while (*p >= '0' && *p <= '9') value = value * 10 + static_cast<unsigned>(*p++ - '0');
    if (field == 5) out.group = negative ? -static_cast<long>(value) : static_cast<long>(value);
    if (field == 22) out.started = value;
    if (*p != ' ' && field < 22) return false;
  }
  return true;
}

// Whether the environment a process started with (/proc/<name>/environ) has an entry beginning
// with `prefix`. Read in pieces into a stack buffer: it may hold megabytes.
bool environment_has(const char* name, std::size_t name_length, const char* prefix,
                     std::size_t prefix_length) {
  char path[64];
  if (name_length > 20) return false;
  std::memcpy(path, "/proc/", 6);
  std::memcpy(path + 6, name, name_length);
  std::memcpy(path + 6 + name_length, "/environ", 9);
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;  // gone, or another user's
  char buffer[4096];
  std::size_t matched = 0;  // of the current entry; prefix_length + 1: not this one
  bool found = false;
  while (!found) {
    const auto n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (ssize_t i = 0; i < n && !found; ++i) {
      if (buffer[i] == '\0') {
        matched = 0;
      } else if (matched < prefix_length) {
        matched = buffer[i] == prefix[matched] ? matched + 1 : prefix_length + 1;
        found = matched == prefix_length;
      }
    }
  }
  ::close(fd);
  return found;
}

struct guard_state {
  pid_t* groups;  // preallocated before fork
  std::size_t count = 0;
  // Processes that left a plugin's group, found by the mark in their environment
  // ("PLUGHOST_RUN=<host pid>:"): preallocated before fork too.
  pid_t* escaped = nullptr;
  unsigned long long* escaped_started = nullptr;
  bool* escaped_signalled = nullptr;
  std::size_t escaped_count = 0;
  char mark[48] = {};
  std::size_t mark_length = 0;
  long long stop_timeout_ms = 5000;
  pid_t exit_with = 0;  // --exit-with-parent's process: once it is gone, the stop is short
  long long exit_with_grace_ms = 1000;

  bool exit_with_gone() const {
    if (exit_with <= 0) return false;
    const char state = process_state(exit_with);
    return state == 0 || state == 'Z' || state == 'X';
  }

  void add(pid_t g) {
    if (g > 0 && count < max_groups) groups[count++] = g;
  }
  void remove(pid_t g) {
    for (std::size_t i = 0; i < count; ++i) {
      if (groups[i] == g) {
        groups[i] = groups[--count];
        return;
      }
    }
  }
  bool tracked(pid_t g) const {
    for (std::size_t i = 0; i < count; ++i) {
      if (groups[i] == g) return true;
    }
    return false;
  }

  // Whether a tracked group has a member that is not a zombie. kill(-pgid, 0) counts zombies,
  // and the plugins' zombies wait for init to reap them (seconds, in some containers) now that
  // the host is gone. Reads /proc with raw system calls and stack buffers: no allocation.
  bool any_alive() const {
    const int dir = ::open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) return false;
    bool alive = false;
    alignas(8) char entries[8192];
    char path[64];
    char stat[512];
    while (!alive) {
      const long n = ::syscall(SYS_getdents64, dir, entries, sizeof entries);
      if (n <= 0) break;
      for (long off = 0; off < n && !alive;) {
        // struct linux_dirent64: ino (8), off (8), reclen (2), type (1), name
        unsigned short reclen = 0;
        std::memcpy(&reclen, entries + off + 16, sizeof reclen);
        const char* name = entries + off + 19;
        off += reclen;
        if (name[0] < '1' || name[0] > '9') continue;
        // "/proc/<name>/stat" without snprintf (not async-signal-safe).
        const std::size_t name_length = ::strnlen(name, 32);
        if (name_length > 20) continue;
        std::memcpy(path, "/proc/", 6);
        std::memcpy(path + 6, name, name_length);
        std::memcpy(path + 6 + name_length, "/stat", 6);
        const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        const auto got = ::read(fd, stat, sizeof stat - 1);
        ::close(fd);
        if (got <= 0) continue;
        stat[got] = '\0';
        const char* p = std::strrchr(stat, ')');  // "pid (comm) state ppid pgrp ..."
        if (!p || p[1] != ' ') continue;
        const char state = p[2];
        if (state == 'Z' || state == 'X') continue;
        p += 3;
        while (*p == ' ') ++p;
        while (*p && *p != ' ') ++p;  // ppid
        long pgrp = 0;
        while (*p == ' ') ++p;
        while (*p >= '0' && *p <= '9') pgrp = pgrp * 10 + (*p++ - '0');
        alive = tracked(static_cast<pid_t>(pgrp));
      }
    }
    ::close(dir);
    return alive;
  }
  void signal_all(int sig) const {
    for (std::size_t i = 0; i < count; ++i) ::kill(-groups[i], sig);
  }

  // Adds every live process outside the tracked groups that carries the host's mark.
  void find_escaped() {
    if (mark_length == 0) return;
    const int dir = ::open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) return;
    const pid_t self = ::getpid();
    alignas(8) char entries[8192];
    char stat[512];
    while (true) {
      const long n = ::syscall(SYS_getdents64, dir, entries, sizeof entries);
      if (n <= 0) break;
      for (long off = 0; off < n;) {
        unsigned short reclen = 0;
        std::memcpy(&reclen, entries + off + 16, sizeof reclen);
        const char* name = entries + off + 19;
        off += reclen;
        if (name[0] < '1' || name[0] > '9') continue;
        const std::size_t name_length = ::strnlen(name, 32);
        stat_fields f;
        if (!read_stat(name, name_length, stat) || !parse_stat(stat, f)) continue;
        if (f.state == 'Z' || f.state == 'X') continue;
        // In a tracked group: the group's signals reach it (and its environment, which holds
        // the plugin's configuration, need not be read).
        if (tracked(static_cast<pid_t>(f.group))) continue;
        long pid = 0;
        for (const char* c = name; *c >= '0' && *c <= '9'; ++c) pid = pid * 10 + (*c - '0');
        if (pid == self || known_escaped(static_cast<pid_t>(pid))) continue;
        if (escaped_count >= max_escaped) continue;
        if (!environment_has(name, name_length, mark, mark_length)) continue;
        escaped[escaped_count] = static_cast<pid_t>(pid);
        escaped_started[escaped_count] = f.started;
        escaped_signalled[escaped_count] = false;
        ++escaped_count;
      }
    }
    ::close(dir);
  }

  bool known_escaped(pid_t pid) const {
    for (std::size_t i = 0; i < escaped_count; ++i) {
      if (escaped[i] == pid) return true;
    }
    return false;
  }

  // Whether escaped process `i` is still the one found (same start time) and not a zombie.
  bool escaped_alive(std::size_t i) const {
    char name[24];
    std::size_t n = 0;
    char digits[16];
    std::size_t count_digits = 0;
    for (auto v = static_cast<unsigned long>(escaped[i]); v > 0 && count_digits < sizeof digits;
         v /= 10) {
      digits[count_digits++] = static_cast<char>('0' + v % 10);
    }
    while (count_digits > 0) name[n++] = digits[--count_digits];
    name[n] = '\0';
    char stat[512];
    stat_fields f;
    if (!read_stat(name, n, stat) || !parse_stat(stat, f)) return false;
    return f.started == escaped_started[i] && f.state != 'Z' && f.state != 'X';
  }

  bool any_escaped_alive() const {
    for (std::size_t i = 0; i < escaped_count; ++i) {
      if (escaped_alive(i)) return true;
    }
    return false;
  }

  // `sig` to every escaped process still there; with `once`, only to those not signalled yet
  // (a stop signal is sent once, as to the groups). Returns how many were signalled.
  std::size_t signal_escaped(int sig, bool once) {
    std::size_t sent = 0;
    for (std::size_t i = 0; i < escaped_count; ++i) {
      if (once && escaped_signalled[i]) continue;
      if (!escaped_alive(i)) continue;
      ::kill(escaped[i], sig);
      escaped_signalled[i] = true;
      ++sent;
    }
    return sent;
  }
};

// Lines: "+<pgid>", "-<pgid>", "t<milliseconds>", "w<pid>" (the --exit-with-parent process),
// "g<milliseconds>" (the stop's length once that process is gone), "bye".
bool apply_line(guard_state& s, const char* line, std::size_t length) {
  if (length == 3 && line[0] == 'b' && line[1] == 'y' && line[2] == 'e') return true;
  if (length < 2) return false;
  long long value = 0;
  for (std::size_t i = 1; i < length; ++i) {
    if (line[i] < '0' || line[i] > '9') return false;
    value = value * 10 + (line[i] - '0');
  }
  switch (line[0]) {
    case '+':
      s.add(static_cast<pid_t>(value));
      break;
    case '-':
      s.remove(static_cast<pid_t>(value));
      break;
    case 't':
      s.stop_timeout_ms = value;
      break;
    case 'w':
      s.exit_with = static_cast<pid_t>(value);
      break;
    case 'g':
      s.exit_with_grace_ms = value;
      break;
    default:
      break;
  }
  return false;
}

// What `ps` shows as this process's command line: "plughost guardian" instead of a copy of the
// host's. The command line is the memory between arg_start and arg_end (fields 48 and 49 of
// /proc/self/stat): a forked child owns its copy, and may write it. No allocation (forked from a
// threaded program); nothing changes when the fields cannot be read.
void show_as_guardian() noexcept {
  char stat[4096];
  const int fd = ::open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  const auto n = ::read(fd, stat, sizeof stat - 1);
  ::close(fd);
  if (n <= 0) return;
  stat[n] = '\0';
  // Fields after the command name, which may hold spaces and ')': from the last ')'.
  const char* p = std::strrchr(stat, ')');
  if (!p) return;
  unsigned long start = 0, end = 0;
  for (int field = 2; *p && field < 49; ++p) {
    if (*p != ' ') continue;
    ++field;
    if (field == 48) start = std::strtoul(p + 1, nullptr, 10);
    if (field == 49) end = std::strtoul(p + 1, nullptr, 10);
  }
  if (start == 0 || end <= start) return;
  char* area = reinterpret_cast<char*>(start);
  const std::size_t size = end - start;
  static constexpr char title[] = "plughost guardian";
  std::memset(area, 0, size);
  std::memcpy(area, title, std::min(size - 1, sizeof title - 1));
}

[[noreturn]] void guardian_main(int fd, guard_state& s) {
  // Its own process group, deaf to the signals aimed at the host's group (a terminal's Ctrl-C):
  // only the closing of the host's end of the socket ends it.
  ::setpgid(0, 0);
  // The host's signal handlers (Asio's) write to descriptors closed below: back to defaults,
  // then ignore what targets the host's group, and what an operator sends to every process
  // called plughost (`pkill -USR1 -f plughost` after logrotate would otherwise end it).
  reset_signal_dispositions();
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  for (const int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT, SIGUSR1, SIGUSR2})
    ::sigaction(sig, &ignore, nullptr);
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::prctl(PR_SET_NAME, "plughost-guard");
  show_as_guardian();
  // Keep only the socket (and stderr for one message): no pipes of plugins, no files of sinks.
  if (fd != 3) {
    ::dup2(fd, 3);
    fd = 3;
  }
  ::syscall(SYS_close_range, 4u, ~0u, 0);
  const int devnull = ::open("/dev/null", O_RDWR);
  if (devnull >= 0) {
    ::dup2(devnull, 0);
    ::dup2(devnull, 1);
    if (devnull > 3) ::close(devnull);
  }

  char buffer[4096];
  char line[64];
  std::size_t line_length = 0;
  while (true) {
    const auto n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // end of file: the host is gone (or a read error: treat it the same)
    for (ssize_t i = 0; i < n; ++i) {
      if (buffer[i] != '\n') {
        if (line_length < sizeof line) line[line_length++] = buffer[i];
        continue;
      }
      if (apply_line(s, line, line_length)) ::_exit(0);  // goodbye: a clean end
      line_length = 0;
    }
  }

  // The host died without saying goodbye: stop every group it had, as it would have.
  if (s.count > 0) {
    static const char message[] = "plughost guardian: the host is gone; stopping its plugins\n";
    ssize_t ignored = ::write(2, message, sizeof message - 1);
    (void)ignored;
  }
  // What left its plugin's group (setsid()) gets the same: found by the host's mark in its
  // environment, wherever it has been reparented to since the host died.
  s.signal_all(SIGTERM);
  s.find_escaped();
  s.signal_escaped(SIGTERM, /*once=*/true);
  long long deadline = now_ms() + s.stop_timeout_ms;
  long long look_again = now_ms() + look_again_ms;
  bool shortened = false;
  while ((s.any_alive() || s.any_escaped_alive()) && now_ms() < deadline) {
    // The host's --exit-with-parent process is gone too: nobody waits for a graceful stop.
    if (!shortened && s.exit_with_gone()) {
      shortened = true;
      if (now_ms() + s.exit_with_grace_ms < deadline) deadline = now_ms() + s.exit_with_grace_ms;
    }
    ::poll(nullptr, 0, poll_interval_ms);
    if (now_ms() >= look_again) {  // one started since (by a stop handler, say)
      s.find_escaped();
      s.signal_escaped(SIGTERM, /*once=*/true);
      look_again = now_ms() + look_again_ms;
    }
  }
  s.signal_all(SIGKILL);
  // Until a look finds nothing left: one killed may have started another just before.
  for (int round = 0; round < kill_rounds; ++round) {
    s.find_escaped();
    if (s.signal_escaped(SIGKILL, /*once=*/false) == 0) break;
    ::poll(nullptr, 0, poll_interval_ms);
  }
  ::_exit(0);
}

}  // namespace

guardian::~guardian() {
  dismiss();
}

bool guardian::start(std::chrono::nanoseconds stop_timeout) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) return false;
  // Allocated before the fork: the child must not call malloc (another thread may hold its lock).
  static std::unique_ptr<pid_t[]> groups(new pid_t[max_groups]);
  static std::unique_ptr<pid_t[]> escaped(new pid_t[max_escaped]);
  static std::unique_ptr<unsigned long long[]> escaped_started(new unsigned long long[max_escaped]);
  static std::unique_ptr<bool[]> escaped_signalled(new bool[max_escaped]);
  guard_state state{groups.get()};
  state.escaped = escaped.get();
  state.escaped_started = escaped_started.get();
  state.escaped_signalled = escaped_signalled.get();
  // Every plugin process carries "PLUGHOST_RUN=<this pid>:<run>" (run_processes.hpp).
  const int mark_length = std::snprintf(state.mark, sizeof state.mark,
                                        "%.*s=%d:", static_cast<int>(run_mark_variable.size()),
                                        run_mark_variable.data(), static_cast<int>(::getpid()));
  if (mark_length > 0 && static_cast<std::size_t>(mark_length) < sizeof state.mark) {
    state.mark_length = static_cast<std::size_t>(mark_length);
  }
  state.stop_timeout_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(stop_timeout).count();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return false;
  }
  if (pid == 0) {
    ::close(fds[0]);
    guardian_main(fds[1], state);
  }
  ::close(fds[1]);
  fd_ = fds[0];
  pid_ = pid;
  return true;
}

void guardian::send(const char* text, std::size_t length) {
  if (fd_ < 0) return;
  while (length > 0) {
    const auto n = ::send(fd_, text, length, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {  // the guardian is gone: go on without it
      ::close(fd_);
      fd_ = -1;
      return;
    }
    text += n;
    length -= static_cast<std::size_t>(n);
  }
}

std::size_t guardian::watch_message(pid_t pgid, char (&out)[24]) noexcept {
  char digits[16];
  std::size_t count = 0;
  auto value = static_cast<unsigned long>(pgid > 0 ? pgid : 0);
  do {
    digits[count++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value > 0 && count < sizeof digits);
  std::size_t n = 0;
  out[n++] = '+';
  while (count > 0) out[n++] = digits[--count];
  out[n++] = '\n';
  return n;
}

void guardian::watch(pid_t pgid) {
  char line[24];
  send(line, watch_message(pgid, line));
}

void guardian::forget(pid_t pgid) {
  char line[32];
  const int n = std::snprintf(line, sizeof line, "-%d\n", static_cast<int>(pgid));
  send(line, static_cast<std::size_t>(n));
}

void guardian::set_stop_timeout(std::chrono::nanoseconds t) {
  char line[32];
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t).count();
  const int n = std::snprintf(line, sizeof line, "t%lld\n", static_cast<long long>(ms));
  send(line, static_cast<std::size_t>(n));
}

void guardian::exit_with(pid_t pid, std::chrono::nanoseconds grace) {
  char line[64];
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(grace).count();
  const int n = std::snprintf(line, sizeof line, "w%d\ng%lld\n", static_cast<int>(pid),
                              static_cast<long long>(ms));
  send(line, static_cast<std::size_t>(n));
}

void guardian::dismiss() {
  if (fd_ >= 0) {
    send("bye\n", 4);
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  if (pid_ > 0) {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }
}

}  // namespace plughost::detail
