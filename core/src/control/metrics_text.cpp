// /metrics and /healthz: the text, from a launcher status and /proc.
#include "control/metrics_text.hpp"

#include <fmt/format.h>

#include <iterator>
#include <optional>

#include "plughost/sink_helpers.hpp"
#include "plughost/version.hpp"

namespace plughost::detail {

namespace {

// A status older than this means the event loop did not answer: not healthy.
constexpr auto loop_patience = std::chrono::seconds(5);

// A label value: the name as plughost shows names (valid UTF-8 with its control characters and
// other bytes as \xNN and its backslashes doubled, so that no two names give one series), then
// escaped as the exposition format wants (backslash, double quote, newline).
std::string label(std::string_view raw) {
  const auto v = visible_name(raw);
  std::string out;
  for (const char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

class exposition {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    fmt::format_to(std::back_inserter(text_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name,
                   type);
  }
  template <typename T>
  void sample(std::string_view name, std::string_view labels, T value) {
    fmt::format_to(std::back_inserter(text_), "{}{}{}{} {}\n", name, labels.empty() ? "" : "{",
                   labels, labels.empty() ? "" : "}", value);
  }
  std::string take() { return std::move(text_); }

 private:
  std::string text_;
};

double unix_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

// plughost itself: its version, and when it began to run its plugins.
void host_metrics(exposition& m, const launcher_status& s) {
  m.family("plughost_build_info", "gauge", "plughost's version (always 1).");
  m.sample("plughost_build_info", fmt::format("version=\"{}\"", PLUGHOST_VERSION_STRING), 1);
  if (s.started) {
    m.family("plughost_start_time_seconds", "gauge",
             "When plughost began to run its plugins, in seconds since the epoch.");
    m.sample("plughost_start_time_seconds", "", fmt::format("{:.3f}", unix_seconds(*s.started)));
  }
}

// Each plugin's state: up, state, restarts, exits.
void plugin_state_metrics(exposition& m, const launcher_status& s) {
  const auto per_plugin = [&](std::string_view name, std::string_view type, std::string_view help,
                              auto value) {
    m.family(name, type, help);
    for (const auto& p : s.plugins) value(p, fmt::format("plugin=\"{}\"", label(p.name)));
  };
  per_plugin("plughost_plugin_up", "gauge", "1 while the plugin's process runs, 0 otherwise.",
             [&](const plugin_status& p, const std::string& l) {
               using state = plughost::plugin_state;
               const bool runs = p.state == state::running || p.state == state::ready ||
                                 p.state == state::unhealthy || p.state == state::starting;
               m.sample("plughost_plugin_up", l, runs && p.pid != 0 ? 1 : 0);
             });
  per_plugin("plughost_plugin_ready", "gauge",
             "1 while the plugin's current run runs and is ready (docs/health.md; a plugin that "
             "does not say when it is ready is, once it runs), 0 otherwise.",
             [&](const plugin_status& p, const std::string& l) {
               m.sample("plughost_plugin_ready", l, p.ready ? 1 : 0);
             });
  m.family("plughost_plugin_health_failures_total", "counter",
           "Runs of the plugin stopped for their health, by reason (watchdog, liveness, startup).");
  for (const auto& p : s.plugins) {
    for (const auto& [reason, n] : p.health_failures) {
      m.sample("plughost_plugin_health_failures_total",
               fmt::format("plugin=\"{}\",reason=\"{}\"", label(p.name), label(reason)), n);
    }
  }
  m.family("plughost_plugin_state", "gauge",
           "1 for the state the plugin is in (starting, running, ready, unhealthy, stopping, "
           "draining, backoff, replacing, exited, failed, stopped, retired).");
  for (const auto& p : s.plugins) {
    m.sample("plughost_plugin_state",
             fmt::format("plugin=\"{}\",state=\"{}\"", label(p.name), label(to_string(p.state))),
             1);
  }
  per_plugin("plughost_plugin_restarts_total", "counter",
             "Runs of the plugin its restart policy started.",
             [&](const plugin_status& p, const std::string& l) {
               m.sample("plughost_plugin_restarts_total", l, p.restarts);
             });
  m.family("plughost_plugin_exits_total", "counter",
           "Ends of the plugin's main process, by exit code or by signal.");
  for (const auto& p : s.plugins) {
    for (const auto& [code, n] : p.exit_codes) {
      m.sample("plughost_plugin_exits_total",
               fmt::format("plugin=\"{}\",code=\"{}\",signal=\"\"", label(p.name), code), n);
    }
    for (const auto& [signal, n] : p.exit_signals) {
      m.sample("plughost_plugin_exits_total",
               fmt::format("plugin=\"{}\",code=\"\",signal=\"{}\"", label(p.name), label(signal)),
               n);
    }
  }
}

// Each plugin's output, by stream: records and bytes.
void plugin_output_metrics(exposition& m, const launcher_status& s) {
  const auto per_stream = [&](std::string_view name, std::string_view help,
                              std::uint64_t plugin_status::stream_count::*value) {
    m.family(name, "counter", help);
    for (const auto& p : s.plugins) {
      m.sample(name, fmt::format("plugin=\"{}\",stream=\"stdout\"", label(p.name)), p.out.*value);
      m.sample(name, fmt::format("plugin=\"{}\",stream=\"stderr\"", label(p.name)), p.err.*value);
    }
  };
  per_stream("plughost_plugin_output_lines_total",
             "Records the plugin wrote, by stream (a line over the length limit counts per piece).",
             &plugin_status::stream_count::lines);
  per_stream("plughost_plugin_output_bytes_total",
             "Bytes the plugin wrote, by stream, newlines included.",
             &plugin_status::stream_count::bytes);
}

// What the cgroup of each plugin that has one says: its memory (the kernel's count, page cache
// included), its processes, its OOM kills, and its limits.
void cgroup_metrics(exposition& m, const launcher_status& s) {
  const auto each = [&](std::string_view name, std::string_view type, std::string_view help,
                        auto value) {
    m.family(name, type, help);
    for (const auto& p : s.plugins) {
      if (const auto v = value(p)) {
        m.sample(name, fmt::format("plugin=\"{}\"", label(p.name)), *v);
      }
    }
  };
  each("plughost_plugin_memory_bytes", "gauge",
       "Memory the plugin's cgroup is charged for (memory.current or memory.usage_in_bytes).",
       [](const plugin_status& p) { return p.memory_bytes; });
  each("plughost_plugin_processes", "gauge", "Processes in the plugin's cgroup.",
       [](const plugin_status& p) { return p.processes; });
  each("plughost_plugin_oom_kills_total", "counter",
       "Processes of the plugin the out-of-memory killer ended in its cgroup (memory_max).",
       [](const plugin_status& p) {
         return p.cgroup.empty() ? std::nullopt : std::optional<std::uint64_t>(p.oom_kills);
       });
  each("plughost_plugin_memory_max_bytes", "gauge", "The plugin's memory_max.",
       [](const plugin_status& p) { return p.memory_max_bytes; });
  each("plughost_plugin_cpu_max_cores", "gauge", "The plugin's cpu_max, in cores (0.5: 50%).",
       [](const plugin_status& p) { return p.cpu_max_cores; });
  each("plughost_plugin_pids_max", "gauge", "The plugin's pids_max.",
       [](const plugin_status& p) { return p.pids_max; });
}

// What each plugin uses: from its cgroup (docs/isolation.md) where it has one, its current run's
// processes in /proc otherwise.
void plugin_usage_metrics(exposition& m, const launcher_status& s,
                          const std::map<pid_t, group_usage>& usage) {
  const auto usage_of = [&](const plugin_status& p) -> const group_usage* {
    if (p.pid == 0) return nullptr;
    const auto it = usage.find(p.pid);
    return it == usage.end() ? nullptr : &it->second;
  };
  m.family("plughost_plugin_cpu_seconds_total", "counter",
           "CPU time (user and system) of the plugin: of every process of its runs, from its "
           "cgroup; without one, of its current run's processes and the children they reaped.");
  for (const auto& p : s.plugins) {
    const auto* u = usage_of(p);
    if (p.cpu_seconds || u) {
      m.sample("plughost_plugin_cpu_seconds_total", fmt::format("plugin=\"{}\"", label(p.name)),
               fmt::format("{:.2f}", p.cpu_seconds ? *p.cpu_seconds : u->cpu_seconds));
    }
  }
  m.family("plughost_plugin_resident_memory_bytes", "gauge",
           "Resident memory of the processes of the plugin's current run.");
  for (const auto& p : s.plugins) {
    if (const auto* u = usage_of(p)) {
      m.sample("plughost_plugin_resident_memory_bytes", fmt::format("plugin=\"{}\"", label(p.name)),
               u->resident_bytes);
    }
  }
  cgroup_metrics(m, s);
}

// Each sink's queue, errors, lost and dropped records.
void sink_metrics(exposition& m, const launcher_status& s) {
  const auto per_sink = [&](std::string_view name, std::string_view type, std::string_view help,
                            auto value) {
    m.family(name, type, help);
    for (const auto& k : s.sinks)
      m.sample(name, fmt::format("sink=\"{}\"", label(k.name)), value(k));
  };
  per_sink("plughost_sink_queued_bytes", "gauge", "Records waiting in the sink's queue, in bytes.",
           [](const sink_status& k) { return k.queued_bytes; });
  per_sink("plughost_sink_queue_size_bytes", "gauge", "The size of the sink's queue, in bytes.",
           [](const sink_status& k) { return k.queue_size; });
  per_sink("plughost_sink_errors_total", "counter", "Writes and flushes of the sink that failed.",
           [](const sink_status& k) { return k.errors; });
  per_sink("plughost_sink_records_lost_total", "counter", "Records the sink failed to write.",
           [](const sink_status& k) { return k.lost; });
  m.family("plughost_sink_records_dropped_total", "counter",
           "Records the sink's overflow policy dropped, by plugin.");
  for (const auto& k : s.sinks) {
    for (const auto& [plugin, n] : k.dropped) {
      m.sample("plughost_sink_records_dropped_total",
               fmt::format("sink=\"{}\",plugin=\"{}\"", label(k.name), label(plugin)), n);
    }
  }
}

}  // namespace

std::string metrics_text(const launcher_status& s, const std::map<pid_t, group_usage>& usage) {
  exposition m;
  host_metrics(m, s);
  plugin_state_metrics(m, s);
  plugin_output_metrics(m, s);
  plugin_usage_metrics(m, s, usage);
  sink_metrics(m, s);
  return m.take();
}

bool ready(const launcher_status& s, std::chrono::system_clock::time_point now, std::string& why) {
  if (!healthy(s, now, why)) return false;
  if (s.phase != launcher_phase::running) {
    why = "plughost is starting its plugins";
    return false;
  }
  std::vector<std::string> waiting;
  for (const auto& p : s.plugins) {
    if (p.required && !p.ready) {
      waiting.push_back(fmt::format("{} ({})", visible_name(p.name), to_string(p.state)));
    }
  }
  if (waiting.empty()) return true;
  why = fmt::format("not ready: {}", fmt::join(waiting, ", "));
  return false;
}

bool healthy(const launcher_status& s, std::chrono::system_clock::time_point now,
             std::string& why) {
  if (s.phase != launcher_phase::starting && s.phase != launcher_phase::running) {
    why = "plughost is " + std::string(to_string(s.phase));
    return false;
  }
  if (!s.taken || now - *s.taken > loop_patience) {
    why = "plughost's event loop is not answering";
    return false;
  }
  return true;
}

}  // namespace plughost::detail
