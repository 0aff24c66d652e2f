// Copying a run's credentials into its folder, and removing it.
#include "supervision/credentials.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <variant>
#include <vector>

namespace plughost::detail {

namespace fs = std::filesystem;

namespace {

bool trusted_owner(uid_t uid) {
  return uid == 0 || uid == ::geteuid();
}

// The whole file, at most max_credential_bytes; an errno when it cannot be read. Never
// follows a symbolic link nor waits (a FIFO put in its place must not hold the event loop).
std::variant<std::string, int> read_credential(const fs::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return errno;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || !trusted_owner(st.st_uid)) {
    ::close(fd);
    return EPERM;
  }
  std::string out;
  char buffer[65536];
  for (;;) {
    const auto n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return err;
    }
    if (n == 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
    if (out.size() > max_credential_bytes) {
      ::close(fd);
      return EFBIG;
    }
  }
  ::close(fd);
  return out;
}

int write_private(const fs::path& file, const std::string& bytes, uid_t uid, gid_t gid) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0400);
  if (fd < 0) return errno;
  std::size_t done = 0;
  while (done < bytes.size()) {
    const auto n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return err;
    }
    done += static_cast<std::size_t>(n);
  }
  const int err = ::fchown(fd, uid, gid) == 0 ? 0 : errno;
  ::close(fd);
  return err;
}

}  // namespace

std::string credential_source_problem(const fs::path& file) {
  struct stat st {};
  if (::lstat(file.c_str(), &st) != 0)
    return fmt::format("{}: {}", file.string(), std::strerror(errno));
  if (S_ISLNK(st.st_mode))
    return fmt::format("{} is a symbolic link (name the file itself)", file.string());
  if (!S_ISREG(st.st_mode)) return fmt::format("{} is not a regular file", file.string());
  if (!trusted_owner(st.st_uid)) {
    return fmt::format(
        "{} belongs to uid {}, who could put any file plughost may read in its "
        "place (it must belong to root or plughost's user)",
        file.string(), st.st_uid);
  }
  const auto folder = file.parent_path();
  struct stat f {};
  if (::stat(folder.c_str(), &f) != 0)
    return fmt::format("{}: {}", folder.string(), std::strerror(errno));
  if (!trusted_owner(f.st_uid) || ((f.st_mode & (S_IWGRP | S_IWOTH)) && !(f.st_mode & S_ISVTX))) {
    return fmt::format(
        "its folder {} may be changed by another user, who could put any file "
        "plughost may read in its place",
        folder.string());
  }
  return {};
}

std::string write_credentials(const fs::path& root, const fs::path& folder,
                              const plugin_isolation& isolation) {
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec || ::chmod(root.c_str(), 0711) != 0) {
    return fmt::format("cannot make {}: {}", root.string(),
                       ec ? ec.message() : std::strerror(errno));
  }
  if (::mkdir(folder.c_str(), 0700) != 0) {
    return fmt::format("cannot make {}: {}", folder.string(), std::strerror(errno));
  }
  const uid_t uid = isolation.uid.value_or(::geteuid());
  const gid_t gid = isolation.gid.value_or(::getegid());
  for (const auto& [name, file] : isolation.credentials) {
    if (auto problem = credential_source_problem(file); !problem.empty()) {
      remove_credentials(folder);
      return fmt::format("cannot copy credential {}: {}", name, problem);
    }
    auto bytes = read_credential(file);
    int err = std::holds_alternative<int>(bytes) ? std::get<int>(bytes) : 0;
    if (!err) err = write_private(folder / name, std::get<std::string>(bytes), uid, gid);
    if (err) {
      remove_credentials(folder);
      return fmt::format("cannot copy credential {} ({}): {}", name, file.string(),
                         err == EFBIG   ? "larger than 1 MiB"
                         : err == EPERM ? "not a regular file of root's or plughost's user"
                                        : std::strerror(err));
    }
  }
  if (::chown(folder.c_str(), uid, gid) != 0 || ::chmod(folder.c_str(), 0500) != 0) {
    const int err = errno;
    remove_credentials(folder);
    return fmt::format("cannot give {} to its plugin: {}", folder.string(), std::strerror(err));
  }
  return {};
}

void remove_credentials(const fs::path& folder) {
  if (folder.empty()) return;
  ::chmod(folder.c_str(), 0700);
  std::error_code ec;
  fs::remove_all(folder, ec);
}

}  // namespace plughost::detail
