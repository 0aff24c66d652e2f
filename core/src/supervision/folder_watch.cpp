// The plugin locations watched (folder_watch.hpp).
#include "supervision/folder_watch.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <sstream>

namespace plughost::detail {

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace {

constexpr std::uint32_t folder_events = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |
                                        IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF;
constexpr int deepest = 64;

// A file system where inotify does not see what other machines change (statfs(2) magic
// numbers), by name; nullopt for the others.
std::optional<std::string> remote_file_system(const fs::path& p) {
  struct statfs st {};
  if (::statfs(p.c_str(), &st) != 0) return std::nullopt;
  switch (static_cast<unsigned long>(st.f_type)) {
    case 0x6969:
      return "nfs";
    case 0x517B:
    case 0xFE534D42:
    case 0xFF534D42:
      return "smb";
    case 0x65735546:
      return "fuse";
    case 0x01021997:
      return "9p";
    case 0x00C36400:
      return "ceph";
    case 0x5346414F:
      return "afs";
    default:
      return std::nullopt;
  }
}

// A name discovery skips (hidden), but for a ConfigMap's `..data`, whose swap is its update.
bool ignored_name(std::string_view name) {
  return !name.empty() && name[0] == '.' && name != "..data";
}

}  // namespace

folder_watch::folder_watch(const asio::any_io_executor& executor, std::vector<fs::path> locations,
                           method how, std::function<void(const std::string&)> changed,
                           std::function<void(const std::string&)> warn)
    : locations_(std::move(locations)),
      changed_(std::move(changed)),
      warn_(std::move(warn)),
      buffer_(64 * 1024),
      burst_(executor),
      scan_timer_(executor) {
  if (how == method::notify) {
    inotify_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (inotify_ < 0) {
      warn_(
          fmt::format("watch: cannot use inotify ({}): the plugin locations are scanned every "
                      "second instead",
                      std::strerror(errno)));
    } else {
      events_ = std::make_unique<asio::posix::stream_descriptor>(executor, inotify_);
    }
  }
  for (std::size_t i = 0; i < locations_.size(); ++i) watch_location(i, false);
  if (events_) {
    read_events();
    watch_mounts();
  }
}

folder_watch::~folder_watch() {
  boost::system::error_code ec;
  burst_.cancel();
  scan_timer_.cancel();
  if (mountinfo_) mountinfo_->close(ec);
  if (events_) events_->close(ec);  // closes inotify_
}

// Location `i` watched anew (it was replaced, or a mount came or went): its folders, and its
// parent folder for the location's own name; scanned where inotify cannot see it all.
void folder_watch::watch_location(std::size_t i, bool silent) {
  const auto& location = locations_[i];
  for (auto it = folders_.begin(); it != folders_.end();) {
    if (it->second.location == i) {
      ::inotify_rm_watch(inotify_, it->first);
      it = folders_.erase(it);
    } else {
      ++it;
    }
  }
  scanned_.erase(location);
  if (!events_) return scan_instead(i);
  const auto remote = remote_file_system(location);
  struct stat st {};
  const bool exists = ::stat(location.c_str(), &st) == 0;
  const bool file = exists && !S_ISDIR(st.st_mode);
  // Its parent, for the location itself (a folder renamed over it, a link switched).
  const int wd = file ? -1
                      : ::inotify_add_watch(inotify_, location.parent_path().c_str(),
                                            folder_events | IN_ONLYDIR);
  if (wd >= 0 && !folders_.count(wd)) folders_[wd] = {location.parent_path(), i, true};
  if (exists && !remote &&
      watch_tree(file ? location.parent_path() : location, file ? deepest : 0, i)) {
    return;
  }
  if (silent) {
  } else if (remote) {
    warn_(
        fmt::format("watch: plugin location {} is on a network file system ({}), where "
                    "inotify does not see changes made elsewhere: it is scanned every second",
                    location.string(), *remote));
  } else if (!exists) {
    warn_(
        fmt::format("watch: plugin location {} does not exist: it is scanned every second, "
                    "and its plugins start once it does",
                    location.string()));
  }
  scan_instead(i);
}

// Watches `dir` and, as discovery walks it, every folder in it that is not hidden. False when
// a folder could not be watched (said once): its location is scanned instead.
bool folder_watch::watch_tree(const fs::path& dir, int depth, std::size_t location) {
  const int wd = ::inotify_add_watch(inotify_, dir.c_str(), folder_events | IN_ONLYDIR);
  if (wd < 0) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR) return true;  // gone meanwhile
    warn_(fmt::format("watch: cannot watch {} ({}): its location is scanned every second",
                      dir.string(), std::strerror(err)));
    return false;
  }
  folders_[wd] = {dir, location, false};
  if (depth >= deepest) return true;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (ignored_name(it->path().filename().string())) continue;
    if (it->is_directory(ec) && !watch_tree(it->path(), depth + 1, location)) return false;
  }
  return true;
}

