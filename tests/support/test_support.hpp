// Helpers for tests that use real files and real processes: temporary folders, starting the
// plughost binary, reading its records, and killing every process a test left behind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace plughost::test {

namespace fs = std::filesystem;
using json = nlohmann::json;

/// A fresh folder under $TMPDIR (or /tmp), removed with everything in it at destruction, after
/// SIGKILL to every process whose environment carries this folder's marker.
class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const fs::path& path() const noexcept { return path_; }
  /// "PLUGHOST_TEST_MARKER=<unique>": put it in the environment of what a test starts.
  const std::string& marker() const noexcept { return marker_; }

  /// Writes `content` to path()/relative (creating folders) and sets `mode`.
  fs::path write(const fs::path& relative, const std::string& content,
                 fs::perms mode = fs::perms(0644)) const;

 private:
  fs::path path_;
  std::string marker_;
};

/// The plughost binary under test ($PLUGHOST_BINARY, else the one this build made).
fs::path plughost_binary();

/// A path of this build: PLUGHOST_BINARY, PLUGHOST_SOURCE_DIR, PLUGHOST_BUILD_DIR or
/// PLUGHOST_TEST_MODULES, from the environment variable of that name if set, else as the build
/// configured it.
fs::path folder_from_environment(const char* variable);

/// This process's environment without LMCACHE_* and PLUGHOST_* variables and without
/// PYTHONUNBUFFERED (which plughost sets for python plugins: tests must see that it does), plus
/// `extra`.
std::vector<std::string> clean_environment(const std::vector<std::string>& extra = {});

/// A started child process, killed and reaped at destruction if still running.
class child_process {
 public:
  struct options {
    std::vector<std::string> argv;
    std::vector<std::string> environment;
    fs::path stdout_file;  ///< empty: /dev/null
    fs::path stderr_file;  ///< empty: /dev/null
    fs::path working_dir;  ///< empty: inherit
    /// Runs in the child after fork, before exec (async-signal-safe calls only): to give the
    /// program an unusual starting state (ignored signals, extra descriptors, limits).
    std::function<void()> in_child;
  };
  explicit child_process(const options& o);
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const noexcept { return pid_; }
  void signal(int sig) const;
  /// Waits up to `timeout` for the exit; returns the raw wait status, or nullopt on timeout.
  std::optional<int> wait_for(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
};

struct run_result {
  int exit_code = -1;  ///< -1 when killed by a signal or timed out
  std::string out;
  std::string err;
};

/// Runs plughost with `args` to completion (SIGKILL after `timeout`, which fails the test).
run_result run_plughost(const std::vector<std::string>& args, const std::vector<std::string>& env,
                        const temp_dir& dir,
                        std::chrono::milliseconds timeout = std::chrono::seconds(60));

std::string read_file(const fs::path& p);

/// Runs `what` in a child process as the user `nobody` (uid and gid 65534), as another user on
/// the machine would act (planting a file or a FIFO). Returns whether it returned true.
bool as_nobody(const std::function<bool()>& what);
/// A file `nobody` creates with `mode` (what it would plant before plughost first runs).
bool create_as_nobody(const fs::path& file, mode_t mode);
/// Every line of a JSON Lines file, parsed.
std::vector<json> read_jsonl(const fs::path& p);

/// A port of 127.0.0.1 free for `type` (SOCK_STREAM, SOCK_DGRAM) a moment ago: the kernel picked
/// it, and it is released for a server of the test's to take.
int free_port(int type);

/// Polls (every 20 ms, up to `timeout`) until `predicate` holds; returns whether it did.
/// Only for waiting on another process; never used to assert timing.
bool eventually(const std::function<bool()>& predicate,
                std::chrono::milliseconds timeout = std::chrono::seconds(30));

/// The what() of the E that `f` throws, or "(no error)".
template <typename E>
std::string error_text(const std::function<void()>& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "(no error)";
}

/// Whether a process with this pid exists and is not a zombie.
bool process_alive(pid_t pid);

/// Pids of live (non-zombie) processes whose environment contains `marker`.
std::vector<pid_t> processes_with_marker(const std::string& marker);

}  // namespace plughost::test
