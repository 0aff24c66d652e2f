// How a run says it is ready and alive (docs/health.md), on the loop: its own NOTIFY_SOCKET
// (sd_notify datagrams, taken only from the run's own processes), its notify_fd pipe (a newline
// says ready), and its output matched against ready_when.log. What they say goes to the machine
// (health_table); plughost's own READY=1 may wait for the required plugins.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>

#include "common/line_pattern.hpp"
#include "common/log.hpp"
#include "plan/interpreter.hpp"
#include "plughost/sink_helpers.hpp"
#include "supervision/notify_socket.hpp"
#include "supervision/supervisor_impl.hpp"

namespace plughost::detail {

namespace {

// Datagrams read at one wake-up: a plugin that floods its socket cannot hold the loop.
constexpr int datagrams_per_wake = 64;

}  // namespace

std::string supervisor::impl::prepare_health(const launch_item& item, child_plan& plan,
                                             std::vector<std::string>& environment, run_io& io,
                                             int& notify_write) {
  const auto& policy = item.policy;
  if (policy.notify) {
    auto made = notify_socket::open();
    if (auto* error = std::get_if<std::string>(&made)) return *error;
    auto& socket = std::get<notify_socket>(made);
    std::erase_if(environment, [](const std::string& e) {  // its own, whatever else said
      return e.starts_with("NOTIFY_SOCKET=") || e.starts_with("WATCHDOG_USEC=");
    });
    environment.push_back("NOTIFY_SOCKET=" + socket.address());
    if (policy.watchdog.count() > 0) {
      const auto usec = std::chrono::duration_cast<std::chrono::microseconds>(policy.watchdog);
      environment.push_back("WATCHDOG_USEC=" + std::to_string(usec.count()));
    }
    io.notify = std::make_unique<asio::posix::stream_descriptor>(ioc_, socket.release());
  }
  if (policy.notify_fd > 0) {
    int ends[2] = {-1, -1};
    if (::pipe2(ends, O_CLOEXEC | O_NONBLOCK) != 0) {
      io.notify.reset();
      return fmt::format("cannot make its notify_fd pipe: {}", std::strerror(errno));
    }
    // The child's end blocks, as any pipe a program is given would.
    ::fcntl(ends[1], F_SETFL, ::fcntl(ends[1], F_GETFL) & ~O_NONBLOCK);
    io.notify_pipe = std::make_unique<asio::posix::stream_descriptor>(ioc_, ends[0]);
    notify_write = ends[1];
    plan.notify_source = ends[1];
    plan.notify_fd = policy.notify_fd;
  }
  return {};
}

void supervisor::impl::watch_health(run_id id, run_io& io, const launch_item& item) {
  if (io.notify) when_readable(id, &run_io::notify, &impl::on_notify);
  if (io.notify_pipe) when_readable(id, &run_io::notify_pipe, &impl::on_notify_fd);
  if (item.policy.ready_log.empty()) return;
  // One pattern and one verdict for both streams: the first matching line, on either, counts.
  auto pattern = std::make_shared<const line_pattern>(item.policy.ready_log);
  auto matched = std::make_shared<bool>(false);
  const auto watch = [this, id, pattern, matched](std::string_view line) {
    if (*matched) return true;
    if (!pattern->matches(line)) return false;
    *matched = true;
    // Posted: a line can be read inside the machine's own call (the drain at an exit).
    asio::post(ioc_, [this, id] { became_ready(id, "log"); });
    return true;
  };
  io.out->watch_lines(watch);
  io.err->watch_lines(watch);
}

// Calls `then(id)` once the run's descriptor `which` is readable (never after the run is gone).
void supervisor::impl::when_readable(run_id id, descriptor_of which, void (impl::*then)(run_id)) {
  auto* io = find(id);
  if (!io || !(io->*which)) return;
  (io->*which)
      ->async_wait(asio::posix::stream_descriptor::wait_read,
                   [this, id, then](const boost::system::error_code& ec) {
                     if (!ec) (this->*then)(id);
                   });
}

void supervisor::impl::on_notify(run_id id) {
  for (int n = 0; n < datagrams_per_wake; ++n) {
    auto* io = find(id);
    if (!io || !io->notify) return;
    const auto got = notify_socket::receive(io->notify->native_handle());
    if (!got) break;
    if (!from_run(*io, got->pid)) {
      if (!io->told_foreign_sender) {
        log().warn(
            "plugin {}: a message to its NOTIFY_SOCKET from pid {}, which is not one of "
            "its processes (or ended before it could be checked), was ignored",
            visible_name(io->plugin), got->pid);
      }
      io->told_foreign_sender = true;
      continue;
    }
    const auto said = parse_notify_message(got->text);
    if (said.status) machine_.on_status_text(id, *said.status);
    if (said.watchdog) after(&supervision_machine::on_health, id, health_event::watchdog, "");
    if (said.ready) became_ready(id, "notify");
    if (said.stopping) after(&supervision_machine::on_health, id, health_event::not_ready, "");
    if (said.watchdog_trigger) {
      after(&supervision_machine::on_health, id, health_event::failed, "watchdog trigger");
    }
  }
  when_readable(id, &run_io::notify, &impl::on_notify);
}

// s6's readiness notification: a newline on the descriptor says ready, and the pipe is done
// with then (as it is when the plugin closes it without one).
void supervisor::impl::on_notify_fd(run_id id) {
  auto* io = find(id);
  if (!io || !io->notify_pipe) return;
  char buffer[512];
  ssize_t n = 0;
  do {
    n = ::read(io->notify_pipe->native_handle(), buffer, sizeof buffer);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
    return when_readable(id, &run_io::notify_pipe, &impl::on_notify_fd);
  const bool newline = n > 0 && std::memchr(buffer, '\n', static_cast<std::size_t>(n));
  if (n > 0 && !newline) return when_readable(id, &run_io::notify_pipe, &impl::on_notify_fd);
  io->notify_pipe.reset();
  if (newline) became_ready(id, "notify_fd");
}

bool supervisor::impl::from_run(const run_io& io, pid_t sender) const {
  if (sender <= 0) return false;
  if (sender == io.pid || ::getpgid(sender) == io.pid) return true;
  return cgroups_ && cgroups_->contains(io.pid, sender);
}

void supervisor::impl::start_probe(run_id id, probe_kind kind, const probe_spec& spec) {
  auto* io = find(id);
  if (!io) return;
  auto done = [this, id, kind](bool passed, std::string message) {
    if (auto* run = find(id)) run->probe.reset();
    after(&supervision_machine::on_probe_result, id, kind, passed, std::move(message));
  };
  if (spec.how != probe_spec::method::exec) {
    io->probe = probe_check::connect(ioc_.get_executor(), spec, std::move(done));
    return;
  }
  auto started = spawn_probe(*io, kind, spec);
  if (auto* error = std::get_if<std::string>(&started)) {
    // Said as its outcome, after this call: the machine may not hear of it from inside its own.
    asio::post(ioc_, [done, message = *error]() mutable { done(false, std::move(message)); });
    return;
  }
  const auto& p = std::get<spawned>(started);
  probe_pids_[p.pid] = -1;
  io->probe = probe_check::wait_for(
      ioc_.get_executor(), spec, p, [this](pid_t pid) { return probe_exit(pid); }, std::move(done));
}

// Its program is looked for once per run (a thousand probes a second spent 8 % of plughost's
// time in stat()); its output goes to /dev/null: nothing reads it.
std::variant<spawned, std::string> supervisor::impl::spawn_probe(run_io& io, probe_kind kind,
                                                                 const probe_spec& spec) {
  auto& program = io.probe_programs.at(static_cast<std::size_t>(kind));
  if (program.empty()) {
    std::string_view path_var;
    for (const auto& e : io.probe_environment) {
      if (e.starts_with("PATH=")) path_var = std::string_view(e).substr(5);
    }
    const auto found = find_program(spec.argv[0], path_var);
    if (!found) {
      return fmt::format("cannot run {}: not an executable file, nor on PATH", spec.argv[0]);
    }
    program = found->string();
  }
  auto argv = spec.argv;
  argv[0] = program;
  context_.guardian_fd = guardian_.socket();  // should plughost die, it goes with the plugins
  auto result = spawn_plugin(argv, io.probe_environment, context_, nullptr, output::discarded);
  if (auto* error = std::get_if<std::string>(&result)) return std::move(*error);
  const auto& p = std::get<spawned>(result);
  if (context_.registered != p.pid) guardian_.watch(p.pid);
  return p;
}

int supervisor::impl::probe_exit(pid_t pid) {
  int status = -1;
  if (::waitpid(pid, &status, WNOHANG) != pid) status = -1;
  if (const auto it = probe_pids_.find(pid); it != probe_pids_.end()) {
    if (status == -1) status = it->second;  // reap_any() had it
    if (status != -1) {
      probe_pids_.erase(it);
      guardian_.forget(pid);
    }
  }
  return status;
}

void supervisor::impl::became_ready(run_id id, std::string_view how) {
  after(&supervision_machine::on_health, id, health_event::ready, how);
  if (ready_waits_) tell_systemd_ready();
}

}  // namespace plughost::detail
