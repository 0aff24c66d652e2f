// plughost run | list | --version | --help: options → launch_options → launcher.
#include "cli.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <functional>
#include <iostream>
#include <iterator>
#include <optional>

#include "common/nearest.hpp"
#include "completion.hpp"
#include "control_commands.hpp"
#include "plughost/error.hpp"
#include "plughost/launcher.hpp"
#include "plughost/record.hpp"
#include "plughost/sink_helpers.hpp"

namespace plughost::cli {

namespace {

// Started with stdin, stdout or stderr closed (a careless daemonizer, `plughost >&-`), the first
// descriptors plughost opens would take their numbers: its messages and the stdout sink would
// write into its event loop's descriptors, and a plugin's pipes could be crossed when set up as
// the child's 1 and 2. Each closed one is opened on /dev/null before anything else.
void open_closed_standard_descriptors() {
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    // The lowest free number: `fd` itself, since the ones below it are open by now.
    const int opened = ::open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
    if (opened >= 0 && opened != fd) {
      ::dup2(opened, fd);
      ::close(opened);
    }
  }
}

// Where modules come from (run, list, modules).
void add_module_options(CLI::App& cmd, launch_options& o) {
  cmd.add_option("--module-path", o.module_paths,
                 "folder of runner and sink modules (.so), searched first (repeatable); then "
                 "$PLUGHOST_MODULE_PATH, plughost.module_locations, the binary's own")
      ->type_name("FOLDER");
}

// The opt-out of the owner and mode checks made as root (run, list, modules).
void add_permission_option(CLI::App& cmd, launch_options& o) {
  cmd.add_flag("--allow-insecure-permissions", o.allow_insecure_permissions,
               "as root, also run plugins and load modules not owned by root or writable by "
               "their group or others (or in such a folder); warns at start");
}

// The options whose text becomes a typed value of launch_options. They are kept as typed until
// the command runs, then parsed by the library's parsers, so that a bad value gets the
// library's message ("--worker-id: expected an integer, got 'x'") and exit status 2.
struct typed_texts {
  std::optional<std::string> worker_id;           // --worker-id
  std::optional<std::string> worker_count;        // --worker-count
  std::optional<std::string> wait_for_locations;  // --wait-for-locations
  std::optional<std::string> stop_timeout;        // --stop-timeout (run only)
};

// Parses what was given of `texts` into `o`; throws usage_error naming the flag.
void apply_typed_texts(const typed_texts& texts, launch_options& o) {
  if (texts.worker_id) o.worker_id = parse_worker_id_option("--worker-id", *texts.worker_id);
  if (texts.worker_count) {
    o.worker_count = parse_worker_count_option("--worker-count", *texts.worker_count);
  }
  if (texts.wait_for_locations) {
    o.wait_for_locations = parse_duration_option("--wait-for-locations", *texts.wait_for_locations);
  }
  if (texts.stop_timeout) {
    o.stop_timeout = parse_duration_option("--stop-timeout", *texts.stop_timeout);
  }
}

// Options shared by `run` and `list`: who am I and where are the plugins.
void add_selection_options(CLI::App& cmd, launch_options& o, typed_texts& texts) {
  auto* config = cmd.add_option("--config", o.config_file,
                                "configuration file (.yaml, .yml, .toml, .json); default: "
                                "$LMCACHE_CONFIG_FILE, then the JSON in "
                                "$LMCACHE_RUNTIME_PLUGIN_CONFIG")
                     ->type_name("FILE");
  cmd.add_option("--config-json", o.config_json,
                 "the configuration as JSON text ('-': read it from standard input); plugins "
                 "receive this text unchanged")
      ->type_name("JSON")
      ->excludes(config);
  cmd.add_option("--settings", o.settings_file,
                 "a file whose plughost: section (restarts, sinks, runners...) comes before the "
                 "configuration's; default: $PLUGHOST_SETTINGS")
      ->type_name("FILE");
  cmd.add_option("--role", o.role,
                 "this process's role (SCHEDULER, WORKER, ...); default: "
                 "$LMCACHE_RUNTIME_PLUGIN_ROLE; none: no role filtering, whatever the "
                 "environment says")
      ->type_name("ROLE");
  cmd.add_option("--worker-id", texts.worker_id,
                 "this worker's id, any integer (LMCache's scheduler is -1); default: "
                 "$LMCACHE_RUNTIME_PLUGIN_WORKER_ID, else 0")
      ->type_name("ID");
  cmd.add_option("--worker-count", texts.worker_count,
                 "number of workers (at least 1); default: "
                 "$LMCACHE_RUNTIME_PLUGIN_WORKER_COUNT, else 1")
      ->type_name("N");
  cmd.add_option("--location", o.locations,
                 "plugin file or folder (repeatable); replaces runtime_plugin_locations and "
                 "$LMCACHE_RUNTIME_PLUGIN_LOCATIONS")
      ->type_name("PATH");
  cmd.add_option("--runner", o.runners,
                 "only this runner claims files (repeatable), e.g. --runner python --runner "
                 "bash for LMCache's two languages; replaces plughost.enabled_runners")
      ->type_name("NAME");
  cmd.add_flag("--allow-missing-locations", o.allow_missing_locations,
               "run without a plugin location that does not exist (a warning), as LMCache "
               "does; otherwise run refuses to start (exit 2) and list fails (exit 1)");
  cmd.add_option("--wait-for-locations", texts.wait_for_locations,
                 "run first waits this long (30s, 2m) for plugin locations that do not exist "
                 "yet (list does not fail for them)")
      ->type_name("DURATION");
  add_module_options(cmd, o);
  add_permission_option(cmd, o);
}

// --config-json -: the text comes from standard input (it then stays off the command line,
// which every user of the machine can read in /proc).
// More than plugins can receive is refused without reading it all (a stream may not end).
void read_config_json(launch_options& o, std::size_t limit) {
  if (o.config_json != "-") return;
  std::string text(limit + 1, '\0');
  std::cin.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (std::cin.bad()) throw usage_error("--config-json -: cannot read standard input");
  text.resize(static_cast<std::size_t>(std::cin.gcount()));
  if (text.size() > limit) {
    throw usage_error(fmt::format(
        "--config-json -: more than {} bytes on standard input, more than plugins can receive "
        "(Linux limits one environment variable to 128 KiB)",
        limit));
  }
  o.config_json = std::move(text);
}

// --exit-with-parent[=PID]: 0 for the parent, else a pid.
int exit_with_pid(const std::string& value) {
  if (value.empty()) return 0;  // the parent
  int pid = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), pid);
  if (ec != std::errc() || end != value.data() + value.size() || pid <= 0) {
    throw usage_error(fmt::format(
        "--exit-with-parent: expected nothing or =PID (a process id), got '{}'", value));
  }
  if (pid == ::getpid()) {
    throw usage_error(fmt::format("--exit-with-parent: {} is this plughost itself", pid));
  }
  // A process that is gone before plughost starts is a mistake in the command line (a pid
  // written down too early, or mistyped), not a reason to start and stop at once: said here, in
  // one line, before anything starts. (One that exits after this is watched as usual.)
  const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0 && errno == ESRCH) {
    throw usage_error(fmt::format("--exit-with-parent: there is no process {}", pid));
  }
  if (fd >= 0) {
    struct pollfd ended {
      fd, POLLIN, 0
    };
    const bool exited = ::poll(&ended, 1, 0) > 0;  // readable: it has exited (not yet reaped)
    ::close(fd);
    if (exited) {
      throw usage_error(fmt::format("--exit-with-parent: process {} has already exited", pid));
    }
  }
  return pid;
}

