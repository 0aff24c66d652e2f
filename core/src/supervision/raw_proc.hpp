// /proc read with raw system calls and stack buffers only: async-signal-safe, for the guardian,
// which runs in a forked child of a threaded host and may not allocate.
#pragma once

#include <dirent.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>

namespace plughost::detail {

/// The state letter of /proc/<pid>/stat ('R', 'S', 'Z', ...), or 0 when there is no such
/// process.
char process_state(pid_t pid);

/// Reads /proc/<name>/stat into `stat`. Returns false when there is no such process.
bool read_stat(const char* name, std::size_t name_length, char (&stat)[512]);

/// The fields of a stat line that matter here: state, process group, start time (clock ticks
/// after boot: with the pid, it names one process, whatever reuses the pid later).
struct stat_fields {
  char state = 0;
  long group = 0;
  unsigned long long started = 0;
};

/// Reads the fields of a stat line; false when it is not one.
bool parse_stat(const char* stat, stat_fields& out);

/// Whether the environment a process started with (/proc/<name>/environ) has an entry beginning
/// with `prefix`. Read in pieces into a stack buffer: it may hold megabytes.
bool environment_has(const char* name, std::size_t name_length, const char* prefix,
                     std::size_t prefix_length);

/// One entry of getdents64() (the kernel's struct linux_dirent64).
struct raw_dirent {
  ino64_t d_ino;
  off64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[1];
};

/// Calls visit(name) for each sub-folder (or, with `files`, each other entry) of the open
/// folder `dirfd`, from its start, whatever an earlier pass read: getdents64 into a stack
/// buffer, no opendir (it allocates).
template <typename Visit>
void each_entry(int dirfd, bool files, Visit visit) {
  alignas(8) char buffer[4096];
  ::lseek(dirfd, 0, SEEK_SET);
  for (;;) {
    const long n = ::syscall(SYS_getdents64, dirfd, buffer, sizeof buffer);
    if (n <= 0) return;
    for (long at = 0; at < n;) {
      const auto* e = reinterpret_cast<const raw_dirent*>(buffer + at);
      at += e->d_reclen;
      if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
      if ((e->d_type == DT_DIR) != !files) continue;
      visit(e->d_name);
    }
  }
}

/// Closes every descriptor from `first` on, or (`on_exec`) marks it close-on-exec: close_range(),
/// and where it is refused (Linux before 5.9, a seccomp filter) each descriptor /proc/self/fd
/// lists.
void close_descriptors_from(unsigned first, bool on_exec);

/// Calls `visit(name, name_length)` for each process in /proc (name: its pid in digits) until
/// it returns false.
void for_each_process(bool (*visit)(const char* name, std::size_t name_length, void* context),
                      void* context);

}  // namespace plughost::detail
