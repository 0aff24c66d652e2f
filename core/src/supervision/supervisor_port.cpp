// The port the supervision machine acts through, on the loop: spawning a run with its pipes,
// signalling and looking at its process group, its output, timers, records, the end.
#include <fmt/format.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <random>

#include "supervision/supervisor_impl.hpp"

namespace plughost::detail {

supervisor::impl::clock::time_point supervisor::impl::now() {
  return clock::now();
}

std::chrono::system_clock::time_point supervisor::impl::wall_now() {
  return std::chrono::system_clock::now();
}

supervisor::impl::clock::duration supervisor::impl::random_below(clock::duration most) {
  static thread_local std::minstd_rand random(std::random_device{}());
  return clock::duration(
      std::uniform_int_distribution<clock::duration::rep>(0, most.count())(random));
}

std::variant<pid_t, std::string> supervisor::impl::spawn(run_id id, const launch_item& item) {
  context_.guardian_fd = guardian_.socket();
  // The run's mark first (found in /proc/<pid>/environ without reading megabytes of
  // configuration first): what leaves the run's group is still found by it.
  auto environment = item.environment.entries();
  std::erase_if(environment, [](const std::string& e) {
    return e.size() > run_mark_variable.size() &&
           e.compare(0, run_mark_variable.size(), run_mark_variable) == 0 &&
           e[run_mark_variable.size()] == '=';
  });
  environment.insert(environment.begin(), processes_->mark(id));
  run_io prepared;
  prepared.plugin = item.name;
  child_plan plan;
  if (auto error = prepare_isolation(id, item, plan, environment, prepared); !error.empty()) {
    return error;
  }
  int notify_write = -1;  // the notify_fd pipe's write end: the child's once it runs
  if (auto error = prepare_health(item, plan, environment, prepared, notify_write);
      !error.empty()) {
    undo_isolation(id, plan, prepared);
    return fmt::format("cannot start {}: {}", item.argv[0], error);
  }
  auto result = spawn_plugin(item.argv, environment, context_, &plan);
  if (notify_write >= 0) ::close(notify_write);
  if (auto* error = std::get_if<std::string>(&result)) {
    if (context_.registered > 0) guardian_.forget(context_.registered);  // its exec failed
    undo_isolation(id, plan, prepared);
    return std::move(*error);
  }
  plan.close_cgroups();
  const auto& p = std::get<spawned>(result);
  if (context_.registered != p.pid) guardian_.watch(p.pid);  // it could not say so itself
  processes_->started(id, p.pid);
  auto& io = runs_[id] = std::move(prepared);
  io.pid = p.pid;
  main_pids_[p.pid] = id;
  const auto on_closed = [this, id] { after(&supervision_machine::on_output_closed, id); };
  auto& totals = totals_[item.name];
  io.out = std::make_unique<output_pump>(ioc_.get_executor(), p.out_fd, item.name, p.pid,
                                         stream::out, out_, on_closed, &totals[0]);
  io.err = std::make_unique<output_pump>(ioc_.get_executor(), p.err_fd, item.name, p.pid,
                                         stream::err, out_, on_closed, &totals[1]);
  io.out->start();  // only waits: the first lines come after the machine's "started"
  io.err->start();
  watch_health(id, io, item);
  for (const auto kind : {probe_kind::startup, probe_kind::readiness, probe_kind::liveness}) {
    const auto& probe = item.policy.probe(kind);
    if (probe && probe->how == probe_spec::method::exec) io.probe_environment = environment;
  }
  if (!sigchld_) watch_main_process(id, io);
  return p.pid;
}

// A run's group, and what left it (setsid()): run_processes.hpp.
void supervisor::impl::signal_group(pid_t group, int sig) {
  processes_->signal(group, sig);
}

bool supervisor::impl::group_alive(pid_t group) {
  return processes_->alive(group);
}

bool supervisor::impl::output_open(run_id id) {
  const auto* io = find(id);
  return io && (io->out->is_open() || io->err->is_open());
}

void supervisor::impl::drain_output(run_id id) {
  // A held exit was delivered once its pumps had read what the pipes held at the exit: what
  // came since is the group's, and waits for room like any output.
  if (auto* io = find(id); io && !io->exit_was_held) {
    io->exit_held = false;  // stopped while its exit waited: all of it is read now
    io->out->drain_now();
    io->err->drain_now();
  }
}

void supervisor::impl::close_output(run_id id) {
  if (auto* io = find(id)) {
    io->out->close();
    io->err->close();
  }
}

// Later, from the queue: a pump may be inside its own handler when its run is released (its
// pipe's end of file is what ended the run).
void supervisor::impl::release(run_id id, pid_t group) {
  guardian_.forget(group);
  processes_->ended(group);
  if (auto* io = find(id)) {
    forget_credentials(*io);
    if (io->probe) io->probe->abandon();
  }
  asio::post(ioc_, [this, id] { runs_.erase(id); });
}

// A timer that has expired may have its handler queued already when it is re-armed or
// cancelled: each arming has a number, and only the handler of the latest one counts.
void supervisor::impl::arm(timer_key key, clock::duration after_) {
  room_timers_.cancel(key);
  auto& armed = timers_[key];
  if (!armed.timer) armed.timer = std::make_unique<asio::steady_timer>(ioc_);
  const auto generation = ++timer_generation_;
  armed.generation = generation;
  armed.timer->expires_after(after_);
  armed.timer->async_wait([this, key, generation](const boost::system::error_code& ec) {
    const auto it = timers_.find(key);
    if (ec || it == timers_.end() || it->second.generation != generation) return;
    after(&supervision_machine::on_timer, key);
  });
}

void supervisor::impl::cancel(timer_key key) {
  // Destroying the timer cancels its wait: the handler sees operation_aborted.
  timers_.erase(key);
  room_timers_.cancel(key);
}

bool supervisor::impl::output_room(std::string_view plugin) {
  return room_timers_.room(plugin);
}

void supervisor::impl::arm_on_room(timer_key key, std::string_view plugin) {
  timers_.erase(key);
  room_timers_.arm(key, plugin);
}

void supervisor::impl::event(std::string_view plugin, int pid, std::string_view name,
                             std::span<const event_field> fields) {
  out_.event(plugin, pid, name, fields);
}

void supervisor::impl::finished() {
  boost::system::error_code ec;
  if (exit_with_) exit_with_->cancel(ec);
  if (watchdog_timer_) watchdog_timer_->cancel();
  timers_.clear();
  room_timers_.clear();
  reap_timer_.cancel();
  watch_.reset();
  out_.detach();
  // Nothing of plughost's is left in its folders: they go now, while the guardian would still
  // remove them should plughost die (the sinks may yet take seconds to drain).
  if (cgroups_) cgroups_->remove_folders();
  guardian_.dismiss();
  restore_process();
}

}  // namespace plughost::detail