void print_plan(const plan& p) {
  fmt::print("identity: role {}, worker {} of {}\n", p.identity.role.value_or("(none)"),
             p.identity.worker_id, p.identity.worker_count);
  std::vector<std::string> locations;
  for (const auto& l : p.locations) locations.push_back(visible(l.string()));
  fmt::print("locations: {} (from {})\n",
             locations.empty() ? "(none)" : fmt::format("{}", fmt::join(locations, ", ")),
             p.locations_from);
  std::vector<std::string> runners;
  for (const auto& r : p.runners) {
    runners.push_back(r.loaded ? fmt::format("{} ({}){}", r.name, fmt::join(r.extensions, " "),
                                             r.enabled ? "" : " not enabled")
                               : fmt::format("{} (not enabled, not loaded)", r.name));
  }
  fmt::print("runners: {}\n", fmt::join(runners, ", "));
  // File names can hold any byte but '/': shown with their control characters made visible,
  // so that a file name cannot forge lines of this table.
  std::size_t width = 4;
  for (const auto& e : p.plugins) width = std::max(width, visible_name(e.name).size());
  for (const auto& e : p.plugins) {
    fmt::print("{:<8}{:<{}}  {}\n", to_string(e.decision), visible_name(e.name), width,
               visible(e.reason));
    if (e.decision == decision::run) {
      fmt::print("{:<8}{:<{}}  {}: {}\n", "", "", width, e.runner,
                 visible(fmt::format("{}", fmt::join(e.argv, " "))));
      for (const auto& [setting, values] : e.isolation) {
        fmt::print("{:<8}{:<{}}  {}: {}\n", "", "", width, setting,
                   visible(fmt::format("{}", fmt::join(values, ", "))));
      }
      if (!e.waits_for.empty()) {
        fmt::print("{:<8}{:<{}}  waits for: {}\n", "", "", width,
                   visible(fmt::format("{}", fmt::join(e.waits_for, ", "))));
      }
    }
  }
  if (p.plugins.empty()) fmt::print("no files found\n");
}

