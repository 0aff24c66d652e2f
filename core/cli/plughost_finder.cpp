// Finding the running plughost a control command means (plughost_finder.hpp).
#include "plughost_finder.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <system_error>

#include "plughost/error.hpp"
#include "plughost/sink_helpers.hpp"

namespace plughost::cli {

namespace {

using json = nlohmann::json;

// As a system service's plughost finds its socket: root's login shells have an XDG_RUNTIME_DIR
// (/run/user/0), while systemd gives a service none, so it uses /run/plughost. nullopt when that
// is where these options look already.
std::optional<launch_options> as_service(const finding_options& o) {
  if (::geteuid() != 0 || o.socket || o.launch.environment || !std::getenv("XDG_RUNTIME_DIR")) {
    return std::nullopt;
  }
  auto service = o.launch;
  service.environment.emplace();
  for (char** e = ::environ; *e != nullptr; ++e) {
    if (std::string_view(*e).rfind("XDG_RUNTIME_DIR=", 0) != 0) {
      service.environment->emplace_back(*e);
    }
  }
  return service;
}

// Where the socket may be: where `run` with these options would put it, and, as root with the
// default path under $XDG_RUNTIME_DIR, where a system service's plughost puts it.
std::vector<std::filesystem::path> places_to_look(const finding_options& o,
                                                  const std::filesystem::path& found) {
  std::vector<std::filesystem::path> places{found};
  const auto service = as_service(o);
  if (!service) return places;
  try {
    std::string unread;  // said once already
    if (const auto other = control_socket_path(*service, &unread); other && *other != found) {
      places.push_back(*other);
    }
  } catch (const std::exception&) {  // the same error as the first look, which said it
  }
  return places;
}

// One line per plughost, for a choice between several.
std::string describe_runs(const std::vector<found_run>& runs) {
  std::string out;
  for (const auto& r : runs) {
    out += fmt::format("{}pid {} (role {}, worker {}, serving process {}) at {}",
                       out.empty() ? "" : "; ", pid_text(r.status, "pid"),
                       visible(run_role(r.status)), run_worker(r.status),
                       pid_text(r.status, "parent_pid"), visible(r.socket.string()));
  }
  return out;
}

// --pid: the plughost with that pid, or serving that process, among the default folders' ones.
std::filesystem::path socket_of_pid(const finding_options& o) {
  std::string looked_in;
  std::vector<found_run> matches;
  for (const auto& socket : sockets_in_default_folders(o, looked_in)) {
    auto run = ask_status(socket);
    if (run.status.is_null()) continue;
    const auto pid = json(*o.pid);
    if (run.status.value("pid", json(nullptr)) == pid ||
        run.status.value("parent_pid", json(nullptr)) == pid) {
      matches.push_back(std::move(run));
    }
  }
  if (matches.empty()) {
    throw unreachable_error(fmt::format(
        "no plughost with pid {}, nor one serving process {}, answers in {} (plughost status "
        "--all lists those that do)",
        *o.pid, *o.pid, looked_in));
  }
  if (matches.size() > 1) {
    throw usage_error(fmt::format("{} plughosts serve process {}: {}; choose one with --socket",
                                  matches.size(), *o.pid, describe_runs(matches)));
  }
  return matches.front().socket;
}

// The default socket for an identity is ROLE.WORKER_ID.sock; a run serving a process (the Python
// drop-in's) has ROLE.WORKER_ID.PID.sock beside it. The ones of these that answer.
std::vector<found_run> runs_serving_a_process(const std::filesystem::path& place) {
  const auto stem = place.stem().string() + ".";
  std::vector<found_run> out;
  std::error_code ec;
  std::vector<std::filesystem::path> candidates;
  for (const auto& entry : std::filesystem::directory_iterator(place.parent_path(), ec)) {
    const auto name = entry.path().filename().string();
    if (!name.starts_with(stem) || !name.ends_with(".sock")) continue;
    const auto middle = name.substr(stem.size(), name.size() - stem.size() - 5);
    if (middle.empty() ||
        !std::all_of(middle.begin(), middle.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      continue;
    }
    candidates.push_back(entry.path());
  }
  std::sort(candidates.begin(), candidates.end());
  for (const auto& c : candidates) {
    if (auto run = ask_status(c); !run.status.is_null()) out.push_back(std::move(run));
  }
  return out;
}

}  // namespace

// How a control command finds the plughost it talks to: as `run` was told (configuration,
// identity), or its socket.
void add_finding_options(CLI::App& cmd, finding_options& o) {
  auto* socket =
      cmd.add_option(
             "--socket", o.socket,
             "the control socket of the plughost to talk to; default: the one `run` with the "
             "same --config, --settings, --role and --worker-id uses")
          ->type_name("PATH");
  cmd.add_option("--config", o.launch.config_file,
                 "the configuration `run` was given (for plughost.control_socket)")
      ->type_name("FILE");
  cmd.add_option("--settings", o.launch.settings_file,
                 "the settings file `run` was given; default: $PLUGHOST_SETTINGS")
      ->type_name("FILE");
  cmd.add_option("--role", o.launch.role,
                 "the role `run` has; default: $LMCACHE_RUNTIME_PLUGIN_ROLE")
      ->type_name("ROLE");
  cmd.add_option("--worker-id", o.worker_id,
                 "the worker id `run` has; default: $LMCACHE_RUNTIME_PLUGIN_WORKER_ID, else 0")
      ->type_name("ID");
  cmd.add_option("--pid", o.pid,
                 "the plughost with this pid, or the one serving this process (the LMCache "
                 "process of the Python drop-in), among those whose sockets are in the default "
                 "folder (plughost status --all lists them)")
      ->type_name("PID")
      ->check(CLI::PositiveNumber)
      ->excludes(socket);
}

found_run ask_status(const std::filesystem::path& socket) {
  found_run out{socket, nullptr, {}};
  const int fd = connect_to(socket);
  if (fd < 0) {
    out.error = std::strerror(-fd);
    return out;
  }
  try {
    control_connection c(fd, socket);
    c.send({{"command", "status"}});
    const auto reply = c.answer();
    if (reply.value("ok", false) && reply.contains("status") && reply["status"].is_object()) {
      out.status = reply["status"];
    } else {
      out.error = reply.value("error", std::string("no status in its answer"));
    }
  } catch (const std::exception& e) {
    out.error = e.what();
  }
  return out;
}

// Every socket in the default folders (this user's, and as root a service's), in name order.
std::vector<std::filesystem::path> sockets_in_default_folders(const finding_options& o,
                                                              std::string& looked_in) {
  std::vector<std::filesystem::path> folders{control_socket_folder(o.launch)};
  if (const auto service = as_service(o)) {
    if (const auto other = control_socket_folder(*service); other != folders.front()) {
      folders.push_back(other);
    }
  }
  std::vector<std::filesystem::path> out;
  for (const auto& folder : folders) {
    looked_in += (looked_in.empty() ? "" : " and ") + visible(folder.string());
    std::error_code ec;
    std::vector<std::filesystem::path> here;
    for (const auto& entry : std::filesystem::directory_iterator(folder, ec)) {
      if (entry.path().extension() == ".sock" && entry.is_socket(ec)) here.push_back(entry.path());
    }
    std::sort(here.begin(), here.end());
    out.insert(out.end(), here.begin(), here.end());
  }
  return out;
}

std::string run_role(const json& status) {
  const auto& who = status.value("identity", json(nullptr));
  if (!who.is_object()) return "?";
  return who["role"].is_string() ? who["role"].get<std::string>() : std::string("(none)");
}

std::string run_worker(const json& status) {
  const auto& who = status.value("identity", json(nullptr));
  return who.is_object() ? who.value("worker_id", json(nullptr)).dump() : std::string("?");
}

std::string pid_text(const json& status, const char* key) {
  const auto& v = status.value(key, json(nullptr));
  return v.is_number() ? v.dump() : std::string("-");
}

control_connection connect(finding_options& o) {
  if (o.pid) {
    const auto socket = socket_of_pid(o);
    const int fd = connect_to(socket);
    if (fd < 0) {
      throw unreachable_error(fmt::format("no plughost answers at {}: {}", visible(socket.string()),
                                          std::strerror(-fd)));
    }
    return control_connection(fd, socket);
  }
  if (o.worker_id) o.launch.worker_id = parse_worker_id_option("--worker-id", *o.worker_id);
  o.launch.control = true;
  if (o.socket) o.launch.control_socket = *o.socket;  // its placeholders filled, as run's
  std::string unread;
  const auto found = control_socket_path(o.launch, &unread);
  if (!unread.empty()) {
    // Being fixed, maybe: the running plughost (which read it when it was sound) is asked anyway.
    fmt::print(stderr,
               "plughost: warning: cannot read the configuration ({}); trying the "
               "default control socket\n",
               visible(unread));
  }
  if (!found) {
    throw usage_error(o.socket ? "--socket none names no control socket"
                               : "the configuration turns the control socket off "
                                 "(plughost.control_socket: none)");
  }
  const auto places = places_to_look(o, *found);
  std::string tried;
  bool missing = false;
  for (const auto& place : places) {
    const int fd = connect_to(place);
    if (fd >= 0) return control_connection(fd, place);
    missing = missing || fd == -ENOENT;
    tried += fmt::format("{}{}{}: {}", tried.empty() ? "" : ", nor at ", visible(place.string()),
                         place == *found ? "" : " (where a service puts it)", std::strerror(-fd));
  }
  if (!o.socket) {
    // None of its own: a plughost serving one process, of this identity (the Python drop-in's).
    std::vector<found_run> serving;
    for (const auto& place : places) {
      auto here = runs_serving_a_process(place);
      serving.insert(serving.end(), here.begin(), here.end());
    }
    if (serving.size() == 1) {
      const int fd = connect_to(serving.front().socket);
      if (fd >= 0) return control_connection(fd, serving.front().socket);
    } else if (serving.size() > 1) {
      throw usage_error(fmt::format(
          "{} plughosts run with this role and worker id, each serving a process: {}; choose one "
          "with --pid (its pid, or the pid of the process it serves) or --socket",
          serving.size(), describe_runs(serving)));
    }
  }
  throw unreachable_error(fmt::format(
      "no plughost answers at {}{}", tried,
      missing ? " (is it running, with the same --config, --role and --worker-id, or give its "
                "--socket or --pid; plughost status --all lists every one)"
              : ""));
}

}  // namespace plughost::cli
