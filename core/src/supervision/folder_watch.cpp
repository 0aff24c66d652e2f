// The plugin locations watched (folder_watch.hpp).
#include "supervision/folder_watch.hpp"

#include <fmt/format.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

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
  for (const auto& location : locations_) {
    const auto remote = events_ ? remote_file_system(location) : std::nullopt;
    struct stat st {};
    const bool exists = ::stat(location.c_str(), &st) == 0;
    if (events_ && exists && !remote) {
      const auto before = folders_.size();
      if (S_ISDIR(st.st_mode)) {
        watch_tree(location, 0);
      } else {  // a location that is one file: its folder
        watch_tree(location.parent_path(), deepest);
      }
      if (folders_.size() > before) continue;
    }
    if (remote) {
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
    scanned_[location] = signature(location);
  }
  if (events_) read_events();
  if (!scanned_.empty()) scan();
}

folder_watch::~folder_watch() {
  boost::system::error_code ec;
  burst_.cancel();
  scan_timer_.cancel();
  if (events_) events_->close(ec);  // closes inotify_
}

// Watches `dir` and, as discovery walks it, every folder in it that is not hidden.
void folder_watch::watch_tree(const fs::path& dir, int depth) {
  const int wd = ::inotify_add_watch(inotify_, dir.c_str(), folder_events | IN_ONLYDIR);
  if (wd < 0) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR) return;  // gone meanwhile
    warn_(fmt::format("watch: cannot watch {} ({}): its location is scanned every second",
                      dir.string(), std::strerror(err)));
    return;
  }
  folders_[wd] = dir;
  if (depth >= deepest) return;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (ignored_name(it->path().filename().string())) continue;
    if (it->is_directory(ec)) watch_tree(it->path(), depth + 1);
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
      if (e.mask & IN_Q_OVERFLOW) noticed("many files at once");
      const auto folder = folders_.find(e.wd);
      if (folder == folders_.end()) continue;
      const auto dir = folder->second;
      if (e.mask & IN_IGNORED) {  // the folder is gone
        folders_.erase(folder);
        continue;
      }
      if (ignored_name(name)) continue;
      if ((e.mask & IN_ISDIR) && (e.mask & (IN_CREATE | IN_MOVED_TO))) watch_tree(dir / name, 1);
      noticed(name.empty() ? dir.string() : (dir / name).string());
    }
  }
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
  for (auto& [location, last] : scanned_) {
    auto now = signature(location);
    if (now != last) {
      last = std::move(now);
      noticed(location.string());
    }
  }
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
