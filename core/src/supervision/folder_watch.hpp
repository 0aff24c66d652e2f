// plughost.watch (docs/running.md, "Watched folders"): the plugin locations watched for files
// added, changed or removed, each burst of changes said once (an editor's save, a Kubernetes
// ConfigMap's atomic `..data` swap), so that the supervisor reloads as on SIGHUP. inotify on
// each folder of a location (as discovery walks them: hidden ones skipped); a location where
// inotify cannot see every change (a network file system, no inotify left) is scanned every
// second instead, with a warning.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace plughost::detail {

class folder_watch {
 public:
  /// How changes are found: inotify where it works (else a scan), or always a scan.
  enum class method { notify, scan };
  /// `changed` gets what changed, in words ("/plugins/a.py"), once per burst, on the
  /// executor's thread. `warn` says why a location is scanned.
  folder_watch(const boost::asio::any_io_executor& executor,
               std::vector<std::filesystem::path> locations, method how,
               std::function<void(const std::string& what)> changed,
               std::function<void(const std::string& warning)> warn);
  ~folder_watch();
  folder_watch(const folder_watch&) = delete;
  folder_watch& operator=(const folder_watch&) = delete;

  /// A burst ends once nothing changed for `quiet`, or `longest` after its first change.
  static constexpr std::chrono::milliseconds quiet{150}, longest{600};
  static constexpr std::chrono::seconds scan_period{1};

 private:
  struct folder {
    std::filesystem::path dir;
    std::size_t location = 0;
    bool parent_only = false;  // a location's parent: only events about the location count
  };
  void watch_location(std::size_t i, bool silent);
  bool watch_tree(const std::filesystem::path& dir, int depth, std::size_t location);
  void forget_under(const std::filesystem::path& dir);
  void scan_instead(std::size_t i);
  void read_events();
  void handle_events();
  void handle(std::uint32_t mask, int wd, const std::string& name);
  void watch_mounts();
  std::string mounts_under_locations() const;
  void noticed(const std::string& what);
  void scan();
  std::string signature(const std::filesystem::path& location) const;

  std::vector<std::filesystem::path> locations_;
  std::function<void(const std::string&)> changed_, warn_;
  int inotify_ = -1;
  std::unique_ptr<boost::asio::posix::stream_descriptor> events_, mountinfo_;
  std::map<int, folder> folders_;  // by watch descriptor
  std::vector<char> buffer_;
  std::map<std::filesystem::path, std::string> scanned_;  // location → its last signature
  std::string mounts_;  // the mount points under the locations, last seen
  boost::asio::steady_timer burst_, scan_timer_;
  std::chrono::steady_clock::time_point burst_began_{};
  bool in_burst_ = false, scanning_ = false;
  std::string first_change_;
};

}  // namespace plughost::detail
