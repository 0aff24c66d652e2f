// Test helpers over real processes and files (see test_support.hpp).
#include "test_support.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace plughost::test {

namespace {
std::string temp_root() {
  const char* t = std::getenv("TMPDIR");
  return t && *t ? t : "/tmp";
}

// Whether `pid` is a plughost guardian (it names itself so).
bool is_guardian(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(in, name);
  return name == "plughost-guard";
}

// Everything the test started is killed; a guardian of a plughost the test killed is still
// stopping what its host left and then removes its cgroup folders: killed midway, it would leave
// them behind. So it is given up to 5 s to end by itself once everything else is gone.
void kill_marked(const std::string& marker) {
  const auto guardians_until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (int round = 0; round < 300; ++round) {
    const auto pids = processes_with_marker(marker);
    if (pids.empty()) return;
    const bool patient = std::chrono::steady_clock::now() < guardians_until;
    for (const auto pid : pids) {
      if (!patient || !is_guardian(pid)) ::kill(pid, SIGKILL);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}
}  // namespace

temp_dir::temp_dir() {
  std::string templ = temp_root() + "/plughost-test-XXXXXX";
  if (!::mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
  path_ = templ;
  marker_ = "PLUGHOST_TEST_MARKER=" + path_.filename().string();
}

temp_dir::~temp_dir() {
  kill_marked(marker_);
  std::error_code ec;
  fs::remove_all(path_, ec);
}

fs::path temp_dir::write(const fs::path& relative, const std::string& content,
                         fs::perms mode) const {
  const auto p = path_ / relative;
  fs::create_directories(p.parent_path());
  {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << content;
  }
  fs::permissions(p, mode);
  return p;
}

fs::path plughost_binary() {
  return folder_from_environment("PLUGHOST_BINARY");
}

fs::path folder_from_environment(const char* variable) {
  if (const char* p = std::getenv(variable); p && *p) return p;
  static const std::map<std::string, std::string> built = {
      {"PLUGHOST_BINARY", PLUGHOST_BINARY},
      {"PLUGHOST_SOURCE_DIR", PLUGHOST_SOURCE_DIR},
      {"PLUGHOST_BUILD_DIR", PLUGHOST_BUILD_DIR},
      {"PLUGHOST_TEST_MODULES", PLUGHOST_TEST_MODULES}};
  const auto it = built.find(variable);
  if (it == built.end()) throw std::runtime_error(std::string("unknown test path ") + variable);
  return it->second;
}

std::vector<std::string> clean_environment(const std::vector<std::string>& extra) {
  std::vector<std::string> out;
  for (char** e = ::environ; e && *e; ++e) {
    const std::string_view entry(*e);
    if (entry.rfind("LMCACHE_", 0) == 0 || entry.rfind("PLUGHOST_", 0) == 0 ||
        entry.rfind("PYTHONUNBUFFERED=", 0) == 0) {
      continue;
    }
    out.emplace_back(entry);
  }
  out.insert(out.end(), extra.begin(), extra.end());
  return out;
}

child_process::child_process(const options& o) {
  std::vector<char*> argv;
  for (const auto& a : o.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : o.environment) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  auto open_out = [](const fs::path& p) {
    return ::open(p.empty() ? "/dev/null" : p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                  0644);
  };
  const int out_fd = open_out(o.stdout_file);
  const int err_fd = open_out(o.stderr_file);
  const int in_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_ = ::fork();
  if (pid_ == 0) {
    ::dup2(in_fd, 0);
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    if (!o.working_dir.empty() && ::chdir(o.working_dir.c_str()) != 0) ::_exit(126);
    if (o.in_child) o.in_child();
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(out_fd);
  ::close(err_fd);
  ::close(in_fd);
  if (pid_ < 0) throw std::runtime_error("fork failed");
}

child_process::~child_process() {
  if (pid_ > 0 && !reaped_) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

void child_process::signal(int sig) const {
  ::kill(pid_, sig);
}

std::optional<int> child_process::wait_for(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    const auto r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      return status;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

run_result run_plughost(const std::vector<std::string>& args, const std::vector<std::string>& env,
                        const temp_dir& dir, std::chrono::milliseconds timeout) {
  static int counter = 0;
  const auto n = std::to_string(++counter);
  const auto out_file = dir.path() / ("plughost-" + n + ".out");
  const auto err_file = dir.path() / ("plughost-" + n + ".err");
  std::vector<std::string> argv{plughost_binary().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  run_result result;
  {
    child_process p({argv, env, out_file, err_file, {}, {}});
    const auto status = p.wait_for(timeout);
    if (status && WIFEXITED(*status)) result.exit_code = WEXITSTATUS(*status);
  }
  result.out = read_file(out_file);
  result.err = read_file(err_file);
  return result;
}

bool as_nobody(const std::function<bool()>& what) {
  const pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(2);
    ::_exit(what() ? 0 : 1);
  }
  int status = 0;
  return ::waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

bool create_as_nobody(const fs::path& file, mode_t mode) {
  return as_nobody([&] {
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    return fd >= 0 && ::fchmod(fd, mode) == 0;
  });
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<json> read_jsonl(const fs::path& p) {
  std::vector<json> out;
  std::ifstream in(p, std::ios::binary);
  std::string line;
  while (std::getline(in, line)) out.push_back(json::parse(line));
  return out;
}

int free_port(int type) {
  const int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t size = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &size);
  ::close(fd);
  return ntohs(a.sin_port);
}

bool eventually(const std::function<bool()>& predicate, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!predicate()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

bool process_alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string content;
  if (!std::getline(stat, content)) return false;
  const auto paren = content.rfind(')');
  return paren != std::string::npos && paren + 2 < content.size() && content[paren + 2] != 'Z';
}

std::vector<pid_t> processes_with_marker(const std::string& marker) {
  std::vector<pid_t> out;
  DIR* proc = ::opendir("/proc");
  if (!proc) return out;
  while (const dirent* e = ::readdir(proc)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end != '\0' || pid == ::getpid()) continue;
    const auto environ_text = read_file(fs::path("/proc") / e->d_name / "environ");
    std::string_view view(environ_text);
    bool found = false;
    while (!view.empty()) {
      const auto nul = view.find('\0');
      if (view.substr(0, nul) == marker) {
        found = true;
        break;
      }
      if (nul == std::string_view::npos) break;
      view.remove_prefix(nul + 1);
    }
    if (found && process_alive(static_cast<pid_t>(pid))) out.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(proc);
  return out;
}

}  // namespace plughost::test
