// The host's side of the guardian (guardian.hpp): forking it, and the lines that tell it which
// process groups to stop should the host die. The guardian itself is guardian_process.cpp.
#include "supervision/guardian.hpp"

#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "supervision/guardian_process.hpp"
#include "supervision/run_processes.hpp"

namespace plughost::detail {

guardian::~guardian() {
  dismiss();
}

bool guardian::start(std::chrono::nanoseconds stop_timeout,
                     const std::vector<std::filesystem::path>& cgroups,
                     const std::filesystem::path& credentials) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) return false;
  // Allocated before the fork: the child must not call malloc (another thread may hold its lock).
  static std::unique_ptr<pid_t[]> groups(new pid_t[max_groups]);
  static std::unique_ptr<pid_t[]> escaped(new pid_t[max_escaped]);
  static std::unique_ptr<unsigned long long[]> escaped_started(new unsigned long long[max_escaped]);
  static std::unique_ptr<bool[]> escaped_signalled(new bool[max_escaped]);
  guard_state state{groups.get()};
  static guarded_folders folders;
  folders = guarded_folders{};
  for (const auto& c : cgroups) {
    if (folders.cgroup_count == max_guarded_folders || c.native().size() >= guarded_path_size) {
      continue;
    }
    std::strcpy(folders.cgroups[folders.cgroup_count++], c.c_str());
  }
  if (credentials.native().size() < guarded_path_size) {
    std::strcpy(folders.credentials, credentials.c_str());
    std::snprintf(folders.credentials_prefix, sizeof folders.credentials_prefix, "%d.",
                  static_cast<int>(::getpid()));
  }
  state.folders = &folders;
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
