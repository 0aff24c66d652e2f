// What each plugin may use and see (docs/isolation.md): the isolation keys of `plughost:`
// (defaults.yaml, then the user's, then the settings file's, each over the one before) and of
// each plughost.plugins.NAME (over those), checked at their lines; and one warning for each limit
// this machine cannot apply.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <fstream>

#include "common/nearest.hpp"
#include "config/isolation_values.hpp"
#include "config/setting_values.hpp"
#include "config/settings_parts.hpp"
#include "supervision/cgroups.hpp"
#include "supervision/credentials.hpp"

namespace plughost::detail {

namespace {

// What every level is read with: computed once.
struct isolation_context {
  std::map<std::string, std::string> identity;   // the placeholders' values
  std::vector<int> allowed;                      // the CPUs plughost may use
  std::optional<std::vector<int>> housekeeping;  // plughost.housekeeping_cpus
  int own_oom_score = 0;
  cgroup_layout layout;
  bool defaults = false;  // the level read is defaults.yaml's (its values warn of nothing)
  std::vector<std::string>* warnings = nullptr;
};

using key_reader = void (*)(const json&, const isolation_key&, const isolation_context&,
                            plugin_isolation&);

std::int64_t integer_in(const json& v, const isolation_key& k, std::int64_t low,
                        std::int64_t high) {
  if (!v.is_number_integer() || v.get<std::int64_t>() < low || v.get<std::int64_t>() > high) {
    k.fail(high == INT64_MAX ? fmt::format("expected an integer of {} or more, got {}", low,
                                           v.is_string() ? v.get<std::string>() : v.dump())
                             : fmt::format("expected an integer from {} to {}, got {}", low, high,
                                           v.is_string() ? v.get<std::string>() : v.dump()));
  }
  return v.get<std::int64_t>();
}

// A limit of a cgroup controller: one warning at its line when no cgroup of plughost's can
// hold it (the spawn then leaves it out).
void warn_unless_controller(const isolation_key& k, const isolation_context& c,
                            std::string_view controller) {
  const auto key = k.where.back();
  if (!c.layout.can(controller)) {
    c.warnings->push_back(fmt::format(
        "{}: {} cannot apply: no {} cgroup controller plughost can use{}", k.position(), key,
        controller, c.layout.missing.empty() ? "" : " (" + c.layout.missing + ")"));
  } else if (key == "memory_high" && std::ranges::find(c.layout.v2_controllers, "memory") ==
                                         c.layout.v2_controllers.end()) {
    c.warnings->push_back(fmt::format(
        "{}: memory_high: cgroup v1 has no memory.high; plughost sets "
        "memory.soft_limit_in_bytes instead, which the kernel reclaims only under machine-wide "
        "memory pressure",
        k.position()));
  }
}

// A memory limit: at least 4 MiB (a shell alone needs about 2; under that a plugin dies before
// it runs, with an error that names something else).
std::int64_t positive_size(const json& v, const isolation_key& k) {
  constexpr std::int64_t least = 4 << 20;
  const auto bytes = parse_size(v);
  if (!bytes) k.fail(fmt::format("{} (at least 4MiB)", size_expected));
  if (*bytes < least) {
    k.fail(fmt::format("{} bytes is too little for any plugin to start: at least 4MiB", *bytes));
  }
  return *bytes;
}

void read_memory_max(const json& v, const isolation_key& k, const isolation_context& c,
                     plugin_isolation& iso) {
  iso.memory_max = positive_size(v, k);
  warn_unless_controller(k, c, "memory");
}

void read_memory_high(const json& v, const isolation_key& k, const isolation_context& c,
                      plugin_isolation& iso) {
  iso.memory_high = positive_size(v, k);
  warn_unless_controller(k, c, "memory");
}

void read_cpu_max(const json& v, const isolation_key& k, const isolation_context& c,
                  plugin_isolation& iso) {
  const auto text = v.is_string() ? v.get<std::string>() : std::string();
  double percent = 0;
  std::size_t used = 0;
  try {
    if (text.ends_with('%')) percent = std::stod(text.substr(0, text.size() - 1), &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used + 1 != text.size() || !(percent > 0) || percent > 1e6) {
    k.fail("expected a share of one core such as 50% (150%: one and a half cores)");
  }
  iso.cpu_max = percent / 100;
  warn_unless_controller(k, c, "cpu");
}

void read_cpu_weight(const json& v, const isolation_key& k, const isolation_context& c,
                     plugin_isolation& iso) {
  iso.cpu_weight = integer_in(v, k, 1, 10000);
  warn_unless_controller(k, c, "cpu");
}

void read_pids_max(const json& v, const isolation_key& k, const isolation_context& c,
                   plugin_isolation& iso) {
  iso.pids_max = integer_in(v, k, 1, INT64_MAX);
  warn_unless_controller(k, c, "pids");
}

// cpus: a list, or housekeeping (plughost.housekeeping_cpus), within the CPUs plughost may use.
void read_cpus(const json& v, const isolation_key& k, const isolation_context& c,
               plugin_isolation& iso) {
  const bool housekeeping = v.is_string() && v.get<std::string>() == "housekeeping";
  if (housekeeping && !c.housekeeping) {
    k.fail("housekeeping names the CPUs of plughost.housekeeping_cpus, which is not set");
  }
  const auto wanted = housekeeping ? *c.housekeeping : parse_cpu_list(v, k);
  std::vector<int> cpus;
  std::ranges::set_intersection(wanted, c.allowed, std::back_inserter(cpus));
  if (cpus.empty()) {
    k.fail(fmt::format("none of the CPUs {}{} is among those plughost may use ({})",
                       cpu_list_text(wanted), housekeeping ? " (plughost.housekeeping_cpus)" : "",
                       cpu_list_text(c.allowed)));
  }
  iso.cpus = std::move(cpus);
}

void read_nice(const json& v, const isolation_key& k, const isolation_context&,
               plugin_isolation& iso) {
  iso.nice = static_cast<int>(integer_in(v, k, -20, 19));
}

// The spawn keeps the higher of this and plughost's own score: said where it is written.
void read_oom_score_adj(const json& v, const isolation_key& k, const isolation_context& c,
                        plugin_isolation& iso) {
  iso.oom_score_adj = static_cast<int>(integer_in(v, k, -1000, 1000));
  if (!c.defaults && *iso.oom_score_adj < c.own_oom_score) {
    c.warnings->push_back(fmt::format(
        "{}: {} {}: plughost's own oom_score_adj is {}: plugins "
        "get {}",
        k.position(), k.where.back(), *iso.oom_score_adj, c.own_oom_score, c.own_oom_score));
  }
}

void read_limits(const json& v, const isolation_key& k, const isolation_context&,
                 plugin_isolation& iso) {
  apply_limits(v, k, iso.limits);
}

void read_gpu(const json& v, const isolation_key& k, const isolation_context&,
              plugin_isolation& iso) {
  apply_gpu(v, k, iso);
}

// env: merged name by name over the level below; values with the identity placeholders.
void read_env(const json& v, const isolation_key& k, const isolation_context& c,
              plugin_isolation& iso) {
  if (!v.is_object()) {
    k.fail(fmt::format("expected a mapping of variable names to values, got {}", describe_type(v)));
  }
  for (const auto& [name, value] : v.items()) {
    check_variable_name(k.doc, k.where / name, name, k.name);
    const isolation_key at{k.doc, k.where / name, k.name + "." + name};
    auto text = with_identity(scalar_text(value, at), c.identity, at.position(), at.name);
    const auto it = std::ranges::find_if(iso.env, [&](const auto& e) { return e.first == name; });
    if (it != iso.env.end()) {
      it->second = std::move(text);
    } else {
      iso.env.emplace_back(name, std::move(text));
    }
  }
}

// A list of non-empty strings.
std::vector<std::string> strings(const json& v, const isolation_key& k, const char* expected) {
  if (!v.is_array()) k.fail(fmt::format("{}, got {}", expected, describe_type(v)));
  std::vector<std::string> out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const isolation_key at{k.doc, k.where / i, fmt::format("{}[{}]", k.name, i)};
    out.push_back(scalar_text(v[i], at));
    if (out.back().empty()) at.fail(expected);
  }
  return out;
}

void read_env_remove(const json& v, const isolation_key& k, const isolation_context&,
                     plugin_isolation& iso) {
  iso.env_remove = strings(v, k, "expected a list of variable name patterns such as AWS_*");
}

void read_working_dir(const json& v, const isolation_key& k, const isolation_context&,
                      plugin_isolation& iso) {
  if (!v.is_string() || v.get_ref<const std::string&>().empty() ||
      v.get_ref<const std::string&>().find('\0') != std::string::npos) {
    k.fail(fmt::format("expected a folder, got {}", describe_type(v)));
  }
  const auto folder = normal_path(k.doc.base_dir, v.get<std::string>());
  std::error_code ec;
  if (!std::filesystem::is_directory(folder, ec)) {
    k.fail(fmt::format("{} is not an existing folder", folder.string()));
  }
  iso.working_dir = folder;
}

void read_args(const json& v, const isolation_key& k, const isolation_context& c,
               plugin_isolation& iso) {
  iso.args.clear();
  if (!v.is_array()) k.fail(fmt::format("expected a list of arguments, got {}", describe_type(v)));
  for (std::size_t i = 0; i < v.size(); ++i) {
    const isolation_key at{k.doc, k.where / i, fmt::format("{}[{}]", k.name, i)};
    iso.args.push_back(with_identity(scalar_text(v[i], at), c.identity, at.position(), at.name));
  }
}

void read_user(const json& v, const isolation_key& k, const isolation_context&,
               plugin_isolation& iso) {
  apply_user(v, k, iso);
}

void read_group(const json& v, const isolation_key& k, const isolation_context&,
                plugin_isolation& iso) {
  apply_group(v, k, iso);
}

// credentials: NAME → FILE, merged name by name; each file readable now (a typo is found at
// start, not at the plugin's first run).
void read_credentials(const json& v, const isolation_key& k, const isolation_context&,
                      plugin_isolation& iso) {
  if (!v.is_object()) {
    k.fail(fmt::format("expected a mapping of names to files, got {}", describe_type(v)));
  }
  for (const auto& [name, file] : v.items()) {
    const isolation_key at{k.doc, k.where / name, k.name + "." + name};
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos ||
        name.find('\0') != std::string::npos) {
      k.doc.fail_at_key(at.where, fmt::format("{}: '{}' cannot be a file name in "
                                              "$CREDENTIALS_DIRECTORY (empty, . or .., or with "
                                              "a '/')",
                                              k.name, name));
    }
    if (!file.is_string() || file.get_ref<const std::string&>().empty()) {
      at.fail(fmt::format("expected a file, got {}", describe_type(file)));
    }
    const auto path = normal_path(k.doc.base_dir, file.get<std::string>());
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec) || ::access(path.c_str(), R_OK) != 0) {
      at.fail(fmt::format("{} is not a file plughost can read", path.string()));
    }
    if (auto problem = credential_source_problem(path); !problem.empty()) at.fail(problem);
    if (std::filesystem::file_size(path, ec) > max_credential_bytes) {  // said now, not per run
      at.fail(fmt::format("{} holds more than {}, the most a credential may", path.string(),
                          size_text(max_credential_bytes)));
    }
    const auto it =
        std::ranges::find_if(iso.credentials, [&](const auto& e) { return e.first == name; });
    if (it != iso.credentials.end()) {
      it->second = path;
    } else {
      iso.credentials.emplace_back(name, path);
    }
  }
}

