// The guardian process (guardian_process.hpp). Its loop runs in a forked child of a host that
// may have other threads, so it allocates nothing and calls only async-signal-safe functions:
// read, poll, kill, _exit.
#include "supervision/guardian_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "common/signal_dispositions.hpp"
#include "supervision/raw_proc.hpp"

namespace plughost::detail {

namespace {

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

}  // namespace

bool guard_state::exit_with_gone() const {
  if (exit_with <= 0) return false;
  const char state = process_state(exit_with);
  return state == 0 || state == 'Z' || state == 'X';
}

void guard_state::add(pid_t g) {
  if (g > 0 && count < max_groups) groups[count++] = g;
}

void guard_state::remove(pid_t g) {
  for (std::size_t i = 0; i < count; ++i) {
    if (groups[i] == g) {
      groups[i] = groups[--count];
      return;
    }
  }
}

bool guard_state::tracked(pid_t g) const {
  for (std::size_t i = 0; i < count; ++i) {
    if (groups[i] == g) return true;
  }
  return false;
}

// kill(-pgid, 0) would count zombies, and the plugins' zombies wait for init to reap them
// (seconds, in some containers) now that the host is gone: /proc says which are alive.
bool guard_state::any_alive() const {
  struct search {
    const guard_state* state;
    bool alive = false;
  } s{this};
  for_each_process(
      [](const char* name, std::size_t name_length, void* context) {
        auto& looking = *static_cast<search*>(context);
        char stat[512];
        stat_fields f;
        if (!read_stat(name, name_length, stat) || !parse_stat(stat, f)) return true;
        if (f.state == 'Z' || f.state == 'X') return true;
        looking.alive = looking.state->tracked(static_cast<pid_t>(f.group));
        return !looking.alive;
      },
      &s);
  return s.alive;
}

void guard_state::signal_all(int sig) const {
  for (std::size_t i = 0; i < count; ++i) ::kill(-groups[i], sig);
}

void guard_state::find_escaped() {
  if (mark_length == 0) return;
  struct search {
    guard_state* state;
    pid_t self;
  } s{this, ::getpid()};
  for_each_process(
      [](const char* name, std::size_t name_length, void* context) {
        auto& [state, self] = *static_cast<search*>(context);
        char stat[512];
        stat_fields f;
        if (!read_stat(name, name_length, stat) || !parse_stat(stat, f)) return true;
        if (f.state == 'Z' || f.state == 'X') return true;
        // In a tracked group: the group's signals reach it (and its environment, which holds
        // the plugin's configuration, need not be read).
        if (state->tracked(static_cast<pid_t>(f.group))) return true;
        long pid = 0;
        for (const char* c = name; *c >= '0' && *c <= '9'; ++c) pid = pid * 10 + (*c - '0');
        if (pid == self || state->known_escaped(static_cast<pid_t>(pid))) return true;
        if (state->escaped_count >= max_escaped) return true;
        if (!environment_has(name, name_length, state->mark, state->mark_length)) return true;
        state->escaped[state->escaped_count] = static_cast<pid_t>(pid);
        state->escaped_started[state->escaped_count] = f.started;
        state->escaped_signalled[state->escaped_count] = false;
        ++state->escaped_count;
        return true;
      },
      &s);
}

bool guard_state::known_escaped(pid_t pid) const {
  for (std::size_t i = 0; i < escaped_count; ++i) {
    if (escaped[i] == pid) return true;
  }
  return false;
}

bool guard_state::escaped_alive(std::size_t i) const {
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

bool guard_state::any_escaped_alive() const {
  for (std::size_t i = 0; i < escaped_count; ++i) {
    if (escaped_alive(i)) return true;
  }
  return false;
}

std::size_t guard_state::signal_escaped(int sig, bool once) {
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
namespace {

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

// Makes this forked child the guardian: its own process group and signals, its name, only the
// socket (moved to descriptor 3) and stderr kept. Returns the socket's descriptor.
int become_guardian(int fd) {
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
  close_descriptors_from(4, false);
  const int devnull = ::open("/dev/null", O_RDWR);
  if (devnull >= 0) {
    ::dup2(devnull, 0);
    ::dup2(devnull, 1);
    if (devnull > 3) ::close(devnull);
  }
  return fd;
}

// Applies the host's lines until its end of the socket closes; a goodbye ends the guardian.
void follow_the_host(int fd, guard_state& s) {
  char buffer[4096];
  char line[64];
  std::size_t line_length = 0;
  while (true) {
    const auto n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // end of file: the host is gone (or a read error: treat it the same)
    for (ssize_t i = 0; i < n; ++i) {
      if (buffer[i] != '\n') {
        if (line_length < sizeof line) line[line_length++] = buffer[i];
        continue;
      }
      if (apply_line(s, line, line_length)) ::_exit(0);  // goodbye: a clean end
      line_length = 0;
    }
  }
}

// The host died without saying goodbye: stop every group it had, as it would have, and what left
// its plugin's group (setsid()), found by the host's mark in its environment wherever it has been
// reparented to since the host died.
void stop_what_the_host_left(guard_state& s) {
  static const guarded_folders none;
  const guarded_folders& folders = s.folders ? *s.folders : none;
  if (s.count > 0 || folders.populated()) {
    static const char message[] = "plughost guardian: the host is gone; stopping its plugins\n";
    ssize_t ignored = ::write(2, message, sizeof message - 1);
    (void)ignored;
  }
  s.signal_all(SIGTERM);
  folders.signal_all(SIGTERM);
  s.find_escaped();
  s.signal_escaped(SIGTERM, /*once=*/true);
  long long deadline = now_ms() + s.stop_timeout_ms;
  long long look_again = now_ms() + look_again_ms;
  bool shortened = false;
  while ((s.any_alive() || s.any_escaped_alive() || folders.populated()) && now_ms() < deadline) {
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
    const auto found = s.signal_escaped(SIGKILL, /*once=*/false) + folders.signal_all(SIGKILL);
    if (found == 0) break;
    ::poll(nullptr, 0, poll_interval_ms);
  }
  folders.remove();
}

}  // namespace

void guardian_main(int fd, guard_state& s) {
  fd = become_guardian(fd);
  follow_the_host(fd, s);
  stop_what_the_host_left(s);
  ::_exit(0);
}

}  // namespace plughost::detail
