// A run's processes: its process group, and what left the group, found in /proc among
// plughost's descendants by the run's mark in their environment.
#include "supervision/run_processes.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <unordered_map>
#include <vector>

#include "common/log.hpp"

namespace plughost::detail {

namespace {

// How long a look through /proc serves signals sent after it (a stop of a thousand runs sends a
// thousand). Whether a run is over never uses an older look than its group's end (alive()).
constexpr auto look_again_after = std::chrono::milliseconds(250);

struct process_info {
  pid_t pid = 0;
  pid_t parent = 0;
  pid_t group = 0;
  bool zombie = false;
};

// From /proc/<pid>/stat: "pid (comm) state ppid pgrp ...", comm may hold anything.
std::optional<process_info> read_process(pid_t pid) {
  char path[32];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char stat[512];
  const auto n = ::read(fd, stat, sizeof stat - 1);
  ::close(fd);
  if (n <= 0) return std::nullopt;
  stat[n] = '\0';
  const char* p = std::strrchr(stat, ')');
  long parent = 0, group = 0;
  if (!p || p[1] != ' ' || std::sscanf(p + 3, "%ld %ld", &parent, &group) != 2) return std::nullopt;
  return process_info{pid, static_cast<pid_t>(parent), static_cast<pid_t>(group),
                      p[2] == 'Z' || p[2] == 'X'};
}

std::vector<process_info> every_process() {
  std::vector<process_info> out;
  DIR* dir = ::opendir("/proc");
  if (!dir) return out;
  while (const auto* entry = ::readdir(dir)) {
    const std::string_view name(entry->d_name);
    int pid = 0;
    const auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), pid);
    if (ec != std::errc() || end != name.data() + name.size() || pid <= 0) continue;
    if (auto p = read_process(pid)) out.push_back(*p);
  }
  ::closedir(dir);
  return out;
}

// The children of a process: /proc/<pid>/task/<tid>/children of each of its threads (an orphan
// is adopted by one thread of its subreaper). nullopt where the kernel does not list them
// (CONFIG_PROC_CHILDREN).
std::optional<std::vector<pid_t>> children_of(pid_t pid) {
  const auto tasks = fmt::format("/proc/{}/task", pid);
  DIR* dir = ::opendir(tasks.c_str());
  if (!dir) return std::vector<pid_t>{};  // it has ended
  std::vector<pid_t> out;
  bool listed = true;
  while (const auto* entry = ::readdir(dir)) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
    const auto path = fmt::format("{}/{}/children", tasks, entry->d_name);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      listed = listed && errno != ENOENT;
      continue;
    }
    std::string text;
    char buffer[4096];
    ssize_t n = 0;
    while ((n = ::read(fd, buffer, sizeof buffer)) > 0)
      text.append(buffer, static_cast<std::size_t>(n));
    ::close(fd);
    const char* at = text.data();
    const char* end = text.data() + text.size();
    while (at < end) {
      int child = 0;
      const auto [next, ec] = std::from_chars(at, end, child);
      if (ec == std::errc() && child > 0) out.push_back(child);
      at = next == at ? at + 1 : next;
    }
  }
  ::closedir(dir);
  if (!listed) return std::nullopt;
  return out;
}

// The value of `variable` in the environment a process was started with (/proc/<pid>/environ),
// read in pieces: it may hold megabytes. nullopt when absent or unreadable (another user's).
std::optional<std::string> environment_value(pid_t pid, std::string_view variable) {
  char path[32];
  std::snprintf(path, sizeof path, "/proc/%d/environ", static_cast<int>(pid));
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  const std::string prefix = std::string(variable) + "=";
  std::string entry;  // the start of the current entry: enough to tell whether it is the one
  bool skipping = false;
  char buffer[8192];
  std::optional<std::string> found;
  while (!found) {
    const auto n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (ssize_t i = 0; i < n && !found; ++i) {
      if (buffer[i] == '\0') {
        if (!skipping && entry.rfind(prefix, 0) == 0) found = entry.substr(prefix.size());
        entry.clear();
        skipping = false;
      } else if (!skipping) {
        entry.push_back(buffer[i]);
        // Not the one (or a value far longer than a mark): the rest of it is skipped.
        skipping = entry.size() > prefix.size() + 64 ||
                   (entry.size() <= prefix.size() && prefix.compare(0, entry.size(), entry) != 0);
      }
    }
  }
  ::close(fd);
  return found;
}