void read_redact(const json& v, const isolation_key& k, const isolation_context&,
                 plugin_isolation& iso) {
  constexpr const char* expected = "expected a list of key patterns such as extra_config.*token*";
  iso.redact = strings(v, k, expected);
  for (std::size_t i = 0; i < iso.redact.size(); ++i) {
    const auto& p = iso.redact[i];
    if (p.front() == '.' || p.back() == '.' || p.find("..") != std::string::npos) {
      isolation_key{k.doc, k.where / i, fmt::format("{}[{}]", k.name, i)}.fail(expected);
    }
  }
}

// The keys, in the order they are read (user before group: a group written with a user is
// that user's group).
const std::pair<const char*, key_reader> isolation_keys[] = {
    {"memory_max", read_memory_max},
    {"memory_high", read_memory_high},
    {"cpu_max", read_cpu_max},
    {"cpu_weight", read_cpu_weight},
    {"pids_max", read_pids_max},
    {"cpus", read_cpus},
    {"nice", read_nice},
    {"oom_score_adj", read_oom_score_adj},
    {"limits", read_limits},
    {"gpu", read_gpu},
    {"env", read_env},
    {"env_remove", read_env_remove},
    {"working_dir", read_working_dir},
    {"args", read_args},
    {"user", read_user},
    {"group", read_group},
    {"credentials", read_credentials},
    {"redact", read_redact},
};

