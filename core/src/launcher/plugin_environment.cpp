// The plugin environment (with what its isolation changes), the refusal to nest, and
// fingerprints for reloads.
#include "launcher/plugin_environment.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <fnmatch.h>
#include <unistd.h>

#include <fstream>

#include "config/redaction.hpp"
#include "plughost/error.hpp"

namespace plughost::detail {

namespace {

constexpr std::uint64_t fnv_basis = 1469598103934665603ull;

std::uint64_t fnv1a(std::uint64_t h, const char* bytes, std::size_t size) {
  for (std::size_t i = 0; i < size; ++i) {
    h = (h ^ static_cast<unsigned char>(bytes[i])) * 1099511628211ull;
  }
  return h;
}

// FNV-1a of a file's bytes: enough to notice that a plugin changed between reloads. A reload
// that plughost's stop abandons gives up between two pieces (a file of gigabytes takes a
// minute).
std::string content_hash(const std::filesystem::path& file, const std::atomic<bool>* abandon) {
  std::ifstream in(file, std::ios::binary);
  std::uint64_t h = fnv_basis;
  char buffer[65536];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    if (abandon && abandon->load(std::memory_order_relaxed)) {
      throw std::runtime_error("plughost is stopping: the reload was abandoned");
    }
    h = fnv1a(h, buffer, static_cast<std::size_t>(in.gcount()));
  }
  return fmt::format("{:016x}", h);
}

}  // namespace

