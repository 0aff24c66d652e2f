// The launcher's inside, shared by its files: construction and the public face (launcher.cpp),
// the run (launcher_run.cpp), reload planning (launcher_reload.cpp), status and what operators
// may ask (launcher_status.cpp).
#pragma once

#include <atomic>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/log.hpp"
#include "config/launch_settings.hpp"
#include "control/operator_endpoints.hpp"
#include "launcher/launch_context.hpp"
#include "output/record_dispatch.hpp"
#include "plan/plan_builder.hpp"
#include "plughost/launcher.hpp"
#include "supervision/cgroups.hpp"
#include "supervision/supervisor.hpp"

namespace plughost {

struct launcher::impl {
  impl(const launch_options& o, std::shared_ptr<spdlog::logger> l);

  // ---- launcher.cpp --------------------------------------------------------------------------

  // What run() says of a location that does not exist (after waiting for it, if it did), after
  // where the locations came from.
  std::string missing_location_error(const std::filesystem::path& location) const;
  static std::string missing_location_error(const std::filesystem::path& location,
                                            const detail::location_policy& policy);

  // ---- the run (launcher_run.cpp) ------------------------------------------------------------

  std::vector<detail::named_sink> open_sinks() const;
  void report_error(const std::string& plugin, const std::string& message);

  // What launch_items() reports: at the start, the plan's errors and skips; at a reload, its
  // errors (kept in reload_errors, for the loop); before a reload is applied (to check it),
  // nothing.
  enum class reporting { start, reload, none };
  // The plugins of a plan (the current one, by default) that should run, as the supervisor
  // takes them. Reports as `report` says; `ok` turns false on an error.
  std::vector<detail::launch_item> launch_items(reporting report, bool& ok);
  // `abandon` (may be null): plughost is stopping, the reload that asked gives up.
  std::vector<detail::launch_item> launch_items(const detail::launch_settings& with,
                                                const plughost::plan& of,
                                                const std::vector<detail::loaded_runner>& by,
                                                reporting report, bool& ok,
                                                const std::atomic<bool>* abandon = nullptr);

  // The locations that do not exist (a path that cannot be read otherwise is the plan's warning).
  std::vector<std::filesystem::path> missing_locations() const { return missing_in(settings); }
  static std::vector<std::filesystem::path> missing_in(const detail::launch_settings& s);
  void check_locations();

  std::vector<detail::launch_item> begin_run();
  int supervise(std::vector<detail::launch_item> items);
  void start();
  // Whether this thread is one of this launcher's (its loop, its sinks' writers): a callback.
  bool on_own_thread() const { return detail::current_logger() == logger; }
  int wait();

  // ---- reload planning (launcher_reload.cpp) -------------------------------------------------

  std::vector<detail::launch_item> reload_items(const std::atomic<bool>& abandon);
  void report_reload_errors();
  void adopt(detail::launch_settings fresh, std::vector<detail::loaded_runner> fresh_runners,
             plughost::plan fresh_plan);
  void warn_of_what_stays(const detail::launch_settings& fresh,
                          const std::function<void(const std::string&)>& warn) const;

  // ---- status (launcher_status.cpp) ----------------------------------------------------------

  launcher_status status() const;
  void reopen_sinks() noexcept;
  detail::operator_calls operator_calls();

  std::shared_ptr<spdlog::logger> logger;  // where this launcher's messages go
  launch_options options;
  // Takes the kernel's wait before a first move into a cgroup while the configuration and the
  // modules load (cgroups.hpp).
  std::jthread cgroup_primer = detail::prime_cgroup_moves();
  detail::launch_context base;
  detail::launch_settings settings;
  // `settings`, `runners`, `base.modules`: the thread of run() or start() until the run
  // begins, then only the supervisor's planner thread (reload_items), one at a time.
  // Copies for status() from other threads (a reload replaces `settings`).
  const identity who = settings.who;
  const int parent_pid = settings.parent_pid;
  // After the plugins have stopped, how long the sinks get to write what they still hold.
  static constexpr auto sink_close_grace = std::chrono::seconds(5);

  detail::record_tap tap;  // before the dispatch, which hands it batches
  detail::record_dispatch dispatch;
  std::vector<detail::loaded_runner> runners;
  // The plan, replaced whole (a reload, on the planner thread) and read from any thread (plan()):
  // a snapshot nobody changes, behind plan_mutex.
  std::shared_ptr<const plughost::plan> current_plan() const;
  void publish_plan(plughost::plan p);
  mutable std::mutex plan_mutex;
  std::shared_ptr<const plughost::plan> the_plan;
  // After what its planner thread uses (reload_items): destroyed, and that thread joined, first.
  detail::supervisor supervisor;

  bool plan_ok = true;                  // no plugin of the plan was an error
  std::atomic<bool> stop_asked{false};  // stop() was called: waiting for locations ends
  std::mutex run_mutex;
  bool began = false;
  // What the latest reload warned of (written on the planner thread, read by `plughost
  // reload`'s answer), and the errors its plan found (reported, as records, on the loop).
  std::mutex reload_mutex;
  std::vector<std::string> reload_warnings;
  std::vector<std::pair<std::string, std::string>> reload_errors;  // plugin, message
  // start(): the thread that runs, and what it returned or threw.
  std::thread thread;
  std::mutex wait_mutex;
  bool joined = false;
  int exit_code = 0;
  std::exception_ptr failure;
};

}  // namespace plughost