// One level (a `plughost:` section or a plugin's entry) over `iso`.
void read_level(const json& section, const config_document& doc, const json::json_pointer& where,
                const std::string& what, const isolation_context& c, plugin_isolation& iso) {
  if (!section.is_object()) return;  // validate_settings says what is wrong with it
  for (const auto& [key, read] : isolation_keys) {
    const auto it = section.find(key);
    if (it == section.end() || it->is_null()) continue;
    read(*it, isolation_key{doc, where / key, what + "." + key}, c, iso);
  }
}

int own_oom_score() {
  std::ifstream in("/proc/self/oom_score_adj");
  int score = 0;
  in >> score;
  return score;
}

// plughost.cgroups: auto or off (YAML 1.1 reads a bare off as false).
std::string cgroups_setting(const configuration& config) {
  const auto p = pick(config, "cgroups");
  if (!p.value) return "auto";
  if (p.value->is_boolean()) return p.value->get<bool>() ? "auto" : "off";
  if (p.value->is_string() && (*p.value == "auto" || *p.value == "off")) {
    return p.value->get<std::string>();
  }
  const auto text = p.value->is_string() ? p.value->get<std::string>() : p.value->dump();
  p.doc->fail_at_value(p.where, fmt::format("plughost.cgroups: expected auto or off, got {}{}",
                                            text, did_you_mean(text, {"auto", "off"})));
}

}  // namespace

