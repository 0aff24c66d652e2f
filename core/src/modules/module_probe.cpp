// A module file loaded in a forked child that reports what it found as JSON lines on a pipe;
// the parent reads them until the child says it is done, or exits, or runs out of time.
#include "modules/module_probe.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "common/signal_dispositions.hpp"
#include "modules/module_registry.hpp"
#include "plughost/sink.hpp"
#include "plughost/sink_helpers.hpp"

namespace plughost::detail {

namespace {

using json = nlohmann::json;
using clock = std::chrono::steady_clock;

constexpr std::string_view done_line = "{\"done\":true}\n";

void send(int fd, const json& message) {
  write_fully(fd, message.dump(-1, ' ', false, json::error_handler_t::replace) + "\n");
}

// The child: load the file, describe what it holds, exit without running anything of the
// parent's (no atexit handlers, no destructors, no stdio buffers flushed twice).
[[noreturn]] void probe_in_child(const std::filesystem::path& file, int out, pid_t parent) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(1);
  ::prctl(PR_SET_DUMPABLE, 0);  // a crash is reported, not left as a core file
  ::setpgid(0, 0);              // so that a timeout kills what the module started, too
  // The parent's handlers and mask are not the child's business: a crash must be a crash.
  reset_signal_dispositions();
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  if (const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC); null >= 0) {
    ::dup2(null, STDIN_FILENO);
    ::dup2(null, STDOUT_FILENO);
  }
  try {
    const auto loaded = load_module_file(file);
    for (const auto& m : loaded.modules) {
      // A runner's factory runs next: if it crashes, the parent says so.
      if (m.descriptor->kind == module_kind::runner) {
        send(out, {{"creating", std::string(m.descriptor->name)}});
      }
      const auto s = summarize(m);
      send(out, {{"module",
                  {{"kind", std::string(to_string(s.kind))},
                   {"name", s.name},
                   {"abi_version", s.abi_version},
                   {"description", s.description},
                   {"extensions", s.extensions},
                   {"failure", s.failure},
                   {"built_with", s.built_with}}}});
    }
    for (const auto& f : loaded.failures) send(out, {{"failure", f.reason}});
    send(out, {{"done", true}});
  } catch (...) {
    ::_exit(2);
  }
  ::_exit(0);
}

std::string signal_name(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  return abbrev ? fmt::format("SIG{}", abbrev) : fmt::format("signal {}", sig);
}

// Reads what the child writes until it is done or closes the pipe (true), or until `deadline`
// (false).
bool read_report(int fd, clock::time_point deadline, std::string& text) {
  char buffer[4096];
  while (!text.ends_with(done_line)) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno != EINTR) return true;
    if (ready <= 0) continue;
    const auto n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return true;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  return true;
}

// What the child's report says, when it got to the end.
probe_result parse_report(const std::string& text, const std::string& source) {
  probe_result out;
  std::size_t start = 0;
  for (auto end = text.find('\n'); end != std::string::npos;
       start = end + 1, end = text.find('\n', start)) {
    const auto line = json::parse(text.substr(start, end - start), nullptr, false);
    if (line.contains("failure")) out.failures.push_back({source, line["failure"]});
    if (!line.contains("module")) continue;
    const auto& m = line["module"];
    module_summary p;
    p.kind = m["kind"] == "sink" ? module_kind::sink : module_kind::runner;
    p.name = m["name"];
    p.abi_version = m["abi_version"];
    p.description = m["description"];
    p.extensions = m["extensions"];
    p.failure = m["failure"];
    p.built_with = m.value("built_with", "");
    out.modules.push_back(std::move(p));
  }
  return out;
}

// Why the child ended before it was done: its last words ("creating": a runner's factory) and
// how it ended.
std::string why_it_ended(const std::string& text, int status, bool timed_out,
                         std::chrono::milliseconds timeout) {
  std::string during = "loading";
  if (const auto last = text.rfind("{\"creating\":"); last != std::string::npos) {
    const auto line = json::parse(text.substr(last, text.find('\n', last) - last), nullptr, false);
    if (line.contains("creating")) {
      during = fmt::format("creating runner {} with its default settings",
                           line["creating"].get<std::string>());
    }
  }
  if (timed_out) {
    return fmt::format("was still {} after {:g} s (killed)", during,
                       std::chrono::duration<double>(timeout).count());
  }
  if (WIFSIGNALED(status)) {
    return fmt::format("crashed while {} ({})", during, signal_name(WTERMSIG(status)));
  }
  if (WIFEXITED(status)) {
    return fmt::format("exited with status {} while {}", WEXITSTATUS(status), during);
  }
  return fmt::format("ended while {}", during);
}

}  // namespace

probe_result probe_module_file(const std::filesystem::path& file,
                               std::chrono::milliseconds timeout) {
  const auto source = file.string();
  const auto fail = [&](std::string reason) {
    probe_result out;
    out.failures.push_back({source, std::move(reason)});
    return out;
  };
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return fail(fmt::format("cannot be loaded in a child process: pipe: {}", std::strerror(errno)));
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    return fail(fmt::format("cannot be loaded in a child process: fork: {}", std::strerror(err)));
  }
  if (pid == 0) {
    ::close(fds[0]);
    probe_in_child(file, fds[1], parent);
  }
  ::close(fds[1]);
  ::setpgid(pid, pid);  // as the child does: whichever runs first
  std::string text;
  const bool finished = read_report(fds[0], clock::now() + timeout, text);
  ::close(fds[0]);
  if (!finished) {
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (text.ends_with(done_line)) {
    try {
      return parse_report(text, source);
    } catch (const std::exception& e) {  // not what the child writes: something else wrote too
      return fail(
          fmt::format("what the child process that loaded it reported cannot be read "
                      "({})",
                      e.what()));
    }
  }
  return fail(why_it_ended(text, status, !finished, timeout));
}

}  // namespace plughost::detail
