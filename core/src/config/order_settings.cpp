// Order and gates (docs/health.md): a plugin's `after` and `requires` (names, or names with a
// condition: started, ready, completed), `wait_for` (under `plughost:` too) and
// plughost.ordered_stop; plugins that wait for each other are refused at load, with the cycle.
#include <fmt/format.h>

#include <functional>
#include <set>

#include "config/setting_values.hpp"
#include "config/settings_parts.hpp"

namespace plughost::detail {

namespace {

const setting_spec gate_table[] = {
    {.key = "http",
     .type = setting_type::string,
     .description = "http://HOST:PORT/PATH; an answer from 200 to 399 opens it"},
    {.key = "tcp", .type = setting_type::string, .description = "HOST:PORT; a connection opens it"},
    {.key = "file", .type = setting_type::string, .description = "a path; its existence opens it"},
    {.key = "timeout",
     .type = setting_type::duration,
     .default_value = "10m",
     .description = "waited at most, then an error, and the restart policy decides"},
    {.key = "period",
     .type = setting_type::duration,
     .default_value = "0.1s",
     .description = "from one attempt to the next"},
};

// after: or requires: of a plugin's entry, onto `out`.
void read_dependencies(const json& entry, const config_document& doc,
                       const json::json_pointer& where, const std::string& what, const char* key,
                       std::vector<dependency>& out) {
  const auto it = entry.find(key);
  if (it == entry.end() || it->is_null()) return;
  const auto at = where / key;
  const bool required = std::string_view(key) == "requires";
  const auto add = [&](const json& name, const json* condition, const json::json_pointer& here) {
    if (!name.is_string() || name.get<std::string>().empty()) {
      doc.fail_at_value(here, fmt::format("{}.{} must name plugins (file names such as "
                                          "server.py), got {}",
                                          what, key, describe_type(name)));
    }
    dependency d{name.get<std::string>(), wait_condition::ready, required};
    if (condition) {
      const auto c = condition->is_string() ? parse_wait_condition(condition->get<std::string>())
                                            : std::nullopt;
      if (!c) {
        doc.fail_at_value(here, fmt::format("{}.{}.{}: expected started, ready or completed, "
                                            "got {}",
                                            what, key, d.name,
                                            condition->is_string() ? condition->get<std::string>()
                                                                   : describe_type(*condition)));
      }
      d.until = *c;
    }
    out.push_back(std::move(d));
  };
  if (it->is_array()) {
    for (std::size_t i = 0; i < it->size(); ++i) add((*it)[i], nullptr, at / i);
  } else if (it->is_object()) {
    for (const auto& [name, condition] : it->items()) add(json(name), &condition, at / name);
  } else {
    doc.fail_at_value(at, fmt::format("{}.{} must be a list of plugin names, or a mapping of "
                                      "names to started, ready or completed, got {}",
                                      what, key, describe_type(*it)));
  }
}

gate_spec read_gate(const json& value, const config_document& doc, const json::json_pointer& at,
                    const std::string& what) {
  if (!value.is_object()) {
    doc.fail_at_value(at, fmt::format("{} must be a mapping such as {{http: "
                                      "http://127.0.0.1:8000/health, timeout: 5m}}, got {}",
                                      what, describe_type(value)));
  }
  const auto s = validate_settings(gate_table, value, doc, at, what);
  if (s.has("http") + s.has("tcp") + s.has("file") != 1) {
    doc.fail_at_value(at, fmt::format("{} needs exactly one of http, tcp or file", what));
  }
  gate_spec g;
  g.timeout = s.get_duration("timeout");
  g.every = s.get_duration("period");
  if (g.timeout.count() <= 0 || g.every < std::chrono::milliseconds(10)) {
    doc.fail_at_value(at, fmt::format("{}: timeout must be more than 0, and period at least "
                                      "10ms",
                                      what));
  }
  g.check.timeout = std::min<std::chrono::nanoseconds>(std::chrono::seconds(1), g.timeout);
  if (s.has("file")) {
    g.how = gate_spec::method::file;
    g.target = s.get_string("file");
    if (g.target.empty()) doc.fail_at_value(at / "file", what + ".file must be a path");
    g.file = normal_path(doc.base_dir, g.target).string();  // relative: to its file's folder
  } else if (s.has("http")) {
    g.how = gate_spec::method::http;
    g.check.how = probe_spec::method::http;
    g.target = g.check.target = s.get_string("http");
    if (!parse_http_url(g.target, g.check)) {
      doc.fail_at_value(at / "http", fmt::format("{}.http must be a URL such as "
                                                 "http://127.0.0.1:8000/health, got {}",
                                                 what, g.target));
    }
  } else {
    g.target = g.check.target = s.get_string("tcp");
    if (!split_host_port(g.target, g.check.host, g.check.port)) {
      doc.fail_at_value(at / "tcp", fmt::format("{}.tcp must be HOST:PORT such as "
                                                "127.0.0.1:8000, got {}",
                                                what, g.target));
    }
  }
  return g;
}

}  // namespace

std::string resolve_watch(const launch_options& options, const configuration& config) {
  const auto p = pick(config, "watch");
  std::string mode;
  if (p.value && p.value->is_boolean()) {
    mode = p.value->get<bool>() ? "notify" : "";
  } else if (p.value && p.value->is_string() && p.value->get<std::string>() == "scan") {
    mode = "scan";
  } else if (p.value && !p.value->is_null()) {
    p.doc->fail_at_value(p.where, fmt::format("plughost.watch: expected true, false or scan (a "
                                              "scan every second instead of inotify), got {}",
                                              describe_type(*p.value)));
  }
  return options.watch && mode.empty() ? "notify" : mode;
}

void read_order(const json& section, const config_document& doc, const json::json_pointer& where,
                const std::string& what, bool plugin_entry, plugin_policy& policy) {
  if (!section.is_object()) return;
  if (const auto it = section.find("wait_for"); it != section.end()) {
    policy.gate.shared = it->is_null() ? nullptr
                                       : std::make_shared<const gate_spec>(read_gate(
                                             *it, doc, where / "wait_for", what + ".wait_for"));
  }
  if (!plugin_entry) return;
  policy.waits_for.clear();  // a plugin's own, never the section's
  read_dependencies(section, doc, where, what, "after", policy.waits_for);
  read_dependencies(section, doc, where, what, "requires", policy.waits_for);
}

void check_order_cycles(const config_document& doc, const json::json_pointer& plugins,
                        const std::map<std::string, plugin_policy>& policies) {
  // Where `from` names `to`: "line N" of its after or requires.
  const auto line_of = [&](const std::string& from, const dependency& d) {
    const auto key = plugins / from / (d.required ? "requires" : "after");
    return doc.key_position(key).line;
  };
  std::map<std::string, int> mark;  // 1: on the path, 2: done
  std::vector<std::pair<std::string, const dependency*>> path;
  std::function<void(const std::string&)> visit = [&](const std::string& name) {
    mark[name] = 1;
    const auto it = policies.find(name);
    if (it != policies.end()) {
      for (const auto& d : it->second.waits_for) {
        path.emplace_back(name, &d);
        if (mark[d.name] == 1) {
          auto from = path.begin();
          while (from->first != d.name) ++from;
          std::string cycle;
          for (auto step = from; step != path.end(); ++step) {
            cycle += fmt::format("{} ({} {}, line {}) → ", step->first,
                                 step->second->required ? "requires" : "after", step->second->name,
                                 line_of(step->first, *step->second));
          }
          const auto& first = *from;
          doc.fail_at_value(
              plugins / first.first / (first.second->required ? "requires" : "after"),
              fmt::format("plugins that wait for each other never start: {}{}", cycle, d.name));
        }
        if (mark[d.name] == 0) visit(d.name);
        path.pop_back();
      }
    }
    mark[name] = 2;
  };
  for (const auto& [name, policy] : policies) {
    if (mark[name] == 0) visit(name);
  }
}

}  // namespace plughost::detail
