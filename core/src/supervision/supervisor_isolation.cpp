// What each plugin may use and see, on the loop: plughost's cgroups made at start (or the one
// warning that says why not), each run's cgroup, credentials and child set-up, the OOM kills
// of a plugin's cgroup, and what status() reads from the cgroups.
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>

#include "common/log.hpp"
#include "supervision/cgroup_files.hpp"
#include "supervision/credentials.hpp"
#include "supervision/supervisor_impl.hpp"

namespace plughost::detail {

namespace {

int read_own_oom_score() {
  const auto text = read_cgroup_file("/proc/self/oom_score_adj");
  return text ? std::atoi(text->c_str()) : 0;
}

// The child's set-up that needs no cgroup: limits, priority, CPUs, user, folder.
child_plan plan_for(const plugin_isolation& i, int own_oom_score) {
  child_plan plan;
  for (const auto& [resource, value] : i.limits) plan.limits.push_back({resource, {value, value}});
  plan.nice = i.nice;
  // Never below plughost's own score: a plugin must not outlive the engine under pressure.
  if (i.oom_score_adj)
    plan.oom_score_adj = std::to_string(std::max(*i.oom_score_adj, own_oom_score));
  if (!i.cpus.empty()) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (const int cpu : i.cpus) {
      if (cpu >= 0 && cpu < CPU_SETSIZE) CPU_SET(cpu, &set);
    }
    plan.cpus = set;
  }
  if (i.working_dir) plan.working_dir = i.working_dir->string();
  plan.uid = i.uid;
  plan.gid = i.gid;
  plan.groups = i.groups;
  return plan;
}

}  // namespace

void supervisor::impl::make_cgroups() {
  own_oom_score_ = read_own_oom_score();
  const auto layout = probe_cgroups(options_.cgroups);
  if (!layout.usable()) {
    if (options_.cgroups != "off") {
      log().warn(
          "no cgroup per plugin: {}; plugins run in process groups, with their rlimits, "
          "and their cgroup limits do not apply (docs/isolation.md)",
          layout.missing);
    }
    return;
  }
  std::string problem;
  cgroups_ = cgroup_tree::create(layout, context_.host_pid, problem);
  if (!cgroups_) {
    log().warn(
        "no cgroup per plugin: {}; plugins run in process groups, with their rlimits "
        "(docs/isolation.md)",
        problem);
  }
}

std::string supervisor::impl::prepare_isolation(run_id id, const launch_item& item,
                                                child_plan& plan,
                                                std::vector<std::string>& environment, run_io& io) {
  plan = plan_for(item.isolated(), own_oom_score_);
  if (cgroups_) {
    auto joined = cgroups_->prepare_run(id, item.name, item.isolated());
    if (auto* error = std::get_if<std::string>(&joined)) {
      return fmt::format("cannot start {}: its cgroup: {}", item.argv[0], *error);
    }
    auto& join = std::get<cgroup_join>(joined);
    plan.cgroup_folder = join.folder;
    plan.cgroup_fds = std::move(join.procs);
  }
  if (!item.isolated().credentials.empty()) {
    if (options_.credentials.empty()) {
      undo_isolation(id, plan, io);
      return fmt::format("cannot start {}: no folder for its credentials", item.argv[0]);
    }
    const auto folder = options_.credentials / fmt::format("{}.{}", context_.host_pid, id);
    if (auto error = write_credentials(options_.credentials, folder, item.isolated());
        !error.empty()) {
      undo_isolation(id, plan, io);
      return fmt::format("cannot start {}: {}", item.argv[0], error);
    }
    io.credentials = folder;
    environment.push_back("CREDENTIALS_DIRECTORY=" + folder.string());
  }
  return {};
}

// After the spawn (whether it started or not): the cgroup descriptors are closed; a run that did
// not start leaves no folder.
void supervisor::impl::undo_isolation(run_id id, child_plan& plan, run_io& io) {
  plan.close_cgroups();
  if (cgroups_) cgroups_->abandon(id);
  forget_credentials(io);
}

void supervisor::impl::forget_credentials(run_io& io) {
  remove_credentials(io.credentials);
  io.credentials.clear();
}

bool supervisor::impl::oom_killed(run_id id) {
  return cgroups_ && cgroups_->oom_killed(id);
}

void supervisor::impl::read_usage(
    launcher_status& status, const std::map<std::string, cgroup_folders, std::less<>>& folders) {
  for (auto& p : status.plugins) {
    const auto it = folders.find(p.name);
    if (it == folders.end() || !it->second.any()) continue;
    const auto u = read_cgroup_usage(it->second);
    p.cgroup = it->second.runs.empty() ? it->second.memory_v1 : it->second.runs.back();
    p.memory_bytes = u.memory_bytes;
    if (u.cpu_usec) p.cpu_seconds = static_cast<double>(*u.cpu_usec) / 1e6;
    p.processes = u.pids;
    p.oom_kills = u.oom_kills;
  }
}

}  // namespace plughost::detail
