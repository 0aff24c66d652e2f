// The supervisor's inside, shared by its files: the loop and the run (supervisor.cpp), the port
// the machine acts through (supervisor_port.cpp), what the loop hears (supervisor_signals.cpp),
// exits held for room (supervisor_held_exits.cpp), reload (supervisor_reload.cpp), status
// (supervisor_status.cpp), systemd (supervisor_systemd.cpp), the guardian and the process
// plughost exits with (supervisor_guardian.cpp).
#pragma once

#include <signal.h>
#include <sys/resource.h>

#include <array>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

#include "output/output_pump.hpp"
#include "plughost/error.hpp"
#include "supervision/cgroup_tree.hpp"
#include "supervision/folder_watch.hpp"
#include "supervision/guardian.hpp"
#include "supervision/probe_check.hpp"
#include "supervision/room_timers.hpp"
#include "supervision/run_processes.hpp"
#include "supervision/spawn.hpp"
#include "supervision/supervision_machine.hpp"
#include "supervision/supervisor.hpp"

namespace plughost::detail {

namespace asio = boost::asio;

// What the loop holds for one run: its process group and its two pipes.
struct run_io {
  pid_t pid = 0;  // also its process group id
  std::string plugin;
  std::filesystem::path credentials;  // its credentials folder; empty: none
  bool main_reaped = false;
  // Without the SIGCHLD handler: readable once the main process has exited.
  std::unique_ptr<asio::posix::stream_descriptor> pidfd;
  std::unique_ptr<output_pump> out;
  std::unique_ptr<output_pump> err;
  // Its main process exited while its `block` sinks were full: the exit reaches the machine
  // once the pumps have read what the pipes held then (exit_waits of them still reading).
  // Only supervisor_held_exits.cpp decides on these.
  bool exit_held = false;
  int exit_waits = 0;
  bool exit_was_held = false;  // and was delivered once read: what comes since is the group's
  // How it says it is ready (supervisor_health.cpp): its NOTIFY_SOCKET, the read end of its
  // notify_fd pipe.
  std::unique_ptr<asio::posix::stream_descriptor> notify;
  std::unique_ptr<asio::posix::stream_descriptor> notify_pipe;
  bool told_foreign_sender = false;    // a message from outside the run was refused (said once)
  std::shared_ptr<probe_check> probe;  // its probe under way
  std::vector<std::string> probe_environment;  // for its exec probes: the plugin's environment
  std::array<std::string, probe_kind_count> probe_programs;  // their programs, once found
};

class supervisor::impl : private supervision_port {
 public:
  using clock = supervision_port::clock;

  impl(record_dispatch& out, supervisor_options options);
  ~impl();

  // supervisor.cpp
  bool run(std::vector<launch_item> items);
  void stop() noexcept;
  std::string act(supervisor::by_hand what, std::string_view plugin);

  // supervisor_reload.cpp
  void reload() noexcept;
  std::string reload_now();

  // supervisor_status.cpp
  launcher_status status();

 private:
  // ---- the loop and the run (supervisor.cpp) -------------------------------------------------

  // Runs `what` on the loop and waits up to `patience` for what it returns; what it throws is
  // the caller's usage_error.
  template <typename F>
  std::string on_loop(const char* from_loop, std::chrono::seconds patience, F what);
  // Waits up to `patience` for an answer from the loop; what it holds as an exception is the
  // caller's usage_error.
  // What `answer` gives within `patience`; else usage_error `unanswered` (or: the loop did not
  // answer).
  static std::string await(std::future<std::string>& answer, std::chrono::seconds patience,
                           const char* unanswered = nullptr);

  // Every handler ends here: records written by a handler become visible when it ends.
  template <typename... Args>
  void after(void (supervision_machine::*handle)(Args...), auto&&... args) {
    (machine_.*handle)(std::forward<decltype(args)>(args)...);
    out_.flush();
  }

  void prepare();
  void start_all(std::vector<launch_item>& items);
  void check_descriptor_limit(std::size_t plugins) const;
  void restore_process();
  void loop_ended();
  run_io* find(run_id id);

  // ---- the port: what the machine does (supervisor_port.cpp) ---------------------------------