class group_run_processes final : public run_processes {
 public:
  group_run_processes(pid_t host, pid_t own) : host_(host), own_(own) {}
  ~group_run_processes() override {
    for (auto& [group, r] : runs_) close_all(r);
  }

  std::string mark(run_id id) const override {
    return fmt::format("{}={}:{}", run_mark_variable, host_, id);
  }

  void started(run_id id, pid_t group) override {
    runs_[group].id = id;
    groups_by_run_[id] = group;
  }

  void signal(pid_t group, int sig) override {
    if (group <= 0) return;  // kill(-0) would signal our own group
    if (::kill(-group, sig) != 0 && errno != ESRCH) {
      log().warn("cannot send {} to process group {}: {}", signal_name(sig), group,
                 std::strerror(errno));
    }
    const auto it = runs_.find(group);
    if (it == runs_.end()) return;
    if (std::chrono::steady_clock::now() - looked_at_ > look_again_after) look();
    for (const auto& e : it->second.outside) send(e, sig);
  }

  bool alive(pid_t group) override {
    if (group > 0 && (::kill(-group, 0) == 0 || errno == EPERM)) return true;
    const auto it = runs_.find(group);
    if (it == runs_.end()) return false;
    auto& r = it->second;
    if (!r.empty_since) r.empty_since = looks_;
    prune(r);
    // Its group is empty: everything that left it has left it by now, and one look started
    // since finds it.
    if (r.outside.empty() && *r.empty_since == looks_) look_at_adopted();
    return !r.outside.empty();
  }

  void ended(pid_t group) override {
    const auto it = runs_.find(group);
    if (it == runs_.end()) return;
    close_all(it->second);
    groups_by_run_.erase(it->second.id);
    runs_.erase(it);
  }

 private:
  // A process of a run outside its group, held by a pidfd where the kernel has them: neither a
  // signal nor a look at it can reach another process that reused its pid.
  struct escaped {
    pid_t pid = 0;
    int pidfd = -1;
  };
  struct run {
    run_id id = 0;
    std::vector<escaped> outside;
    // How many looks had started when its group was seen empty with nothing known outside it:
    // a later look has seen all it left.
    std::optional<std::uint64_t> empty_since;
  };

  static void close_all(run& r) {
    for (const auto& e : r.outside) {
      if (e.pidfd >= 0) ::close(e.pidfd);
    }
    r.outside.clear();
  }

  static void send(const escaped& e, int sig) {
    if (e.pidfd >= 0) {
      ::syscall(SYS_pidfd_send_signal, e.pidfd, sig, nullptr, 0);
    } else {
      ::kill(e.pid, sig);
    }
  }

  static bool still_there(const escaped& e) {
    if (e.pidfd >= 0) {
      struct pollfd exited {
        e.pidfd, POLLIN, 0
      };
      return ::poll(&exited, 1, 0) == 0;  // readable once it has exited
    }
    const auto p = read_process(e.pid);
    return p && !p->zombie;
  }

  // Forgets what has ended; once nothing is left, the next alive() looks again (what has ended
  // may have started others).
  void prune(run& r) {
    const auto before = r.outside.size();
    std::erase_if(r.outside, [](const escaped& e) {
      if (still_there(e)) return false;
      if (e.pidfd >= 0) ::close(e.pidfd);
      return true;
    });
    if (before > 0 && r.outside.empty()) r.empty_since = looks_;
  }

  void add(run& r, const process_info& p) {
    if (std::any_of(r.outside.begin(), r.outside.end(),
                    [&](const escaped& e) { return e.pid == p.pid; })) {
      return;
    }
    escaped e{p.pid, static_cast<int>(::syscall(SYS_pidfd_open, p.pid, 0))};
    if (e.pidfd >= 0) {
      ::fcntl(e.pidfd, F_SETFD, FD_CLOEXEC);
      // The pid could have been reused between the look and the pidfd: still the same one?
      const auto now = read_process(p.pid);
      if (!now || now->parent != p.parent || now->group != p.group || now->zombie) {
        ::close(e.pidfd);
        return;
      }
    }
    r.outside.push_back(e);
  }