// A folder moved out of a location: its watches (and those of the folders in it) go.
void folder_watch::forget_under(const fs::path& dir) {
  for (auto it = folders_.begin(); it != folders_.end();) {
    const auto rel = it->second.dir.lexically_relative(dir);
    if (!it->second.parent_only && !rel.empty() && *rel.begin() != "..") {
      ::inotify_rm_watch(inotify_, it->first);
      it = folders_.erase(it);
    } else {
      ++it;
    }
  }
}

void folder_watch::scan_instead(std::size_t i) {
  scanned_[locations_[i]] = signature(locations_[i]);
  if (!scanning_) {
    scanning_ = true;
    scan();
  }
}

void folder_watch::read_events() {
  events_->async_wait(asio::posix::stream_descriptor::wait_read,
                      [this](const boost::system::error_code& ec) {
                        if (ec) return;
                        handle_events();
                        read_events();
                      });
}

void folder_watch::handle_events() {
  ssize_t n = 0;
  while ((n = ::read(inotify_, buffer_.data(), buffer_.size())) > 0) {
    for (ssize_t at = 0; at < n;) {
      inotify_event e{};
      std::memcpy(&e, buffer_.data() + at, sizeof e);
      const std::string name = e.len > 0 ? std::string(buffer_.data() + at + sizeof e) : "";
      at += static_cast<ssize_t>(sizeof e + e.len);
      handle(e.mask, e.wd, name);
    }
  }
}

void folder_watch::handle(std::uint32_t mask, int wd, const std::string& name) {
  if (mask & IN_Q_OVERFLOW) {
    for (std::size_t i = 0; i < locations_.size(); ++i) watch_location(i, true);
    return noticed("many files at once");
  }
  const auto at = folders_.find(wd);
  if (at == folders_.end()) return;
  const auto f = at->second;
  if (mask & IN_IGNORED) {  // the folder is gone
    folders_.erase(at);
    return;
  }
  if (!f.parent_only && (mask & (IN_MOVE_SELF | IN_DELETE_SELF))) {  // moved away, or gone
    watch_location(f.location, true);
    return noticed(f.dir.string());
  }
  if (f.parent_only || (mask & (IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE))) {
    for (std::size_t i = 0; i < locations_.size(); ++i) {  // the location itself changed
      if (locations_[i] == f.dir / name) {
        watch_location(i, true);
        return noticed(locations_[i].string());
      }
    }
  }
  if (f.parent_only || ignored_name(name)) return;
  if ((mask & IN_ISDIR) && (mask & IN_MOVED_FROM)) forget_under(f.dir / name);
  if ((mask & IN_ISDIR) && (mask & (IN_CREATE | IN_MOVED_TO)) &&
      !watch_tree(f.dir / name, 1, f.location)) {
    scan_instead(f.location);
  }
  noticed(name.empty() ? f.dir.string() : (f.dir / name).string());
}

