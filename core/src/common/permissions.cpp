// Owner and mode checks of the files plughost runs or loads and of the folders holding them.
#include "common/permissions.hpp"

#include <fmt/format.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <deque>
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

std::string describe_user(uid_t uid) {
  struct passwd pw {};
  struct passwd* found = nullptr;
  std::array<char, 4096> buffer{};
  if (::getpwuid_r(uid, &pw, buffer.data(), buffer.size(), &found) == 0 && found) {
    return fmt::format("uid {} ({})", uid, found->pw_name);
  }
  return fmt::format("uid {}", uid);
}

namespace {

// Whether `p` is `top` or lies below it, by whole components.
bool within(const fs::path& p, const fs::path& top) {
  return std::mismatch(top.begin(), top.end(), p.begin(), p.end()).first == top.end();
}

std::string trusted_owners(uid_t trusted_uid) {
  return trusted_uid == 0 ? "root" : fmt::format("root or {}", describe_user(trusted_uid));
}

bool read_only_mount(const fs::path& p) {
  struct statvfs vfs {};
  return ::statvfs(p.c_str(), &vfs) == 0 && (vfs.f_flag & ST_RDONLY) != 0;
}

// Others than its owner may add, remove or rename what a folder holds.
bool others_write(const struct stat& st) {
  return (st.st_mode & (S_IWGRP | S_IWOTH)) != 0;
}

class checker {
 public:
  explicit checker(uid_t trusted_uid) : trusted_uid_(trusted_uid) {}

  // The path to `target` from /, through the links it holds (check_path_to()). Folders that
  // chain() examined already were held to the stricter rule.
  void path_to(const fs::path& target) {
    std::error_code ec;
    const auto absolute = target.is_absolute() ? target : fs::current_path(ec) / target;
    const auto below_root = absolute.relative_path();
    std::deque<fs::path> left(below_root.begin(), below_root.end());
    fs::path at = "/";
    struct stat at_st {};
    if (!look(at, at_st, /*follow=*/true)) return;
    folder_on_path(at, at_st, target);
    int links = 0;
    while (!left.empty()) {
      const auto part = left.front();
      left.pop_front();
      if (part.empty() || part == ".") continue;
      if (part == "..") {  // `at` holds no link: its parent is the lexical one
        at = at.parent_path();
        if (!look(at, at_st, /*follow=*/true)) return;
        continue;
      }
      const auto next = at / part;
      struct stat st {};
      if (!look(next, st, /*follow=*/false)) return;
      if (S_ISLNK(st.st_mode)) {
        link_on_path(next, st, at, at_st, target);
        std::error_code link_ec;
        const auto to = fs::read_symlink(next, link_ec);
        if (link_ec || ++links > 40) {
          add(fmt::format("{} cannot be followed: {}", next.string(),
                          link_ec ? link_ec.message() : "too many symbolic links"));
          return;
        }
        const auto parts = to.relative_path();
        left.insert(left.begin(), parts.begin(), parts.end());
        if (to.is_absolute()) {
          at = "/";
          if (!look(at, at_st, /*follow=*/true)) return;
        }
        continue;
      }
      if (!S_ISDIR(st.st_mode)) return;  // the file itself: chain() looked at it
      folder_on_path(next, st, target);
      at = next;
      at_st = st;
    }
  }

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

  void add(std::string problem) {
    if (std::find(problems_.begin(), problems_.end(), problem) == problems_.end()) {
      problems_.push_back(std::move(problem));
    }
  }

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

  bool look(const fs::path& p, struct stat& st, bool follow) {
    if ((follow ? ::stat(p.c_str(), &st) : ::lstat(p.c_str(), &st)) == 0) return true;
    const int err = errno;
    add(fmt::format("{} cannot be examined: {}", p.string(), std::strerror(err)));
    return false;
  }

  bool trusted(uid_t owner) const { return owner == 0 || owner == trusted_uid_; }

  void folder_on_path(const fs::path& p, const struct stat& st, const fs::path& target) {
    if (!examined_.insert({st.st_dev, st.st_ino}).second) return;
    const bool owner_ok = trusted(st.st_uid);
    // Root's (or the trusted user's) and sticky, as /tmp is: others may add to it but not
    // rename or remove what is not theirs, so what lies below is as safe as the next folder
    // down, which is checked in its turn.
    const bool mode_ok =
        !others_write(st) || ((st.st_mode & S_ISVTX) != 0 && owner_ok) || read_only_mount(p);
    if (owner_ok && mode_ok) return;
    const auto mode = st.st_mode & 07777;
    std::string change;
    if (!owner_ok) change = fmt::format("chown root {}", p.string());
    if (!mode_ok) {
      if (!change.empty()) change += " and ";
      change += fmt::format("chmod go-w {}", p.string());
    }
    add(fmt::format(
        "{} is on the path to {} and is {}{} (mode {:04o}): whoever {} it can put "
        "anything in the place of what lies below it; {}, or move {} elsewhere",
        p.string(), target.string(),
        owner_ok ? ""
                 : fmt::format("owned by {}, not {}", describe_user(st.st_uid),
                               trusted_owners(trusted_uid_)),
        mode_ok ? ""
        : owner_ok
            ? fmt::format("writable by {}", (st.st_mode & S_IWOTH) != 0 ? "others" : "its group")
            : fmt::format(" and writable by {}",
                          (st.st_mode & S_IWOTH) != 0 ? "others" : "its group"),
        mode, owner_ok ? "may write" : "owns", change, target.string()));
  }

  // A link can only be replaced by whoever may write its folder: in one others may write (root's
  // and sticky, or the folder was refused already), by its owner too.
  void link_on_path(const fs::path& p, const struct stat& st, const fs::path& folder,
                    const struct stat& folder_st, const fs::path& target) {
    if (!others_write(folder_st) || trusted(st.st_uid) || read_only_mount(folder)) return;
    add(
        fmt::format("{} is on the path to {} and is a symbolic link owned by {} in {}, which "
                    "others may write (mode {:04o}): its owner can point it anywhere; replace it "
                    "with a link of {}'s, or name its target instead",
                    p.string(), target.string(), describe_user(st.st_uid), folder.string(),
                    folder_st.st_mode & 07777, trusted_owners(trusted_uid_)));
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
  c.path_to(file);
  return c.result();
}

std::string check_path_to(const fs::path& path, uid_t trusted_uid) {
  checker c(trusted_uid);
  c.path_to(path);
  return c.result();
}

}  // namespace plughost::detail
