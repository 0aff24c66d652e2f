// Opening a log file so that a link planted in a shared log folder cannot redirect plughost's
// output (running as root, it would append plugin output to any file the link names).
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>

#include "plughost/record.hpp"
#include "plughost/sink.hpp"
#include "plughost/sink_helpers.hpp"

namespace plughost {

namespace {

[[noreturn]] void fail(int error, const std::filesystem::path& where, const std::string& what) {
  throw std::system_error(error, std::generic_category(), what + " " + where.string());
}

// Running as root: a folder that another user owns, or that others may write without the
// sticky bit, lets them plant or replace what plughost opens in it.
void check_folder(int fd, const std::filesystem::path& where) {
  if (::geteuid() != 0) return;
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail(errno, where, "cannot look at");
  if (st.st_uid != 0) {
    throw std::runtime_error("refused: " + where.string() + " is owned by uid " +
                             std::to_string(st.st_uid) + ", not root (a log folder must be)");
  }
  if ((st.st_mode & S_IWOTH) != 0 && (st.st_mode & S_ISVTX) == 0) {
    throw std::runtime_error("refused: " + where.string() +
                             " is writable by others without the sticky bit (a log folder must "
                             "not be)");
  }
}

bool only_owner_writes(int folder) {
  struct stat st {};
  if (::fstat(folder, &st) != 0) return false;
  return (st.st_uid == 0 || st.st_uid == ::geteuid()) && (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

class descriptor {
 public:
  explicit descriptor(int fd) : fd_(fd) {}
  ~descriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  descriptor(const descriptor&) = delete;
  descriptor& operator=(const descriptor&) = delete;
  int get() const noexcept { return fd_; }
  void reset(int fd) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

}  // namespace

int open_log_file(const std::filesystem::path& folder, const std::filesystem::path& below,
                  bool create_folder) {
  if (below.empty() || below.is_absolute()) fail(EINVAL, below, "not a relative file name:");
  for (const auto& part : below) {
    if (part.empty() || part == "." || part == "..") fail(EINVAL, below, "not a plain path:");
  }
  const auto top = folder.empty() ? std::filesystem::path(".") : folder;
  if (create_folder) {
    std::error_code ec;
    std::filesystem::create_directories(top, ec);
  }
  descriptor dir(::open(top.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0) fail(errno, top, "cannot open the folder");
  check_folder(dir.get(), top);
  auto where = top;
  const auto name = below.filename();
  for (const auto& part : below.parent_path()) {
    where /= part;
    if (::mkdirat(dir.get(), part.c_str(), 0755) != 0 && errno != EEXIST) {
      fail(errno, where, "cannot create the folder");
    }
    const int next =
        ::openat(dir.get(), part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0) {
      fail(errno, where,
           errno == ENOTDIR || errno == ELOOP ? "not a folder (or a symbolic link):"
                                              : "cannot open");
    }
    dir.reset(next);
    check_folder(dir.get(), where);
  }
  where /= name;
  // A link in a folder that only its owner (root, or plughost's user) may write is the
  // operator's (/dev/fd/N, /dev/stdout, a link in /var/log): followed. In a folder others may
  // write, it could be anyone's: not followed.
  int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY;
  if (!only_owner_writes(dir.get())) flags |= O_NOFOLLOW;
  // Non-blocking first: opening a FIFO that nobody reads would wait without a word.
  int fd = ::openat(dir.get(), name.c_str(), flags | O_NONBLOCK, 0644);
  if (fd < 0 && errno == ENXIO) {
    // The module API has no logger of its own: the same form as plughost's warnings.
    fmt::print(stderr,
               "plughost: warning: {} is a FIFO that nobody reads yet: waiting for a reader\n",
               visible(where.string()));
    fd = ::openat(dir.get(), name.c_str(), flags, 0644);
  } else if (fd >= 0) {
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  }
  if (fd < 0) {
    fail(errno, where,
         errno == ELOOP ? "a symbolic link in a folder others may write, not followed:"
                        : "cannot open");
  }
  return fd;
}

}  // namespace plughost