environment_block plugin_environment(const environment_block& host,
                                     const launch_settings& settings) {
  environment_block block = host;
  const auto role = settings.who.role.value_or("");
  const auto id = std::to_string(settings.who.worker_id);
  const auto count = std::to_string(settings.who.worker_count);
  for (const auto* prefix : {"LMCACHE_RUNTIME_PLUGIN_", "LMCACHE_PLUGIN_"}) {
    block.set(fmt::format("{}ROLE", prefix), role);
    block.set(fmt::format("{}WORKER_ID", prefix), id);
    block.set(fmt::format("{}WORKER_COUNT", prefix), count);
    block.set(fmt::format("{}CONFIG", prefix), settings.plugin_config_json);
  }
  // plughost.environment (PYTHONUNBUFFERED=1 by default, as LMCache sets it for every plugin);
  // a variable without a value stays as plughost inherited it.
  for (const auto& v : settings.environment) {
    if (v.value) block.set(v.name, *v.value);
  }
  // --plugin-variable: the caller stands for a launcher that set other texts, or fewer.
  for (const auto& [name, text] : settings.plugin_variables) {
    if (text) {
      block.set(name, *text);
    } else {
      block.unset(name);
    }
  }
  // systemd's notification protocol is plughost's to speak: a plugin that sent READY=1 or
  // WATCHDOG=1 on its behalf would say that plughost is ready, or alive, when it may not be.
  for (const auto* name : {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"}) block.unset(name);
  // The wheel's console script marks its exec of plughost (a loop guard): not the plugins' own.
  block.unset("PLUGHOST_CONSOLE_SCRIPT_EXEC");
  // The mark of a plughost's plugin: a plughost started from here refuses to run.
  block.set(host_pid_variable, std::to_string(::getpid()));
  return block;
}

namespace {

// LMCACHE_EXTRA_CONFIG, LMCache's spelling of extra_config in the environment, which plugins
// inherit: the redact patterns of extra_config apply to it too (the rest of a pattern to its
// JSON; `extra_config` itself, or JSON that cannot be read, takes the whole variable).
void redact_extra_config(const std::vector<std::string>& patterns,
                         const std::vector<std::string>& shared,
                         plugin_environment_entries& environment) {
  static constexpr std::string_view variable = "LMCACHE_EXTRA_CONFIG=";
  const auto entry = std::find_if(shared.begin(), shared.end(), [](const std::string& e) {
    return e.compare(0, variable.size(), variable) == 0;
  });
  if (entry == shared.end()) return;
  std::vector<std::string> inside;
  bool whole = false;
  for (const auto& p : patterns) {
    const auto dot = p.find('.');
    if (::fnmatch(p.substr(0, dot).c_str(), "extra_config", 0) != 0) continue;
    if (dot == std::string::npos) {
      whole = true;
    } else {
      inside.push_back(p.substr(dot + 1));
    }
  }
  const auto value = entry->substr(variable.size());
  if (!whole && !inside.empty()) {
    if (!nlohmann::json::accept(value)) {  // not JSON: nothing of it is given
      whole = true;
    } else if (const auto text = redacted_config(value, inside)) {
      environment.own.push_back(std::string(variable) + *text);
    }
  }
  if (whole) environment.remove.emplace_back(variable.substr(0, variable.size() - 1));
}

}  // namespace

void add_isolation_entries(const plugin_isolation& iso, const std::vector<std::string>& shared,
                           const std::optional<std::string>& redacted,
                           plugin_environment_entries& environment) {
  auto& own = environment.own;
  const auto name_of = [](const std::string& entry) { return entry.substr(0, entry.find('=')); };
  environment.remove = iso.env_remove;
  for (const auto& entry : shared) {  // plughost's own variables are the plugin's contract
    const auto name = name_of(entry);
    if (!plughost_variable(name)) continue;
    if (std::any_of(iso.env_remove.begin(), iso.env_remove.end(), [&](const std::string& p) {
          return ::fnmatch(p.c_str(), name.c_str(), 0) == 0;
        })) {
      own.push_back(entry);
    }
  }
  if (iso.gpu != gpu_access::inherit) {
    for (const char* name : gpu_visibility_variables) {
      own.push_back(fmt::format("{}={}", name, iso.gpu == gpu_access::none ? "" : iso.gpu_list));
    }
  }
  if (iso.uid) {
    own.push_back("USER=" + iso.user_name);
    own.push_back("LOGNAME=" + iso.user_name);
    own.push_back("HOME=" + iso.home);
  }
  for (const auto& [name, value] : iso.env) own.push_back(name + "=" + value);
  redact_extra_config(iso.redact, shared, environment);
  if (!redacted) return;
  for (const auto& entry : shared) {  // only those it receives (--plugin-variable may unset)
    const auto name = name_of(entry);
    if (name == "LMCACHE_RUNTIME_PLUGIN_CONFIG" || name == "LMCACHE_PLUGIN_CONFIG") {
      own.push_back(name + "=" + *redacted);
    }
  }
}

std::string text_fingerprint(std::string_view text) {
  return fmt::format("{:016x}", fnv1a(fnv_basis, text.data(), text.size()));
}

std::string isolation_text(const plugin_isolation& iso) {
  const auto opt = [](const auto& v) { return v ? fmt::format("{}", *v) : std::string("-"); };
  std::vector<std::string> limits, env, credentials;
  for (const auto& [resource, value] : iso.limits)
    limits.push_back(fmt::format("{}={}", resource, value));
  for (const auto& [name, value] : iso.env) env.push_back(name + "=" + value);
  for (const auto& [name, file] : iso.credentials)
    credentials.push_back(name + "=" + file.string());
  return fmt::format(
      "memory_max {}\nmemory_high {}\ncpu_max {}\ncpu_weight {}\npids_max {}\ncpus {}\nnice {}\n"
      "oom_score_adj {}\nlimits {}\nworking_dir {}\nuid {}\ngid {}\ngroups {}\ngpu {} {}\n"
      "env {}\nenv_remove {}\nargs {}\ncredentials {}\nredact {}",
      opt(iso.memory_max), opt(iso.memory_high), opt(iso.cpu_max), opt(iso.cpu_weight),
      opt(iso.pids_max), fmt::join(iso.cpus, ","), opt(iso.nice), opt(iso.oom_score_adj),
      fmt::join(limits, ","), iso.working_dir ? iso.working_dir->string() : "-", opt(iso.uid),
      opt(iso.gid), fmt::join(iso.groups, ","), static_cast<int>(iso.gpu), iso.gpu_list,
      fmt::join(env, "\x1f"), fmt::join(iso.env_remove, "\x1f"), fmt::join(iso.args, "\x1f"),
      fmt::join(credentials, "\x1f"), fmt::join(iso.redact, "\x1f"));
}

void refuse_nesting(const environment_block& host) {
  const auto pid = host.get(host_pid_variable);
  if (!pid) return;
  const auto plugin = host.get("LMCACHE_RUNTIME_PLUGIN_NAME");
  throw usage_error(fmt::format(
      "refusing to run: this process was started by plughost (pid {}){}, and a plughost never "
      "starts plughost ({} is set; see docs/lmcache.md)",
      *pid, plugin ? fmt::format(" as its plugin {}", *plugin) : std::string(), host_pid_variable));
}

void refuse_doubling(const environment_block& host, const launch_settings& settings) {
  // Every launcher LMCache has had sets these three for its plugins (the newest sets the
  // LMCACHE_RUNTIME_PLUGIN_* ones as well); people do not set the old spelling by hand.
  for (const auto* name :
       {"LMCACHE_PLUGIN_ROLE", "LMCACHE_PLUGIN_CONFIG", "LMCACHE_PLUGIN_WORKER_ID"}) {
    if (!host.get(name)) return;
  }
  if (settings.locations_from == "--location") return;
  throw usage_error(fmt::format(
      "refusing to run: LMCache's plugin launcher started this process (LMCACHE_PLUGIN_ROLE, "
      "LMCACHE_PLUGIN_WORKER_ID and LMCACHE_PLUGIN_CONFIG are set) and no --location was given "
      "(the locations would come "
      "from {}): LMCache runs the plugins of its own locations itself, so each would run twice; "
      "give plughost the folders it should run with --location (see docs/lmcache.md)",
      settings.locations_from));
}

std::string plugin_fingerprint(const std::filesystem::path& file,
                               const std::vector<std::string>& argv,
                               const std::atomic<bool>* abandon) {
  return fmt::format("{}\n{}", content_hash(file, abandon), fmt::join(argv, "\n"));
}

}  // namespace plughost::detail