  clock::time_point now() override;
  std::chrono::system_clock::time_point wall_now() override;
  clock::duration random_below(clock::duration most) override;
  std::variant<pid_t, std::string> spawn(run_id id, const launch_item& item) override;
  void signal_group(pid_t group, int sig) override;
  bool group_alive(pid_t group) override;
  bool output_open(run_id id) override;
  void drain_output(run_id id) override;
  void close_output(run_id id) override;
  void release(run_id id, pid_t group) override;
  void arm(timer_key key, clock::duration after_) override;
  void cancel(timer_key key) override;
  bool output_room(std::string_view plugin) override;
  void arm_on_room(timer_key key, std::string_view plugin) override;
  void event(std::string_view plugin, int pid, std::string_view name,
             std::span<const event_field> fields) override;
  void finished() override;
  void start_probe(run_id id, probe_kind kind, const probe_spec& spec) override;
  void start_gate(plugin_id id, const gate_spec& gate) override;
  void cancel_gate(plugin_id id) override;
  std::string gate_failure(plugin_id id) override;
  void try_gate(plugin_id id);

  // ---- what the loop hears (supervisor_signals.cpp) ------------------------------------------

  void watch_signals();
  void wait_for_stop_signal();
  void on_stop_signal(int signal);
  void wait_for_reload_signal();
  void start_watch();
  void wait_for_reopen_signal();
  void watch_sigchld();
  void watch_main_process(run_id id, run_io& io);
  void wait_for_children();
  void reap();
  void reap_soon();
  void reap_any();
  void reap_groups();

  // ---- exits held for room in `block` sinks (supervisor_held_exits.cpp) ----------------------

  void main_exited(run_id id, run_io& io, const siginfo_t& info);
  void exit_drained(run_id id);

  // ---- reload (supervisor_reload.cpp) --------------------------------------------------------

  using reload_waiter = std::shared_ptr<std::promise<std::string>>;
  // What a planner thread hands the loop: the new set of plugins, or why there is none.
  using reload_outcome = std::variant<std::vector<launch_item>, std::string>;
  void request_reload(reload_waiter waiter);
  std::optional<std::string> reload_refused() const;
  void start_planning();
  void planned(reload_outcome outcome);
  std::string apply_plan(reload_outcome outcome);
  static void answer_reloads(std::vector<reload_waiter>& waiters, const std::string* said,
                             std::exception_ptr failed);
  void end_planning();

  // ---- readiness and liveness (supervisor_health.cpp) ----------------------------------------

  // The run's NOTIFY_SOCKET and notify_fd pipe (`notify_write`: the pipe's write end, closed by
  // the caller once the child has it); an error text when they cannot be made.
  std::string prepare_health(const launch_item& item, child_plan& plan,
                             std::vector<std::string>& environment, run_io& io, int& notify_write);
  // Once the run started: waits for what it says (and watches its output for ready_when.log).
  void watch_health(run_id id, run_io& io, const launch_item& item);
  using descriptor_of = std::unique_ptr<asio::posix::stream_descriptor> run_io::*;
  void when_readable(run_id id, descriptor_of which, void (impl::*then)(run_id));
  void on_notify(run_id id);
  void on_notify_fd(run_id id);
  // Whether `sender` is a process of the run (its group, or its cgroup).
  bool from_run(const run_io& io, pid_t sender) const;
  // A run became ready: plughost's own READY=1 may have waited for it.
  void became_ready(run_id id, std::string_view how);
  // An exec probe's command, started as a process group of its own; an error text if not.
  std::variant<spawned, std::string> spawn_probe(run_io& io, probe_kind kind,
                                                 const probe_spec& spec);
  // The wait status of a probe's process (-1: not seen), reaping it.
  int probe_exit(pid_t pid);

  // ---- status (supervisor_status.cpp) --------------------------------------------------------

  void publish();

  // ---- systemd (supervisor_systemd.cpp) ------------------------------------------------------

  systemd_notifier* notifier() const { return options_.notifier.get(); }
  void tell_systemd_ready();
  void tell_systemd_reloading();
  void tell_systemd_stopping();
  void watchdog();

  // ---- the guardian, the process plughost exits with (supervisor_guardian.cpp) ---------------

  void start_guardian();

  // ---- what each plugin may use and see (supervisor_isolation.cpp) --------------------------

  void make_cgroups();
  // The run's cgroup, credentials and child set-up; an error text when it cannot start.
  std::string prepare_isolation(run_id id, const launch_item& item, child_plan& plan,
                                std::vector<std::string>& environment, run_io& io);
  void undo_isolation(run_id id, child_plan& plan, run_io& io);
  void forget_credentials(run_io& io);
  // Whether the memory cgroup of the run's plugin killed a process since it was last asked.
  bool oom_killed(run_id id);
  // Fills each plugin's usage in `status` from its cgroup (off the loop, from published paths).
  static void read_usage(launcher_status& status,
                         const std::map<std::string, cgroup_folders, std::less<>>& folders);
  void update_guardian_timeout(std::chrono::nanoseconds t);
  void watch_exit_with(int requested);
  void on_exit_with_gone(pid_t pid);