void print_modules(const module_report& r) {
  fmt::print("module search path:{}\n", r.search_path.empty() ? " (none)" : "");
  for (const auto& p : r.search_path) fmt::print("  {}\n", visible(p.string()));
  std::size_t width = 4;
  for (const auto& m : r.modules) width = std::max(width, m.name.size());
  for (const auto& m : r.modules) {
    if (m.status == module_status::failed && m.name.empty()) {
      fmt::print("{:<9}{}: {}\n", to_string(m.status), visible(m.source), visible(m.reason));
      continue;
    }
    fmt::print("{:<9}{:<7}{:<{}}  abi {}  {}", to_string(m.status),
               m.kind ? to_string(*m.kind) : std::string_view(), m.name, width, m.abi_version,
               visible(m.source));
    if (!m.extensions.empty()) fmt::print("  claims {}", fmt::join(m.extensions, " "));
    if (!m.reason.empty()) fmt::print("  ({})", visible(m.reason));
    fmt::print("\n");
  }
}

// What `run` was given: the launch options, the texts of its typed ones, and
// --exit-with-parent's value.
struct run_choice {
  launch_options options;
  typed_texts texts;
  std::optional<std::string> exit_with;
};

// What `list` or `modules` was given.
struct listing_choice {
  launch_options options;
  typed_texts texts;
  bool json = false;
};

void add_run_command(CLI::App& app, run_choice& c) {
  auto& run_opts = c.options;
  auto* run = app.add_subcommand("run", "start the selected plugins and supervise them");
  run->footer(
      "\nExample: plughost run --config /etc/lmcache/lmcache.yaml --role WORKER --worker-id 0 "
      "--worker-count 8 --sink jsonl:/var/log/plughost/worker0.jsonl");
  add_selection_options(*run, run_opts, c.texts);
  run->add_option("--sink", run_opts.sinks,
                  "where records go (repeatable): stdout, jsonl:PATH, file:PATH, syslog[:IDENT] "
                  "or any sink module's NAME[:VALUE]; replaces plughost.sinks; default: stdout")
      ->type_name("SINK");
  run->add_option("--add-sink", run_opts.added_sinks,
                  "a sink added to the configured ones, given every plugin's records "
                  "(repeatable); with it, no default stdout sink")
      ->type_name("SINK");
  run->add_option("--plugin-variable", run_opts.plugin_variables,
                  "NAME=VALUE: plugins get VALUE in the identity variable NAME "
                  "(LMCACHE_RUNTIME_PLUGIN_ROLE, LMCACHE_PLUGIN_WORKER_ID...) instead of "
                  "plughost's value; NAME alone: NAME is not set (repeatable)")
      ->type_name("NAME[=VALUE]");
  run->add_option("--stop-timeout", c.texts.stop_timeout,
                  "seconds (or 500ms, 2s, 1m) plugins get after SIGTERM before SIGKILL; "
                  "default 5")
      ->type_name("DURATION");
  run->add_flag("--watch", run_opts.watch,
                "reload by itself when a file in a plugin location is added, changed or "
                "removed (as plughost.watch: true)");
  run->add_option("--exit-with-parent", c.exit_with,
                  "when the parent process (or, with =PID, that process) exits, even killed, "
                  "stop every plugin at once: their stop signal, then SIGKILL after at most 1 s")
      ->expected(0, 1)
      ->option_text("[=PID]");
  run->add_option("--socket", run_opts.control_socket,
                  "the control socket (plughost status, stop, logs... talk to it); none: no "
                  "control socket; default: plughost.control_socket, else "
                  "$XDG_RUNTIME_DIR/plughost/ROLE.WORKER_ID.sock, without XDG_RUNTIME_DIR "
                  "/run/plughost/ as root and /tmp/plughost-UID/ otherwise")
      ->type_name("PATH");
  run->add_option("--metrics-address", run_opts.metrics_address,
                  "serve /metrics (Prometheus) and /healthz over HTTP there; default: "
                  "plughost.metrics_address, else none")
      ->type_name("HOST:PORT");
}

