// Owner and mode checks of the files plughost runs or loads and of the folders holding them.
#include "common/permissions.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <utility>
#include <vector>

namespace plughost::detail {

namespace fs = std::filesystem;

std::string permission_problem(const file_status& s, uid_t trusted_uid) {
  std::vector<std::string> wrong;
  if (s.owner != 0 && s.owner != trusted_uid) {
    wrong.push_back(trusted_uid == 0
                        ? fmt::format("owned by uid {}, not root", s.owner)
                        : fmt::format("owned by uid {}, not root or uid {}", s.owner, trusted_uid));
  }
  // A read-only mount (a Kubernetes ConfigMap volume is one, with its folder in mode 0777)
  // cannot be written through, whatever the bits say.
  if (!s.read_only && (s.mode & (S_IWGRP | S_IWOTH)) != 0) {
    wrong.push_back(fmt::format("writable by {} (mode {:04o})",
                                (s.mode & S_IWOTH) != 0 ? "others" : "its group", s.mode & 07777));
  }
  return fmt::format("{}", fmt::join(wrong, ", and "));
}

namespace {

// Whether `p` is `top` or lies below it, by whole components.
bool within(const fs::path& p, const fs::path& top) {
  return std::mismatch(top.begin(), top.end(), p.begin(), p.end()).first == top.end();
}

class checker {
 public:
  explicit checker(uid_t trusted_uid) : trusted_uid_(trusted_uid) {}

  // `file`, its own folder, and the folders above that up to `top` when `top` is above it.
  void chain(const fs::path& file, const fs::path& top) {
    examine(file);
    auto dir = file.parent_path();
    examine(dir);
    if (!within(dir, top)) return;
    while (dir != top && dir.has_relative_path()) {
      dir = dir.parent_path();
      examine(dir);
    }
  }

  void add(std::string problem) { problems_.push_back(std::move(problem)); }

  std::string result() const { return fmt::format("{}", fmt::join(problems_, "; ")); }

 private:
  // stat(), not lstat(): what counts is the file or folder a link leads to (a link itself can
  // only be replaced by whoever may write the folder holding it, which is checked too).
  void examine(const fs::path& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) {
      const int err = errno;
      add(fmt::format("{} cannot be examined: {}", p.string(), std::strerror(err)));
      return;
    }
    if (!examined_.insert({st.st_dev, st.st_ino}).second) return;  // reached by another name
    struct statvfs vfs {};
    const bool read_only = ::statvfs(p.c_str(), &vfs) == 0 && (vfs.f_flag & ST_RDONLY) != 0;
    const auto what = permission_problem({st.st_uid, st.st_mode, read_only}, trusted_uid_);
    if (!what.empty()) add(fmt::format("{} is {}", p.string(), what));
  }

  uid_t trusted_uid_;
  std::set<std::pair<dev_t, ino_t>> examined_;
  std::vector<std::string> problems_;
};

}  // namespace

std::string check_permissions(const fs::path& file, const fs::path& given_top, uid_t trusted_uid) {
  auto top = given_top.lexically_normal();  // "plugins/" is the folder "plugins"
  if (!top.has_filename() && top.has_relative_path()) top = top.parent_path();
  checker c(trusted_uid);
  c.chain(file, top);
  // Through symbolic links, the file that runs may sit in folders the path above never named.
  std::error_code ec;
  const auto real = fs::canonical(file, ec);
  if (ec) {
    c.add(fmt::format("{} cannot be resolved: {}", file.string(), ec.message()));
  } else if (real != file) {
    const auto real_top = fs::canonical(top, ec);
    const bool inside = !ec && within(real.parent_path(), real_top);
    c.chain(real, inside ? real_top : real.parent_path());
  }
  return c.result();
}

}  // namespace plughost::detail