  asio::io_context ioc_;  // first member: destroyed last, after everything that uses it
  record_dispatch& out_;
  supervisor_options options_;
  spawn_context context_;
  guardian guardian_;
  std::unique_ptr<cgroup_tree> cgroups_;      // null: no cgroup per plugin (before processes_)
  std::unique_ptr<folder_watch> watch_;       // plughost.watch; null: off
  std::string watch_cause_;                   // what the watch saw change, until its reload
  std::unique_ptr<run_processes> processes_;  // made once the guardian runs
  int own_oom_score_ = 0;
  // Each plugin's cgroup folders, published with the status (read by status() callers).
  std::map<std::string, cgroup_folders, std::less<>> published_folders_;
  asio::signal_set child_signals_;
  // SIGCHLDs close together are one look at the children (reap_soon()).
  asio::steady_timer reap_timer_;
  std::chrono::steady_clock::time_point last_reap_{};
  bool reap_pending_ = false;
  std::optional<asio::signal_set> stop_signals_;
  std::optional<asio::signal_set> reload_signals_;
  std::optional<asio::signal_set> reopen_signals_;
  std::optional<asio::posix::stream_descriptor> exit_with_;
  std::optional<asio::steady_timer> watchdog_timer_;
  bool told_stopping_ = false;
  bool ready_waits_ = false;  // plughost's READY=1 waits for required plugins
  std::map<run_id, run_io> runs_;
  std::unordered_map<pid_t, run_id> main_pids_;  // main processes not reaped yet
  // Exec probes' processes, and the wait status of those reap_any() reaped first (-1: none yet).
  std::unordered_map<pid_t, int> probe_pids_;
  // wait_for gates being tried (supervisor_gates.cpp), by plugin.
  struct gate_try {
    gate_spec gate;
    std::shared_ptr<probe_check> check;  // an attempt under way
    std::unique_ptr<asio::steady_timer> next;
    std::string failure;  // of its latest attempt
  };
  std::map<plugin_id, gate_try> gates_;
  // What each plugin wrote (stdout, stderr), by name, in all its runs; the pumps count.
  std::map<std::string, std::array<stream_totals, 2>, std::less<>> totals_;
  std::optional<std::chrono::system_clock::time_point> started_;
  struct armed_timer {
    std::unique_ptr<asio::steady_timer> timer;
    std::uint64_t generation = 0;
  };
  std::map<timer_key, armed_timer> timers_;
  std::uint64_t timer_generation_ = 0;
  room_timers room_timers_{out_, ioc_.get_executor(),
                           [this](timer_key key) { after(&supervision_machine::on_timer, key); }};
  supervision_machine machine_{*this};
  std::atomic<bool> stop_requested_{false};
  std::chrono::nanoseconds max_stop_timeout_{0};
  int was_subreaper_ = 0;
  bool sigchld_ = false;  // SIGCHLD handled (else each main process has its pidfd)
  bool restored_ = false;
  // Reload: options_.reload runs on a planner thread (it reads files and loads modules: the
  // loop goes on meanwhile), one at a time; the loop applies what it planned. Loop thread only
  // (run() joins the planner before it returns).
  std::thread planner_;
  bool planning_ = false;
  bool plan_again_ = false;                    // asked for while planning: once more after it
  std::vector<reload_waiter> reload_waiting_;  // for the planning under way
  std::vector<reload_waiter> reload_next_;     // for the one after it
  // status(): the snapshot, and how callers wait for a fresh one.
  std::thread::id loop_thread_;
  std::mutex status_mutex_;
  std::condition_variable status_changed_;
  bool loop_running_ = false;
  std::uint64_t status_requested_ = 0;
  std::uint64_t status_published_ = 0;
  launcher_status status_;
};

template <typename F>
std::string supervisor::impl::on_loop(const char* from_loop, std::chrono::seconds patience,
                                      F what) {
  auto done = std::make_shared<std::promise<std::string>>();
  auto answer = done->get_future();
  {
    const std::lock_guard lock(status_mutex_);
    if (!loop_running_) throw usage_error("plughost is not running its plugins");
    if (std::this_thread::get_id() == loop_thread_) throw usage_error(from_loop);
    asio::post(ioc_, [this, what = std::move(what), done] {
      try {
        std::string said = what();
        out_.flush();
        done->set_value(std::move(said));
      } catch (...) {
        out_.flush();
        done->set_exception(std::current_exception());
      }
    });
  }
  return await(answer, patience);
}

}  // namespace plughost::detail