const std::vector<std::string>& isolation_key_names() {
  static const auto names = [] {
    std::vector<std::string> out;
    for (const auto& k : isolation_keys) out.emplace_back(k.first);
    return out;
  }();
  return names;
}

void resolve_isolation(const configuration& config, launch_settings& out) {
  out.cgroups = cgroups_setting(config);
  isolation_context c;
  c.identity = identity_values(out.who);
  c.allowed = allowed_cpus();
  if (const auto p = pick(config, "housekeeping_cpus"); p.value) {
    c.housekeeping =
        parse_cpu_list(*p.value, isolation_key{*p.doc, p.where, "plughost.housekeeping_cpus"});
  }
  c.own_oom_score = own_oom_score();
  c.layout = probe_cgroups(out.cgroups);
  c.warnings = &out.warnings;
  const auto layers = plughost_documents(config);  // read from the last (the defaults) up
  for (auto it = layers.rbegin(); it != layers.rend(); ++it) {
    if (const json* section = plughost_section(**it)) {
      c.defaults = *it == &config.defaults;
      read_level(*section, **it, json::json_pointer("/plughost"), "plughost", c,
                 out.default_isolation);
      if (c.defaults) out.builtin_isolation = out.default_isolation;
    }
  }
  c.defaults = false;
  const auto plugins = pick(config, "plugins");
  if (!plugins.value || !plugins.value->is_object()) return;
  for (const auto& [name, entry] : plugins.value->items()) {
    auto iso = out.default_isolation;
    read_level(entry, *plugins.doc, plugins.where / name, "plughost.plugins." + name, c, iso);
    if (iso != out.default_isolation) out.plugin_isolations[name] = std::move(iso);
  }
}

}  // namespace plughost::detail
