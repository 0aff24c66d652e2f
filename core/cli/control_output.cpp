// Printing the control socket's answers for people (control_output.hpp).
#include "control_output.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <functional>
#include <set>
#include <string>
#include <string_view>

#include "plughost/record.hpp"
#include "plughost/sink_helpers.hpp"

namespace plughost::cli {

namespace {

using json = nlohmann::json;

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

// As plughost shows names (exact where "name" is not: JSON has no room for bytes that are not
// UTF-8); from an older plughost, as the name reads.
std::string shown_name(const json& p) {
  return p.value("shown_name", visible_name(p.value("name", std::string())));
}

// What each plugin with cgroup limits may use (docs/isolation.md), under the table: its
// nice, oom_score_adj and rlimits are in --json and `plughost list`.
void print_limits(const json& plugins, const std::function<std::string(const json&)>& shown) {
  static const std::set<std::string> shown_limits = {"memory_max", "memory_high", "cpu_max",
                                                     "cpu_weight", "pids_max",    "cpus"};
  for (const auto& p : plugins) {
    if (!p.contains("limits") || !p["limits"].is_object()) continue;
    std::vector<std::string> parts;
    for (const auto& [name, value] : p["limits"].items()) {
      if (shown_limits.contains(name) && value.is_string()) {
        parts.push_back(fmt::format("{} {}", name, value.get<std::string>()));
      }
    }
    if (parts.empty()) continue;
    if (p.value("oom_kills", 0ull) > 0)
      parts.push_back(fmt::format("{} OOM kills", p["oom_kills"].get<std::uint64_t>()));
    fmt::print("{}: {}\n", shown(p), fmt::join(parts, ", "));
  }
}

// What plugins say about their readiness (docs/health.md), under the table: for each that is
// required, said a STATUS= or was stopped for its health.
void print_health(const json& plugins, const std::function<std::string(const json&)>& shown) {
  for (const auto& p : plugins) {
    std::vector<std::string> parts;
    if (p.value("required", false))
      parts.emplace_back(p.value("ready", false) ? "required, ready" : "required, not ready");
    if (p.contains("ready_after_seconds") && p["ready_after_seconds"].is_number()) {
      parts.push_back(fmt::format("ready after {:.3f}s", p["ready_after_seconds"].get<double>()));
    }
    if (p.contains("health_failures") && p["health_failures"].is_object()) {
      for (const auto& [reason, n] : p["health_failures"].items()) {
        parts.push_back(fmt::format("stopped by its {} {} times", reason, n.get<std::uint64_t>()));
      }
    }
    if (p.contains("status_text") && p["status_text"].is_string()) {
      parts.push_back("status: " + visible(p["status_text"].get<std::string>()));
    }
    if (p.contains("waiting_for") && p["waiting_for"].is_string()) {
      parts.push_back("waiting for " + visible(p["waiting_for"].get<std::string>()));
    }
    if (!parts.empty()) fmt::print("{}: {}\n", shown(p), fmt::join(parts, "; "));
  }
}

}  // namespace

void print_chain(const json& s) {
  fmt::print("plughost pid {}: {}; seconds from its start\n", s.value("pid", json(nullptr)).dump(),
             s.value("phase", std::string("?")));
  std::vector<const json*> plugins;
  for (const auto& p : s["plugins"]) plugins.push_back(&p);
  // When it was first ready (else started; those still waiting last), then by name.
  const auto moment = [](const json& p) {
    for (const char* key : {"first_ready_seconds", "first_started_seconds"}) {
      if (p.contains(key) && p[key].is_number()) return p[key].get<double>();
    }
    return 1e300;
  };
  std::stable_sort(plugins.begin(), plugins.end(),
                   [&](const json* a, const json* b) { return moment(*a) < moment(*b); });
  std::size_t width = 6;
  for (const auto* p : plugins) width = std::max(width, shown_name(*p).size());
  const auto at = [](const json& p, const char* key) {
    return p.contains(key) && p[key].is_number() ? fmt::format("+{:.3f}s", p[key].get<double>())
                                                 : std::string("-");
  };
  fmt::print("{:<{}}  {:>10}  {:>10}  {:>9}  {}\n", "PLUGIN", width, "STARTED", "READY", "WAITED",
             "WAITED FOR");
  for (const auto* p : plugins) {
    const bool waiting = p->contains("waiting_for") && (*p)["waiting_for"].is_string();
    const auto waited = p->contains("waited_seconds") && (*p)["waited_seconds"].is_number()
                            ? fmt::format("{:.3f}s", (*p)["waited_seconds"].get<double>())
                            : std::string("-");
    const auto what = waiting ? "waiting for " + visible((*p)["waiting_for"].get<std::string>())
                      : p->contains("waited_for") && (*p)["waited_for"].is_string()
                          ? visible((*p)["waited_for"].get<std::string>())
                          : std::string("-");
    fmt::print("{:<{}}  {:>10}  {:>10}  {:>9}  {}\n", shown_name(*p), width,
               at(*p, "first_started_seconds"), at(*p, "first_ready_seconds"), waited, what);
  }
}

void print_status(const json& s) {
  fmt::print("plughost pid {}: {}\n", s.value("pid", json(nullptr)).dump(),
             s.value("phase", std::string("?")));
  const auto& plugins = s["plugins"];
  std::size_t width = 6;
  const auto shown = shown_name;
  for (const auto& p : plugins) width = std::max(width, shown(p).size());
  fmt::print("{:<{}}  {:<24} {:>7}  {:>7}  {:>8}  {:<14} {:>15}  {:>15}  {:>8} {:>9} {:>5}\n",
             "PLUGIN", width, "STATE", "PID", "UPTIME", "RESTARTS", "LAST EXIT", "STDOUT", "STDERR",
             "CPU", "MEM", "PROCS");
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
    auto last = p["last_signal"].is_string()      ? p["last_signal"].get<std::string>()
                : p["last_exit_code"].is_number() ? "code " + p["last_exit_code"].dump()
                                                  : std::string("-");
    if (p.value("last_oom_killed", false)) last = "oom_killed";
    // From its cgroup (docs/isolation.md); "-" without one.
    const auto figure = [&](const char* key, auto show) {
      return p.contains(key) && p[key].is_number() ? show(p[key]) : std::string("-");
    };
    const auto cpu = figure("cpu_seconds",
                            [](const json& v) { return fmt::format("{:.1f}s", v.get<double>()); });
    const auto memory =
        figure("memory_bytes", [](const json& v) { return size_text(v.get<std::uint64_t>()); });
    const auto procs = figure("processes", [](const json& v) { return v.dump(); });
    const auto stream = [&](const char* name) {
      const auto& st = p[name];
      return fmt::format("{}/{}", st.value("lines", 0ull), size_text(st.value("bytes", 0ull)));
    };
    fmt::print("{:<{}}  {:<24} {:>7}  {:>7}  {:>8}  {:<14} {:>15}  {:>15}  {:>8} {:>9} {:>5}\n",
               shown(p), width, state, pid, uptime, p.value("restarts", 0ull), last,
               stream("stdout"), stream("stderr"), cpu, memory, procs);
  }
  print_limits(plugins, shown);
  print_health(plugins, shown);
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

void print_runs(const std::vector<found_run>& runs) {
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
      const auto state = p.value("state", std::string());
      running += state == "running" || state == "ready" || state == "unhealthy" ? 1 : 0;
    }
    fmt::print("{:<8} {:<10} {:>7} {:>8} {:<9} {:>8}  {}\n", pid_text(r.status, "pid"),
               visible(run_role(r.status)), run_worker(r.status), pid_text(r.status, "parent_pid"),
               r.status.value("phase", std::string("?")), fmt::format("{}/{}", running, total),
               visible(r.socket.string()));
  }
}

}  // namespace plughost::cli