CLI::App* add_list_command(CLI::App& app, listing_choice& c) {
  auto* list = app.add_subcommand("list", "show what run would do with every file found, and why");
  list->footer(
      "\nExit status: 0; 1 when a selected plugin cannot run (no interpreter, unreadable) or a "
      "location does not exist (unless --allow-missing-locations); 2 for "
      "a bad option or configuration.\nExample: plughost list --config lmcache.yaml --role "
      "SCHEDULER --worker-id -1");
  add_selection_options(*list, c.options, c.texts);
  list->add_flag("--json", c.json, "print one JSON object instead of a table");
  return list;
}

CLI::App* add_modules_command(CLI::App& app, listing_choice& c) {
  auto& modules_opts = c.options;
  auto* modules = app.add_subcommand("modules",
                                     "list the runner and sink modules found, and why "
                                     "any did not load");
  modules->footer("\nExample: plughost modules --module-path /opt/team/plughost-modules --json");
  add_module_options(*modules, modules_opts);
  add_permission_option(*modules, modules_opts);
  modules
      ->add_option("--config", modules_opts.config_file,
                   "configuration file whose plughost.module_locations to search (and "
                   "plughost.allow_insecure_permissions)")
      ->type_name("FILE");
  modules
      ->add_option("--settings", modules_opts.settings_file,
                   "settings file whose plughost.module_locations come first; default: "
                   "$PLUGHOST_SETTINGS")
      ->type_name("FILE");
  modules->add_flag("--json", c.json, "print one JSON object instead of a table");
  return modules;
}

// "--role=" is an empty value, not a flag waiting for the next argument (as CLI11 reads it).
std::vector<std::string> split_empty_values(int argc, char** argv) {
  std::vector<std::string> split_args;
  for (int i = 0; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (i > 0 && a.starts_with("--") && a.size() > 3 && a.ends_with('=') &&
        a.find('=') == a.size() - 1) {
      split_args.emplace_back(a.substr(0, a.size() - 1));
      split_args.emplace_back();
    } else {
      split_args.emplace_back(a);
    }
  }
  return split_args;
}

// The command: a mistyped one is named, with the nearest; `help [COMMAND]` prints help. Returns
// the exit status when that was all there was to do.
std::optional<int> help_or_unknown_command(CLI::App& app,
                                           const std::vector<std::string>& split_args,
                                           const std::vector<std::string>& commands) {
  if (split_args.size() <= 1 || split_args[1].starts_with("-")) return std::nullopt;
  const auto& given = split_args[1];
  if (given == "help") {
    if (split_args.size() == 2) {
      fmt::print("{}", app.help());
      return 0;
    }
    if (std::find(commands.begin(), commands.end(), split_args[2]) != commands.end()) {
      fmt::print("{}", app.get_subcommand(split_args[2])->help("plughost"));
      return 0;
    }
  }
  const auto& unknown = given == "help" ? split_args[2] : given;
  if (given == "help" || (given != "man-sections" &&
                          std::find(commands.begin(), commands.end(), given) == commands.end())) {
    auto known = commands;
    known.push_back("help");
    fmt::print(stderr, "plughost: error: unknown command '{}'{}; the commands are {} and help\n",
               visible(unknown), detail::did_you_mean(unknown, known), fmt::join(commands, ", "));
    return 2;
  }
  return std::nullopt;
}