// A file system mounted on (or from) a folder of a location: inotify says nothing of it, the
// mount table does (/proc/self/mountinfo turns "exceptional" when it changes).
void folder_watch::watch_mounts() {
  if (!mountinfo_) {
    const int fd = ::open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    mountinfo_ = std::make_unique<asio::posix::stream_descriptor>(burst_.get_executor(), fd);
    mounts_ = mounts_under_locations();
  }
  mountinfo_->async_wait(asio::posix::stream_descriptor::wait_error,
                         [this](const boost::system::error_code& ec) {
                           if (ec) return;
                           auto now = mounts_under_locations();
                           if (now != mounts_) {
                             mounts_ = std::move(now);
                             for (std::size_t i = 0; i < locations_.size(); ++i) {
                               watch_location(i, true);
                             }
                             noticed("a file system mounted in a plugin location");
                           }
                           watch_mounts();
                         });
}

// The mount points within the locations, one per line (read from the start: that also tells
// the kernel the change was seen).
std::string folder_watch::mounts_under_locations() const {
  std::string text;
  char buffer[16 * 1024];
  ::lseek(mountinfo_->native_handle(), 0, SEEK_SET);
  for (ssize_t n; (n = ::read(mountinfo_->native_handle(), buffer, sizeof buffer)) > 0;) {
    text.append(buffer, static_cast<std::size_t>(n));
  }
  std::string out;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string id, parent, device, root, point;
    fields >> id >> parent >> device >> root >> point;
    for (const auto& l : locations_) {
      std::error_code ec;
      const auto rel = fs::path(point).lexically_relative(fs::weakly_canonical(l, ec));
      if (!rel.empty() && *rel.begin() != "..") out += point + "\n";
    }
  }
  return out;
}

// One change of a burst: the burst is said once it is quiet, or `longest` after it began.
void folder_watch::noticed(const std::string& what) {
  const auto now = std::chrono::steady_clock::now();
  if (!in_burst_) {
    in_burst_ = true;
    burst_began_ = now;
    first_change_ = what;
  }
  burst_.expires_at(std::min(now + quiet, burst_began_ + longest));
  burst_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;  // moved by a later change
    in_burst_ = false;
    changed_(first_change_);
  });
}

void folder_watch::scan() {
  if (scanned_.empty()) {
    scanning_ = false;
    return;
  }
  std::vector<std::size_t> back;  // found again where inotify can watch them
  for (auto& [location, last] : scanned_) {
    auto now = signature(location);
    if (now == last) continue;
    last = std::move(now);
    noticed(location.string());
    struct stat st {};
    if (events_ && ::stat(location.c_str(), &st) == 0 && !remote_file_system(location)) {
      back.push_back(static_cast<std::size_t>(
          std::find(locations_.begin(), locations_.end(), location) - locations_.begin()));
    }
  }
  for (const auto i : back) watch_location(i, true);
  scan_timer_.expires_after(scan_period);
  scan_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) scan();
  });
}

// What discovery would see of a location: each entry (hidden ones skipped, symbolic links
// followed), its kind, size, mode, inode and time of change.
std::string folder_watch::signature(const fs::path& location) const {
  std::string out;
  const auto add = [&](const fs::path& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return out.append(p.string()).append(" -\n"), false;
    out += fmt::format("{} {} {} {} {}.{}\n", p.string(), st.st_mode, st.st_size, st.st_ino,
                       st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
    return S_ISDIR(st.st_mode);
  };
  if (!add(location)) return out;
  std::error_code ec;
  fs::recursive_directory_iterator it(location, fs::directory_options::follow_directory_symlink,
                                      ec);
  for (fs::recursive_directory_iterator end; !ec && it != end; it.increment(ec)) {
    if (ignored_name(it->path().filename().string())) {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (it.depth() >= deepest) it.disable_recursion_pending();
    add(it->path());
  }
  return out;
}

}  // namespace plughost::detail
