// plughost status | start | stop | restart | reload | logs: one JSON request per line over the
// control socket (docs/operations.md), the answers printed for people or as JSON.
#include "control_commands.hpp"

#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <deque>
#include <memory>
#include <nlohmann/json.hpp>
#include <string_view>
#include <system_error>
#include <vector>

#include "plughost/error.hpp"
#include "plughost/launcher.hpp"
#include "plughost/record.hpp"
#include "plughost/sink_helpers.hpp"

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
constexpr int answer_patience_seconds = 10;

class unreachable_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Connects to the control socket at `path`: the descriptor, or -errno.
int connect_to(const std::filesystem::path& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    const int e = errno;
    ::close(fd);
    return -e;
  }
  return fd;
}

// One connection to the control socket: requests out, lines in.
class control_connection {
 public:
  control_connection(int fd, const std::filesystem::path& path) : path_(path), fd_(fd) {
    // Whoever answers must be this user or root: a socket planted at the path (a folder in /tmp
    // someone else made first) would otherwise receive the requests and forge the answers.
    struct ucred peer {};
    socklen_t size = sizeof peer;
    if (::getsockopt(fd_, SOL_SOCKET, SO_PEERCRED, &peer, &size) != 0 ||
        (peer.uid != ::geteuid() && peer.uid != 0)) {
      throw std::runtime_error(fmt::format(
          "refusing {}: the process listening there runs as uid {}, not as this user ({}) or "
          "root",
          visible(path.string()), peer.uid, ::geteuid()));
    }
    // A plughost that does not answer (stopped, or its loop stuck) is said so, not waited for.
    timeval patience{answer_patience_seconds, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &patience, sizeof patience);
  }