  // The run a process's mark names, if it is one of ours.
  run* marked(pid_t pid) {
    const auto value = environment_value(pid, run_mark_variable);
    if (!value) return nullptr;
    const auto colon = value->find(':');
    if (colon == std::string::npos || value->substr(0, colon) != std::to_string(host_)) {
      return nullptr;
    }
    run_id id = 0;
    const auto* first = value->data() + colon + 1;
    const auto* last = value->data() + value->size();
    if (const auto [end, ec] = std::from_chars(first, last, id); ec != std::errc() || end != last) {
      return nullptr;
    }
    const auto group = groups_by_run_.find(id);
    return group == groups_by_run_.end() ? nullptr : &runs_.at(group->second);
  }

  // The process `p` and what descends from it: whose run they are (see look()).
  void walk(const process_info& p, run* parents_run) {
    run* owner = nullptr;
    if (const auto in_group = runs_.find(p.group); in_group != runs_.end()) {
      owner = &in_group->second;
    } else {
      owner = marked(p.pid);
      if (!owner) owner = parents_run;
      if (owner && !p.zombie) add(*owner, p);
    }
    for (const auto child : children_of(p.pid).value_or(std::vector<pid_t>{})) {
      if (const auto c = read_process(child)) walk(*c, owner);
    }
  }

  // What is left of a run whose group is empty: the processes that left it have lost every
  // ancestor in it, so the first of each line is an orphan plughost adopted as subreaper. Only
  // plughost's children outside every run's group are looked at, and what descends from them:
  // cheap, also when a thousand groups end one after the other.
  void look_at_adopted() {
    auto children = children_of(host_);
    if (!children) return look();  // the kernel does not list children: all of /proc then
    ++looks_;
    for (const auto child : *children) {
      if (runs_.count(child) || child == own_) continue;  // a run's main process; the guardian
      const auto p = read_process(child);
      if (!p || runs_.count(p->group)) continue;
      walk(*p, nullptr);
    }
  }

  // Walks plughost's descendants: a process belongs to the run of its group, else to the run
  // its mark names, else to its parent's (one that replaced its environment). Those of a run
  // outside its group are what group signals miss.
  void look() {
    ++looks_;  // before reading: it covers every group seen empty until now
    const auto processes = every_process();
    looked_at_ = std::chrono::steady_clock::now();
    std::unordered_map<pid_t, std::vector<const process_info*>> children;
    for (const auto& p : processes) children[p.parent].push_back(&p);
    std::vector<std::pair<pid_t, run*>> to_visit{{host_, nullptr}};
    while (!to_visit.empty()) {
      const auto [pid, parents_run] = to_visit.back();
      to_visit.pop_back();
      const auto kids = children.find(pid);
      if (kids == children.end()) continue;
      for (const auto* child : kids->second) {
        if (child->pid == own_) continue;
        run* owner = nullptr;
        if (const auto in_group = runs_.find(child->group); in_group != runs_.end()) {
          owner = &in_group->second;  // group signals reach it
        } else {
          owner = marked(child->pid);
          if (!owner) owner = parents_run;
          if (owner && !child->zombie) add(*owner, *child);
        }
        to_visit.emplace_back(child->pid, owner);
      }
    }
  }

  pid_t host_;
  pid_t own_;                  // plughost's own child, never a run's
  std::map<pid_t, run> runs_;  // by process group
  std::unordered_map<run_id, pid_t> groups_by_run_;
  std::chrono::steady_clock::time_point looked_at_{};
  std::uint64_t looks_ = 0;  // started
};

}  // namespace

std::unique_ptr<run_processes> make_group_run_processes(pid_t host, pid_t own) {
  return std::make_unique<group_run_processes>(host, own);
}

}  // namespace plughost::detail
