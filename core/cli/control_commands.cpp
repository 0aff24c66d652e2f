// plughost status | start | stop | restart | reload | logs: one JSON request per line over the
// control socket (docs/operations.md), the answers printed for people or as JSON.
// Finding the plughost is plughost_finder.cpp, the socket control_connection.cpp, printing for
// people control_output.cpp; this file is the commands' options and what each one asks.
#include "control_commands.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

#include "control_output.hpp"
#include "plughost/error.hpp"
#include "plughost/sink_helpers.hpp"
#include "plughost_finder.hpp"

namespace plughost::cli {

namespace {

// Plugin names for a request: JSON carries only UTF-8, so a name given with bytes that are not
// (a file named so, typed raw) goes as plughost shows it, which plughost also accepts.
std::vector<std::string> names_for_request(const std::vector<std::string>& names) {
  std::vector<std::string> out;
  for (const auto& n : names) {
    try {
      (void)nlohmann::json(n).dump();
      out.push_back(n);
    } catch (const nlohmann::json::exception&) {
      out.push_back(visible_name(n));
    }
  }
  return out;
}

using json = nlohmann::json;

// Exit statuses of the control commands (docs/cli.md).
constexpr int refused = 1;      // plughost answered no (an unknown plugin, ...)
constexpr int unreachable = 3;  // no plughost answers at the socket

// An answer that says no: its error on stderr.
bool said_ok(const json& reply) {
  if (reply.value("ok", false)) return true;
  if (reply.contains("error") && reply["error"].is_string()) {
    fmt::print(stderr, "plughost: error: {}\n", visible(reply["error"].get<std::string>()));
  }
  return false;
}

// status --all: every plughost whose socket is in the default folders.
int status_of_all(const finding_options& o, bool as_json) {
  std::string looked_in;
  const auto sockets = sockets_in_default_folders(o, looked_in);
  if (sockets.empty()) throw unreachable_error("no plughost socket in " + looked_in);
  json all = json::array();
  std::vector<found_run> runs;
  for (const auto& socket : sockets) runs.push_back(ask_status(socket));
  if (as_json) {
    for (const auto& r : runs) {
      json item{{"socket", r.socket.string()}, {"status", r.status}};
      item["error"] = r.error.empty() ? json(nullptr) : json(r.error);
      all.push_back(std::move(item));
    }
    fmt::print("{}\n", all.dump(-1, ' ', false, json::error_handler_t::replace));
    return 0;
  }
  print_runs(runs);
  return 0;
}

// Runs a command; what went wrong on the way is said on stderr with its exit status.
int guarded(const std::function<int()>& f) {
  try {
    return f();
  } catch (const unreachable_error& e) {
    fmt::print(stderr, "plughost: error: {}\n", e.what());
    return unreachable;
  } catch (const error& e) {
    fmt::print(stderr, "plughost: error: {}\n", visible(e.what()));
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "plughost: error: {}\n", visible(e.what()));
    return unreachable;
  }
}

// Each command's options live as long as the program (the callbacks read them after parsing).

void add_status_command(CLI::App& app, std::function<int()>& run) {
  static finding_options status_o;
  static bool status_json = false, status_all = false, status_chain = false;
  auto* status = app.add_subcommand("status", "show what a running plughost's plugins are doing");
  add_finding_options(*status, status_o);
  status->add_flag("--json", status_json, "print the status as one JSON object");
  status->add_flag("--all", status_all,
                   "one line for every plughost whose socket is in the default folder (role, "
                   "worker, pid, the process it serves); with --json, an array");
  status->add_flag("--chain", status_chain,
                   "when each plugin first started and was first ready, in that order, and what "
                   "it waited for (after, requires, wait_for)");
  status->footer(
      "\nExit status: 0; 3 when no plughost answers at the socket (with --all: when there is "
      "no socket); 2 for a bad option.\n"
      "Example: plughost status --role WORKER --worker-id 0");
  status->callback([&run] {
    run = [] {
      return guarded([] {
        if (status_all) return status_of_all(status_o, status_json);
        auto c = connect(status_o);
        c.send({{"command", "status"}});
        const auto reply = c.answer();
        if (!said_ok(reply)) return refused;
        if (status_json) {
          fmt::print("{}\n", reply["status"].dump(-1, ' ', false, json::error_handler_t::replace));
        } else if (status_chain) {
          print_chain(reply["status"]);
        } else {
          print_status(reply["status"]);
        }
        return 0;
      });
    };
  });
}

// start, stop, restart: a request naming plugins, and one line per plugin on what was done.
void add_plugin_commands(CLI::App& app, std::function<int()>& run) {
  static finding_options act_o[3];
  static std::vector<std::string> act_names[3];
  const char* acts[3] = {"start", "stop", "restart"};
  const char* what[3] = {"start plugins that are not running (ended, failed, stopped by hand)",
                         "stop plugins, and keep them stopped until start, restart or reload",
                         "stop plugins and start them again"};
  for (int i = 0; i < 3; ++i) {
    auto* cmd = app.add_subcommand(acts[i], what[i]);
    add_finding_options(*cmd, act_o[i]);
    cmd->add_option("plugin", act_names[i], "plugin name, as status shows it (repeatable)")
        ->type_name("NAME")
        ->required();
    cmd->footer(fmt::format(
        "\nExit status: 0; 1 when plughost refused one (no such plugin...); 3 when no plughost "
        "answers.\nExample: plughost {} --role SCHEDULER --worker-id -1 all_metrics.py",
        acts[i]));
    cmd->callback([&run, i, name = std::string(acts[i])] {
      run = [i, name] {
        return guarded([i, name] {
          auto c = connect(act_o[i]);
          c.send({{"command", name}, {"plugins", names_for_request(act_names[i])}});
          const auto reply = c.answer();
          if (!reply.contains("results")) return said_ok(reply) ? 0 : refused;
          for (const auto& r : reply["results"]) {
            const auto plugin = visible_name(r.value("plugin", ""));
            if (r.value("ok", false)) {
              fmt::print("{}: {}\n", plugin, visible(r.value("said", "")));
            } else {
              fmt::print(stderr, "plughost: error: {}: {}\n", plugin,
                         visible(r.value("error", r.value("said", ""))));
            }
          }
          return reply.value("ok", false) ? 0 : refused;
        });
      };
    });
  }
}

// reload and reopen: a request, and what it did (a reload is waited for: what changed, or why
// nothing did).
void add_request_commands(CLI::App& app, std::function<int()>& run) {
  struct simple {
    const char* name;
    const char* help;
    const char* done;
    const char* example;
  };
  static const simple simples[2] = {
      {"reload", "read the configuration and the locations again (as SIGHUP does)", "reloaded",
       "plughost reload --config /etc/lmcache/lmcache.yaml --role WORKER"},
      {"reopen", "open every sink's file (or connection) again, after logrotate (as SIGUSR1 does)",
       "reopen requested", "plughost reopen --role WORKER --worker-id 0"}};
  static finding_options simple_o[2];
  for (int i = 0; i < 2; ++i) {
    auto* cmd = app.add_subcommand(simples[i].name, simples[i].help);
    add_finding_options(*cmd, simple_o[i]);
    cmd->footer(fmt::format("\nExample: {}", simples[i].example));
    cmd->callback([&run, i] {
      run = [i] {
        return guarded([i] {
          auto c = connect(simple_o[i]);
          c.send({{"command", simples[i].name}});
          const auto reply = c.answer();
          if (!said_ok(reply)) return refused;
          if (const auto w = reply.find("warnings"); w != reply.end() && w->is_array()) {
            for (const auto& line : *w) {
              if (line.is_string()) {
                fmt::print(stderr, "plughost: warning: {}\n", visible(line.get<std::string>()));
              }
            }
          }
          const auto said = reply.find("said");
          fmt::print("{}\n", said != reply.end() && said->is_string()
                                 ? visible(said->get<std::string>())
                                 : std::string(simples[i].done));
          return 0;
        });
      };
    });
  }
}

void add_logs_command(CLI::App& app, std::function<int()>& run) {
  static finding_options logs_o;
  static bool logs_json = false, logs_follow = false;
  static std::vector<std::string> logs_names;
  static std::int64_t logs_lines = 20;
  auto* logs = app.add_subcommand("logs", "show the latest records of a running plughost");
  add_finding_options(*logs, logs_o);
  logs->add_flag("-f,--follow", logs_follow, "then go on showing records as they come");
  logs->add_option("-n,--lines", logs_lines, "how many of the latest records first (default 20)")
      ->type_name("N")
      ->check(CLI::Range(0, 1000000));
  logs->add_flag("--json", logs_json, "one JSON object per record, as the jsonl sink writes");
  logs->add_option("plugin", logs_names, "only these plugins' records")->type_name("NAME");
  logs->footer("\nExample: plughost logs -f --role WORKER --worker-id 0 all_heartbeat.sh");
  logs->callback([&run] {
    run = [] {
      return guarded([] {
        auto c = connect(logs_o);
        json request{{"command", "logs"}, {"follow", logs_follow}, {"lines", logs_lines}};
        if (!logs_names.empty()) request["plugins"] = names_for_request(logs_names);
        c.send(request);
        if (!said_ok(c.answer())) return refused;
        if (logs_follow) c.wait_forever();
        while (const auto line = c.next_line()) {
          const auto j = json::parse(*line, nullptr, false);
          if (j.is_object() && j.contains("dropped")) {
            const auto n = j["dropped"].dump();
            fmt::print(stderr,
                       "plughost: warning: {} record{} not shown: this reader was slower than "
                       "the plugins\n",
                       n, n == "1" ? "" : "s");
            continue;
          }
          if (logs_json) {
            fmt::print("{}\n", *line);
          } else if (j.is_object()) {
            print_record(j);
          }
          std::fflush(stdout);
        }
        return 0;
      });
    };
  });
}

}  // namespace

std::vector<std::string> add_control_commands(CLI::App& app, std::function<int()>& run) {
  add_status_command(app, run);
  add_plugin_commands(app, run);
  add_request_commands(app, run);
  add_logs_command(app, run);
  return {"status", "start", "stop", "restart", "reload", "reopen", "logs"};
}

}  // namespace plughost::cli
