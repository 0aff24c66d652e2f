// Status: the machine's view of every plugin, published by the loop for status() callers on
// other threads (who wait for a fresh one, or get the last).
#include <boost/asio/post.hpp>

#include "supervision/published_state.hpp"
#include "supervision/supervisor_impl.hpp"

namespace plughost::detail {

namespace {

// How long status() waits for the loop to answer before it gives the last snapshot (a handler
// of the embedding program's may hold the loop).
constexpr auto status_patience = std::chrono::seconds(1);

// Readiness, order and gates (docs/health.md).
void publish_health(supervision_machine::plugin_view& v, plugin_status& p) {
  p.ready = v.ready();
  p.required = v.required;
  if (v.ready_after) p.ready_after = *v.ready_after;
  p.status_text = std::move(v.status_text);
  p.health_failures = std::move(v.health_failures);
  p.waiting_for = std::move(v.waiting_for);
  p.waited_for = std::move(v.waited_for);
  if (v.waited) p.waited = *v.waited;
  if (v.first_started) p.first_started_after = *v.first_started;
  if (v.first_ready) p.first_ready_after = *v.first_ready;
  p.depends_on = std::move(v.depends_on);
}

}  // namespace

// Built on the loop when asked for (building it after every event would cost O(plugins) each
// time: O(plugins²) to stop them all). While the loop runs, the caller waits for it.
launcher_status supervisor::impl::status() {
  std::unique_lock lock(status_mutex_);
  if (loop_running_ && std::this_thread::get_id() == loop_thread_) {  // a diagnostics handler
    lock.unlock();
    publish();
    lock.lock();
  } else if (loop_running_) {
    const auto wanted = ++status_requested_;
    try {
      asio::post(ioc_, [this] { publish(); });
      status_changed_.wait_for(lock, status_patience,
                               [&] { return status_published_ >= wanted || !loop_running_; });
    } catch (...) {  // the last snapshot, then
    }
  }
  auto taken = status_;
  const auto folders = published_folders_;
  lock.unlock();
  read_usage(taken, folders);  // the cgroup files, off the loop and the lock
  return taken;
}

// The machine's view of every plugin, for status() from other threads. On the loop thread.
void supervisor::impl::publish() {
  std::uint64_t requested = 0;
  {
    const std::lock_guard lock(status_mutex_);
    requested = status_requested_;
  }
  const auto steady_now = clock::now();
  const auto system_now = std::chrono::system_clock::now();
  const auto wall = [&](clock::time_point t) {
    return system_now -
           std::chrono::duration_cast<std::chrono::system_clock::duration>(steady_now - t);
  };
  launcher_status fresh;
  std::map<std::string, cgroup_folders, std::less<>> folders;
  fresh.phase = published_phase(machine_.phase());
  fresh.taken = system_now;
  fresh.plugins.reserve(machine_.plugin_count());
  machine_.visit_plugins([&](supervision_machine::plugin_view&& v) {
    plugin_status p;
    p.name = v.name;
    p.state = published_state(v);
    p.pid = v.pid;
    p.restarts = v.restarts;
    if (v.since) p.since = wall(*v.since);
    if (v.next_restart) p.next_restart = wall(*v.next_restart);
    if (v.last_exit && v.last_exit->by_signal) p.last_signal = signal_name(v.last_exit->value);
    if (v.last_exit && !v.last_exit->by_signal) p.last_exit_code = v.last_exit->value;
    p.last_oom_killed = v.last_exit && v.last_exit->oom_killed;
    if (v.isolation) {
      p.limits = limits_text(*v.isolation);
      p.memory_max_bytes = v.isolation->memory_max;
      p.cpu_max_cores = v.isolation->cpu_max;
      p.pids_max = v.isolation->pids_max;
    }
    if (cgroups_) folders[v.name] = cgroups_->folders(v.name);
    p.by_hand = published_by_hand(v.by_hand);
    p.exit_codes = std::move(v.exit_codes);
    p.exit_signals = std::move(v.exit_signals);
    publish_health(v, p);
    if (const auto it = totals_.find(v.name); it != totals_.end()) {
      p.out = {it->second[0].lines, it->second[0].bytes};
      p.err = {it->second[1].lines, it->second[1].bytes};
    }
    fresh.plugins.push_back(std::move(p));
  });
  fresh.sinks = out_.statuses();
  fresh.pid = context_.host_pid;
  fresh.started = started_;
  {
    const std::lock_guard lock(status_mutex_);
    status_ = std::move(fresh);
    published_folders_ = std::move(folders);
    status_published_ = requested;
  }
  status_changed_.notify_all();
}

}  // namespace plughost::detail
