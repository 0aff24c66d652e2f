// Opening a log file so that a link planted in a shared log folder cannot redirect plughost's
// output (running as root, it would append plugin output to any file the link names), and, as
// root, so that neither the path to the folder nor a file planted there gives the records away.
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>
#include <utility>

#include "common/permissions.hpp"
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

// Running as root: the folders leading to the log folder, from /, as a plugin location's.
void check_path_to_folder(const std::filesystem::path& folder) {
  if (::geteuid() != 0) return;
  std::error_code ec;
  const auto absolute = std::filesystem::absolute(folder, ec);
  if (auto problem = detail::check_path_to(ec ? folder : absolute, 0); !problem.empty()) {
    throw std::runtime_error("refused: " + problem);
  }
}

// Running as root: a log file someone else owns (planted before plughost came, in a sticky
// folder such as /tmp) would let them read every record, and one others may write, rewrite
// them. Reading by others is the folder's to prevent: plughost creates files 0644, as most of
// /var/log is, for log shippers that run as other users.
// A FIFO in a folder others may write (a sticky /tmp) is checked as a file is: another user's
// FIFO there is a reader of every record. In a folder only root writes, root put it there,
// whoever owns it (a log shipper's FIFO); devices (/dev/null, terminals) are the operator's.
void check_log_file(const struct stat& st, const std::filesystem::path& where, bool shared) {
  if (::geteuid() != 0) return;
  if (!S_ISREG(st.st_mode) && !(S_ISFIFO(st.st_mode) && shared)) return;
  if (st.st_uid != 0) {
    throw std::runtime_error(fmt::format(
        "refused: log {} {} is owned by {}, not by root: its owner could read every record; "
        "remove it or chown it to root",
        S_ISFIFO(st.st_mode) ? "FIFO" : "file", where.string(), detail::describe_user(st.st_uid)));
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    throw std::runtime_error(
        fmt::format("refused: log {} {} has mode {:04o}: {} may {} the records; chmod go-w "
                    "it",
                    S_ISFIFO(st.st_mode) ? "FIFO" : "file", where.string(), st.st_mode & 07777,
                    (st.st_mode & S_IWOTH) != 0 ? "others" : "its group",
                    S_ISFIFO(st.st_mode) ? "forge" : "rewrite"));
  }
}

[[noreturn]] void refuse_link(const std::filesystem::path& where) {
  throw std::runtime_error(where.string() +
                           " is a symbolic link in a folder others can write; refusing to "
                           "follow it");
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
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset(int fd) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

// Into the folders of `parts`, below `dir` (made when missing, 0755), each checked as the log
// folder is; a symbolic link among them is followed only where just its owner may write.
// `where` follows along, for messages.
void enter_folders(descriptor& dir, std::filesystem::path& where,
                   const std::filesystem::path& parts) {
  for (const auto& part : parts) {
    where /= part;
    if (::mkdirat(dir.get(), part.c_str(), 0755) != 0 && errno != EEXIST) {
      fail(errno, where, "cannot create the folder");
    }
    const int next =
        ::openat(dir.get(), part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0) {
      const int err = errno;
      struct stat st {};
      if (!only_owner_writes(dir.get()) &&
          ::fstatat(dir.get(), part.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
          S_ISLNK(st.st_mode)) {
        refuse_link(where);
      }
      fail(err, where,
           err == ENOTDIR || err == ELOOP ? "not a folder (or a symbolic link):" : "cannot open");
    }
    dir.reset(next);
    check_folder(dir.get(), where);
  }
}

// Opens `name` in `dir` for appending (`where` is its path, for messages): links and planted
// files refused where others may write, a FIFO without a reader waited for with a word, the
// file opened checked as the file found was.
int open_in_folder(const descriptor& dir, const std::filesystem::path& name,
                   const std::filesystem::path& where) {
  // A link in a folder that only its owner (root, or plughost's user) may write is the
  // operator's (/dev/fd/N, /dev/stdout, a link in /var/log): followed. In a folder others may
  // write, it could be anyone's: not followed.
  int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY;
  const bool shared = !only_owner_writes(dir.get());
  if (shared) flags |= O_NOFOLLOW;
  // Said before the kernel answers (ELOOP, or EACCES under fs.protected_symlinks and
  // fs.protected_regular) with words that do not say what is wrong.
  // A link in a folder only its owner writes is the operator's (/dev/stdout, redirected to a
  // file of theirs): where it leads is not checked either.
  struct stat planted {};
  bool operators_link = false;
  if (::fstatat(dir.get(), name.c_str(), &planted, AT_SYMLINK_NOFOLLOW) == 0) {
    if (shared && S_ISLNK(planted.st_mode)) refuse_link(where);
    operators_link = S_ISLNK(planted.st_mode);
    if (!operators_link) check_log_file(planted, where, shared);
  }
  // Non-blocking first: opening a FIFO that nobody reads would wait without a word. Made
  // here (O_EXCL) as root, the file gets no group or other write bit whatever the umask, so
  // that check_log_file() passes for plughost's own files when it opens them again.
  int fd = ::openat(dir.get(), name.c_str(), flags | O_NONBLOCK | O_EXCL, 0644);
  const bool created = fd >= 0;
  if (created && ::geteuid() == 0) {
    struct stat made {};
    if (::fstat(fd, &made) == 0 && (made.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
      ::fchmod(fd, made.st_mode & 07755);
    }
  } else if (errno == EEXIST) {
    fd = ::openat(dir.get(), name.c_str(), flags | O_NONBLOCK, 0644);
  }
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
    if (errno == ELOOP && shared) refuse_link(where);
    fail(errno, where, "cannot open");
  }
  descriptor opened(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail(errno, where, "cannot look at");
  if (!operators_link) check_log_file(st, where, shared);  // what was opened, whatever was there
  return opened.release();
}

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
  check_path_to_folder(top);
  auto where = top;
  enter_folders(dir, where, below.parent_path());
  return open_in_folder(dir, below.filename(), where / below.filename());
}

}  // namespace plughost