int show_modules(const listing_choice& c) {
  const auto report = list_modules(c.options);
  if (c.json) {
    fmt::print("{}\n", to_json(report));
  } else {
    print_modules(report);
  }
  return 0;
}

int show_list(listing_choice& c) {
  apply_typed_texts(c.texts, c.options);
  read_config_json(c.options, max_plugin_config_bytes);
  const auto listed = launcher(c.options).plan();  // a copy: it outlives the launcher
  if (c.json) {
    fmt::print("{}\n", to_json(listed));
  } else {
    print_plan(listed);
  }
  // A deployment can gate on it: a plugin meant for this process cannot run, or run would
  // refuse a location that does not exist.
  for (const auto& e : listed.location_errors) fmt::print(stderr, "plughost: error: {}\n", e);
  const auto& plugins = listed.plugins;
  return std::any_of(plugins.begin(), plugins.end(),
                     [](const auto& p) { return p.decision == decision::error; }) ||
                 !listed.location_errors.empty()
             ? 1
             : 0;
}

int run_plugins(run_choice& c) {
  auto& run_opts = c.options;
  // A closed stdout must become a write error the sink reports, not a silent death.
  ::signal(SIGPIPE, SIG_IGN);
  run_opts.handle_signals = true;
  run_opts.reap_all_children = true;  // this program starts no other children
  run_opts.child_subreaper_and_sigchld_handler = true;
  run_opts.raise_open_file_limit = true;
  run_opts.control = true;
  run_opts.notify_systemd = true;
  apply_typed_texts(c.texts, run_opts);
  read_config_json(run_opts, max_plugin_config_bytes);
  if (c.exit_with) run_opts.exit_with = exit_with_pid(*c.exit_with);
  launcher l(run_opts);
  return l.run();
}

// Runs run, list or modules; an error is said on stderr, with its exit status.
int reported(const std::function<int()>& command) {
  try {
    return command();
  } catch (const error& e) {
    std::fflush(stdout);
    fmt::print(stderr, "plughost: error: {}\n", plughost::visible(e.what()));
    return 2;
  } catch (const std::exception& e) {  // a bug, not a user error: say so
    std::fflush(stdout);
    fmt::print(stderr, "plughost: internal error: {}\n", plughost::visible(e.what()));
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  open_closed_standard_descriptors();
  CLI::App app{
      "plughost: starts LMCache runtime plugins for this process's role and worker, "
      "captures their output and stops them when it exits.",
      "plughost"};
  app.set_version_flag("--version", fmt::format("plughost {}", version()));
  app.require_subcommand(1);
  app.footer("\nplughost help COMMAND (or plughost COMMAND --help) shows a command's options.");

  run_choice run_c;
  listing_choice list_c, modules_c;
  add_run_command(app, run_c);
  auto* list = add_list_command(app, list_c);
  auto* modules = add_modules_command(app, modules_c);
  std::function<int()> control_run;
  const auto control_commands = add_control_commands(app, control_run);
  add_completion_command(app, control_run);
  add_man_sections_command(app, control_run);

  auto split_args = split_empty_values(argc, argv);
  std::vector<char*> args;
  for (auto& a : split_args) args.push_back(a.data());
  std::vector<std::string> commands = {"run", "list", "modules"};
  commands.insert(commands.end(), control_commands.begin(), control_commands.end());
  commands.push_back("completion");
  if (const auto status = help_or_unknown_command(app, split_args, commands)) return *status;

  try {
    app.parse(static_cast<int>(args.size()), args.data());
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help, --version
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  if (control_run) return control_run();
  return reported([&] {
    if (*modules) return show_modules(modules_c);
    if (*list) return show_list(list_c);
    return run_plugins(run_c);
  });
}

}  // namespace plughost::cli