  // logs -f: wait for records as long as they take.
  void wait_forever() {
    timeval none{0, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
  }
  ~control_connection() {
    if (fd_ >= 0) ::close(fd_);
  }
  control_connection(const control_connection&) = delete;
  control_connection& operator=(const control_connection&) = delete;

  // A request. plughost may answer and close before it has read it all (a request over its
  // limit, a refusal): what it said is then the answer, read next. No SIGPIPE: that would end
  // this command without a word.
  void send(const json& request) {
    const auto text = request.dump() + "\n";
    for (std::string_view left(text); !left.empty();) {
      const auto n = ::send(fd_, left.data(), left.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) return;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        throw unreachable_error(fmt::format("plughost at {} did not take the request within {} s",
                                            visible(path_.string()), answer_patience_seconds));
      }
      if (n < 0) {
        throw std::system_error(errno, std::generic_category(),
                                "sending the request to " + visible(path_.string()));
      }
      left.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  // The next line; nullopt when plughost closed the connection.
  std::optional<std::string> next_line() {
    while (true) {
      if (const auto end = buffer_.find('\n'); end != std::string::npos) {
        auto line = buffer_.substr(0, end);
        buffer_.erase(0, end + 1);
        return line;
      }
      char chunk[64 * 1024];
      const auto n = ::read(fd_, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        throw unreachable_error(fmt::format("plughost at {} did not answer within {} s",
                                            visible(path_.string()), answer_patience_seconds));
      }
      if (n <= 0) return std::nullopt;
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  // The answer to a request: a JSON object.
  json answer() {
    const auto line = next_line();
    if (!line) {
      throw unreachable_error(fmt::format("plughost at {} closed the connection without answering",
                                          visible(path_.string())));
    }
    auto reply = json::parse(*line, nullptr, false);
    if (!reply.is_object()) throw std::runtime_error("plughost's answer is not JSON: " + *line);
    return reply;
  }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  std::string buffer_;
};

// An answer that says no: its error on stderr.
bool said_ok(const json& reply) {
  if (reply.value("ok", false)) return true;
  if (reply.contains("error") && reply["error"].is_string()) {
    fmt::print(stderr, "plughost: error: {}\n", visible(reply["error"].get<std::string>()));
  }
  return false;
}

std::string duration_text(double seconds) {
  auto s = static_cast<long long>(std::llround(seconds));
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  if (s < 86400) return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
  return fmt::format("{}d{:02}h", s / 86400, (s % 86400) / 3600);
}

std::string size_text(std::uint64_t bytes) {
  if (bytes < 1024) return fmt::format("{}B", bytes);
  if (bytes < 1024 * 1024) return fmt::format("{:.1f}KiB", static_cast<double>(bytes) / 1024);
  if (bytes < 1024ull * 1024 * 1024) {
    return fmt::format("{:.1f}MiB", static_cast<double>(bytes) / (1024 * 1024));
  }
  return fmt::format("{:.1f}GiB", static_cast<double>(bytes) / (1024.0 * 1024 * 1024));
}

void print_status(const json& s) {
  fmt::print("plughost pid {}: {}\n", s.value("pid", json(nullptr)).dump(),
             s.value("phase", std::string("?")));
  const auto& plugins = s["plugins"];
  std::size_t width = 6;
  // As plughost shows names (exact where "name" is not: JSON has no room for bytes that are not
  // UTF-8); from an older plughost, as the name reads.
  const auto shown = [](const json& p) {
    return p.value("shown_name", visible_name(p.value("name", std::string())));
  };
  for (const auto& p : plugins) width = std::max(width, shown(p).size());
  fmt::print("{:<{}}  {:<24} {:>7}  {:>7}  {:>8}  {:<14} {:>15}  {:>15}\n", "PLUGIN", width,
             "STATE", "PID", "UPTIME", "RESTARTS", "LAST EXIT", "STDOUT", "STDERR");
  for (const auto& p : plugins) {
    std::string state = p.value("state", "?");
    if (p["by_hand"].is_string()) state += " (by hand)";
    if (p["next_restart_in_seconds"].is_number()) {
      state += " " + duration_text(std::max(0.0, p["next_restart_in_seconds"].get<double>()));
    }
    const auto pid = p["pid"].is_number() ? p["pid"].dump() : std::string("-");
    const auto uptime = p["uptime_seconds"].is_number()
                            ? duration_text(p["uptime_seconds"].get<double>())
                            : std::string("-");
    const auto last = p["last_signal"].is_string()      ? p["last_signal"].get<std::string>()
                      : p["last_exit_code"].is_number() ? "code " + p["last_exit_code"].dump()
                                                        : std::string("-");
    const auto stream = [&](const char* name) {
      const auto& st = p[name];
      return fmt::format("{}/{}", st.value("lines", 0ull), size_text(st.value("bytes", 0ull)));
    };
    fmt::print("{:<{}}  {:<24} {:>7}  {:>7}  {:>8}  {:<14} {:>15}  {:>15}\n", shown(p), width,
               state, pid, uptime, p.value("restarts", 0ull), last, stream("stdout"),
               stream("stderr"));
  }
  if (plugins.empty()) fmt::print("no plugins\n");
  for (const auto& k : s["sinks"]) {
    std::uint64_t dropped = 0;
    for (const auto& [plugin, n] : k["dropped"].items()) dropped += n.get<std::uint64_t>();
    fmt::print("sink {}: queue {} of {}, {} dropped, {} lost, {} errors\n",
               visible_name(k.value("label", "")), size_text(k.value("queued_bytes", 0ull)),
               size_text(k.value("queue_size", 0ull)), dropped, k.value("lost", 0ull),
               k.value("errors", 0ull));
  }
}

// A record as the stdout sink shows it, from its JSON (record_to_json).
void print_record(const json& j) {
  record r;
  const auto plugin = j.value("plugin", std::string());
  r.plugin = plugin;
  r.pid = j["pid"].is_number() ? j["pid"].get<int>() : 0;
  const auto stream_name = j.value("stream", std::string("out"));
  r.stream = stream_name == "stderr"  ? stream::err
             : stream_name == "event" ? stream::event
                                      : stream::out;
  const auto line = j.value("line", std::string());
  r.line = line;
  std::string event;
  std::deque<std::string> texts;
  std::deque<std::vector<std::string>> lists;
  std::vector<event_field> fields;
  if (r.stream == stream::event) {
    event = j.value("event", std::string());
    r.event = event;
    for (const auto& [key, value] : j.items()) {
      if (key == "ts" || key == "plugin" || key == "pid" || key == "stream" || key == "event") {
        continue;
      }
      const std::string_view k = texts.emplace_back(key);
      if (value.is_number_integer()) {
        fields.push_back({k, value.get<std::int64_t>()});
      } else if (value.is_number()) {
        fields.push_back({k, value.get<double>()});
      } else if (value.is_array()) {
        auto& list = lists.emplace_back();
        for (const auto& v : value) list.push_back(v.is_string() ? v.get<std::string>() : v.dump());
        fields.push_back({k, std::span<const std::string>(list)});
      } else {
        fields.push_back({k, std::string_view(texts.emplace_back(
                                 value.is_string() ? value.get<std::string>() : value.dump()))});
      }
    }
    r.fields = fields;
  }
  std::string out = "[" + visible_name(shown_plugin(r));
  if (r.stream != stream::out) out += ":" + std::string(to_string(r.stream));
  out += "] ";
  out += r.stream == stream::event ? describe_event(r) : visible(r.line);
  fmt::print("{}\n", out);
}

struct finding_options {
  launch_options launch;
  std::optional<std::string> socket;
  std::optional<int> pid;  // --pid: the plughost with this pid, or the one serving this process
};

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
  cmd.add_option("--worker-id", o.launch.worker_id,
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

// Where the socket may be: where `run` with these options would put it, and, as root with the
// default path under $XDG_RUNTIME_DIR (a login shell has one), where a system service's plughost
// puts it: systemd gives a service no XDG_RUNTIME_DIR, so it uses /run/plughost.
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

// A plughost found by its socket: its status, or why it gave none.
struct found_run {
  std::filesystem::path socket;
  json status;  // null when it did not answer
  std::string error;
};

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
  fmt::print("{:<8} {:<10} {:>7} {:>8} {:<9} {:>8}  {}\n", "PID", "ROLE", "WORKER", "SERVING",
             "PHASE", "PLUGINS", "SOCKET");
  for (const auto& r : runs) {
    if (r.status.is_null()) {
      fmt::print("{:<8} {:<10} {:>7} {:>8} {:<9} {:>8}  {} (not answering: {})\n", "-", "-", "-",
                 "-", "-", "-", visible(r.socket.string()), visible(r.error));
      continue;
    }
    std::size_t running = 0, total = 0;
    for (const auto& p : r.status.value("plugins", json::array())) {
      ++total;
      running += p.value("state", std::string()) == "running" ? 1 : 0;
    }
    fmt::print("{:<8} {:<10} {:>7} {:>8} {:<9} {:>8}  {}\n", pid_text(r.status, "pid"),
               visible(run_role(r.status)), run_worker(r.status), pid_text(r.status, "parent_pid"),
               r.status.value("phase", std::string("?")), fmt::format("{}/{}", running, total),
               visible(r.socket.string()));
  }
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

}  // namespace

std::vector<std::string> add_control_commands(CLI::App& app, std::function<int()>& run) {
  // Each command's options live as long as the program (the lambdas read them after parsing).
  static finding_options status_o, act_o[3], logs_o;
  static bool status_json = false, status_all = false, logs_json = false, logs_follow = false;
  static std::vector<std::string> act_names[3], logs_names;
  static std::int64_t logs_lines = 20;

  auto* status = app.add_subcommand("status", "show what a running plughost's plugins are doing");
  add_finding_options(*status, status_o);
  status->add_flag("--json", status_json, "print the status as one JSON object");
  status->add_flag("--all", status_all,
                   "one line for every plughost whose socket is in the default folder (role, "
                   "worker, pid, the process it serves); with --json, an array");
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
        } else {
          print_status(reply["status"]);
        }
        return 0;
      });
    };
  });

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

  // reload and reopen: a request, and what it did (a reload is waited for: what changed, or why
  // nothing did).
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
  return {"status", "start", "stop", "restart", "reload", "reopen", "logs"};
}

}  // namespace plughost::cli
