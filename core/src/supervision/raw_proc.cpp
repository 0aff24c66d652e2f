// /proc with raw system calls and stack buffers (raw_proc.hpp): no allocation, no stdio.
#include "supervision/raw_proc.hpp"

#include <fcntl.h>
#include <linux/close_range.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace plughost::detail {

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

void for_each_process(bool (*visit)(const char* name, std::size_t name_length, void* context),
                      void* context) {
  const int dir = ::open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return;
  alignas(8) char entries[8192];
  bool going = true;
  while (going) {
    const long n = ::syscall(SYS_getdents64, dir, entries, sizeof entries);
    if (n <= 0) break;
    for (long off = 0; off < n && going;) {
      // struct linux_dirent64: ino (8), off (8), reclen (2), type (1), name
      unsigned short reclen = 0;
      std::memcpy(&reclen, entries + off + 16, sizeof reclen);
      const char* name = entries + off + 19;
      off += reclen;
      if (name[0] < '1' || name[0] > '9') continue;
      going = visit(name, ::strnlen(name, 32), context);
    }
  }
  ::close(dir);
}

void close_descriptors_from(unsigned first, bool on_exec) {
  if (::syscall(SYS_close_range, first, ~0u, on_exec ? CLOSE_RANGE_CLOEXEC : 0u) == 0) return;
  const int dir = ::open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return;
  // Closing changes the folder being read: passes until one finds nothing left to do.
  for (bool changed = true; changed;) {
    changed = false;
    each_entry(dir, true, [&](const char* name) {
      long fd = 0;
      for (; *name >= '0' && *name <= '9'; ++name) fd = fd * 10 + (*name - '0');
      if (*name != '\0' || fd < static_cast<long>(first) || fd == dir) return;
      if (on_exec) {
        ::fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
      } else if (::close(static_cast<int>(fd)) == 0) {
        changed = true;
      }
    });
  }
  ::close(dir);
}

}  // namespace plughost::detail
