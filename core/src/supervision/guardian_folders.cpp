// The guardian's folders: cgroups walked and credentials removed with getdents64 and stack
// buffers (no opendir: it allocates).
#include "supervision/guardian_folders.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "supervision/raw_proc.hpp"

namespace plughost::detail {

namespace {

bool join(char (&out)[guarded_path_size], const char* a, const char* b) {
  const std::size_t la = std::strlen(a), lb = std::strlen(b);
  if (la + 1 + lb + 1 > guarded_path_size) return false;
  std::memcpy(out, a, la);
  out[la] = '/';
  std::memcpy(out + la + 1, b, lb + 1);
  return true;
}

// Calls visit(path) for each folder below `root`, two levels deep (v2's runs are "<plugin>.<run>"
// below the root; v1 pids' "<plugin>/run-<run>"), the deeper ones first.
template <typename Visit>
void each_run(const char* root, Visit visit) {
  const int top = ::open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (top < 0) return;
  each_entry(top, false, [&](const char* plugin) {
    char plugin_path[guarded_path_size];
    if (!join(plugin_path, root, plugin)) return;
    const int fd = ::open(plugin_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    each_entry(fd, false, [&](const char* run) {
      char run_path[guarded_path_size];
      if (join(run_path, plugin_path, run)) visit(run_path);
    });
    ::close(fd);
    visit(plugin_path);
  });
  ::close(top);
}

// `sig` to each pid in <folder>/cgroup.procs; how many there were.
std::size_t signal_procs(const char* folder, int sig) {
  char file[guarded_path_size];
  if (!join(file, folder, "cgroup.procs")) return 0;
  const int fd = ::open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char text[4096];
  std::size_t found = 0;
  long pid = 0;
  bool digits = false;
  for (;;) {
    const auto n = ::read(fd, text, sizeof text);
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; ++i) {
      if (text[i] >= '0' && text[i] <= '9') {
        pid = pid * 10 + (text[i] - '0');
        digits = true;
      } else if (digits) {
        ::kill(static_cast<pid_t>(pid), sig);
        ++found;
        pid = 0;
        digits = false;
      }
    }
  }
  if (digits) {
    ::kill(static_cast<pid_t>(pid), sig);
    ++found;
  }
  ::close(fd);
  return found;
}

bool write_one(const char* folder, const char* name) {
  char file[guarded_path_size];
  if (!join(file, folder, name)) return false;
  const int fd = ::open(file, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::write(fd, "1", 1) == 1;
  ::close(fd);
  return ok;
}

}  // namespace

std::size_t guarded_folders::signal_all(int sig) const {
  if (cgroup_count == 0) return 0;
  std::size_t found = 0;
  if (sig == SIGKILL && write_one(cgroups[0], "cgroup.kill")) found = populated() ? 1 : 0;
  each_run(cgroups[0], [&](const char* run) { found += signal_procs(run, sig); });
  return found;
}

bool guarded_folders::populated() const {
  if (cgroup_count == 0) return false;
  bool any = false;
  each_run(cgroups[0], [&](const char* run) {
    char file[guarded_path_size];
    if (any || !join(file, run, "cgroup.procs")) return;
    const int fd = ::open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    char c;
    any = ::read(fd, &c, 1) == 1;
    ::close(fd);
  });
  return any;
}

namespace {

// Removes what is in the folder `dirfd`, `depth` levels of folders deep (a plugin may make
// folders in its credentials folder).
void remove_inside(int dirfd, int depth) {
  each_entry(dirfd, true, [&](const char* file) { ::unlinkat(dirfd, file, 0); });
  if (depth == 0) return;
  each_entry(dirfd, false, [&](const char* name) {
    const int fd = ::openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return;
    remove_inside(fd, depth - 1);
    ::close(fd);
    ::unlinkat(dirfd, name, AT_REMOVEDIR);
  });
}

}  // namespace

void guarded_folders::remove() const {
  for (std::size_t i = 0; i < cgroup_count; ++i) {
    each_run(cgroups[i], [](const char* run) { ::rmdir(run); });
    const int top = ::open(cgroups[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (top >= 0) {
      each_entry(top, false, [&](const char* plugin) { ::unlinkat(top, plugin, AT_REMOVEDIR); });
      ::close(top);
    }
    ::rmdir(cgroups[i]);
  }
  if (credentials[0] == '\0') return;
  const int root = ::open(credentials, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) return;
  const std::size_t prefix = std::strlen(credentials_prefix);
  each_entry(root, false, [&](const char* name) {
    if (std::strncmp(name, credentials_prefix, prefix) != 0) return;
    const int fd = ::openat(root, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return;
    ::fchmod(fd, 0700);
    remove_inside(fd, 8);
    ::close(fd);
    ::unlinkat(root, name, AT_REMOVEDIR);
  });
  ::close(root);
}

}  // namespace plughost::detail
