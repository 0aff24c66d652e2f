// A fixture for tests that run the real plughost binary on real plugin scripts.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ctime>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace plughost::test {

/// The event records among `recs`, in order.
inline std::vector<json> events_of(const std::vector<json>& recs) {
  std::vector<json> out;
  for (const auto& r : recs) {
    if (r.value("stream", "") == "event") out.push_back(r);
  }
  return out;
}

/// NAME=VALUE entries as a map (the last of a name wins).
// A record's "ts" ("2026-11-25T12:00:00.123456Z") in seconds since the epoch.
inline double record_seconds(const std::string& ts) {
  std::tm t{};
  ::strptime(ts.c_str(), "%Y-%m-%dT%H:%M:%S", &t);
  return static_cast<double>(::timegm(&t)) + std::stod(ts.substr(19, 7));
}

inline std::map<std::string, std::string> as_map(const std::vector<std::string>& env) {
  std::map<std::string, std::string> out;
  for (const auto& e : env) {
    const auto eq = e.find('=');
    out[e.substr(0, eq)] = eq == std::string::npos ? "" : e.substr(eq + 1);
  }
  return out;
}

/// A field of /proc/<pid>/status, e.g. "Threads", "VmRSS" (KiB) or "voluntary_ctxt_switches".
inline long status_field(pid_t pid, const std::string& field) {
  std::istringstream in(read_file("/proc/" + std::to_string(pid) + "/status"));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  }
  return -1;
}

/// `request` sent as it is to 127.0.0.1:`port`, the connection read to its end: the answer's
/// status code and body ({0, what came} when it is no HTTP answer; {0, ""}: no connection).
inline std::pair<int, std::string> http_exchange(int port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) < 0) {
    ::close(fd);
    return {0, ""};
  }
  std::string response;
  char buffer[65536];
  for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;) {
    response.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  const auto body_at = response.find("\r\n\r\n");
  if (response.size() < 12 || body_at == std::string::npos) return {0, response};
  return {std::stoi(response.substr(9, 3)), response.substr(body_at + 4)};
}

/// GET `path` from 127.0.0.1:`port`: the status code and the body.
inline std::pair<int, std::string> http_get(int port, const std::string& path) {
  return http_exchange(port,
                       "GET " + path + " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
}

/// The port of the metrics endpoint a plughost started with --metrics-address 127.0.0.1:0
/// printed to `err` (its stderr file), once it has; 0 when it does not.
inline int metrics_port_in(const fs::path& err) {
  int port = 0;
  eventually([&] {
    const auto text = read_file(err);
    const std::string mark = "metrics: http://127.0.0.1:";
    const auto at = text.find(mark);
    if (at == std::string::npos) return false;
    port = std::atoi(text.c_str() + at + mark.size());
    return port > 0;
  });
  return port;
}

/// AddressSanitizer holds freed memory back (its quarantine), and ThreadSanitizer keeps shadow
/// memory and a history for what every thread touched: resident memory then grows with the work
/// done, and a check that it does not says nothing about plughost.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool memory_is_measurable = false;
#else
inline constexpr bool memory_is_measurable = true;
#endif

class plughost_run : public ::testing::Test {
 protected:
  /// Writes an executable plugin into the plugins folder.
  fs::path plugin(const std::string& name, const std::string& content) {
    return dir.write(fs::path("plugins") / name, content, fs::perms(0755));
  }

  /// `plughost <args> --location <plugins> --sink jsonl:<records>`, to completion (killed after
  /// `timeout`, which fails the test); without --location when --config is given, without
  /// --sink when --config or --sink is given.
  run_result run(std::vector<std::string> args,
                 std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    return run_plughost(with_defaults(std::move(args)), env, dir, timeout);
  }

  /// The same, started in the background.
  std::unique_ptr<child_process> start(std::vector<std::string> args,
                                       std::function<void()> in_child = {}) {
    std::vector<std::string> argv{plughost_binary().string()};
    for (auto& a : with_defaults(std::move(args))) argv.push_back(std::move(a));
    return std::make_unique<child_process>(child_process::options{
        argv, env, dir.path() / "bg.out", dir.path() / "bg.err", {}, std::move(in_child)});
  }

  std::vector<json> records() const { return read_jsonl(records_file); }

  std::vector<json> records_of(const std::string& plugin_name) const {
    std::vector<json> out;
    for (auto& r : records()) {
      if (r["plugin"] == plugin_name) out.push_back(r);
    }
    return out;
  }

  /// The "line" of every stdout or stderr record of a plugin, in order.
  std::vector<std::string> lines_of(const std::string& plugin_name,
                                    const std::string& stream) const {
    std::vector<std::string> out;
    for (auto& r : records_of(plugin_name)) {
      if (r["stream"] == stream) out.push_back(r["line"].get<std::string>());
    }
    return out;
  }

  /// A plugin's entry of `plughost status --json` from the control socket `socket`; null when
  /// plughost does not answer or has no such plugin.
  json plugin_status_at(const fs::path& socket, const std::string& name) {
    const auto r = run_plughost({"status", "--json", "--socket", socket.string()}, env, dir);
    if (r.exit_code != 0) return nullptr;
    // Held in a variable: a range-for over a part of a temporary reads it after its end
    // (C++20 extends the life of the range expression's own value only).
    const auto status = json::parse(r.out);
    for (const auto& p : status["plugins"]) {
      if (p["name"] == name) return p;
    }
    return nullptr;
  }

  /// Waits until a plugin has written `line` (on stdout), e.g. a "ready" line.
  bool wait_for_line(const std::string& plugin_name, const std::string& line) {
    return eventually([&] {
      for (const auto& l : lines_of(plugin_name, "stdout")) {
        if (l == line) return true;
      }
      return false;
    });
  }

  temp_dir dir;
  // Each test its own runtime folder: the control sockets of tests run at once never meet.
  std::vector<std::string> env =
      clean_environment({dir.marker(), "XDG_RUNTIME_DIR=" + (dir.path() / "run").string()});
  fs::path plugins = dir.path() / "plugins";
  fs::path records_file = dir.path() / "records.jsonl";

 private:
  std::vector<std::string> with_defaults(std::vector<std::string> args) const {
    if (args.empty() || (args[0] != "run" && args[0] != "list")) return args;
    bool has_location = false, has_sink = false, has_config = false;
    for (const auto& a : args) {
      has_location = has_location || a == "--location";
      has_sink = has_sink || a == "--sink";
      has_config = has_config || a == "--config";
    }
    if (!has_location && !has_config) args.insert(args.end(), {"--location", plugins.string()});
    // A configuration brings its own sinks: --sink would replace them.
    if (args[0] == "run" && !has_sink && !has_config) {
      args.insert(args.end(), {"--sink", "jsonl:" + records_file.string()});
    }
    return args;
  }
};

}  // namespace plughost::test
