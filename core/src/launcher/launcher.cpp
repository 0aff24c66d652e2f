// The embeddable launcher: glues settings, modules, plan, sinks and supervisor together.
#include "plughost/launcher.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <fstream>

#include "common/environment.hpp"
#include "common/log.hpp"
#include "config/launch_settings.hpp"
#include "modules/module_registry.hpp"
#include "output/record_dispatch.hpp"
#include "plan/plan_builder.hpp"
#include "plughost/error.hpp"
#include "supervision/supervisor.hpp"

namespace plughost {

namespace {
// Set in every plugin's environment to the pid of the plughost that started it.
constexpr std::string_view host_pid_variable = "PLUGHOST_HOST_PID";
}  // namespace

std::string_view version() noexcept {
  return PLUGHOST_VERSION;
}

std::string_view to_string(decision d) noexcept {
  switch (d) {
    case decision::run:
      return "run";
    case decision::skip:
      return "skip";
    case decision::ignored:
      return "ignored";
    case decision::error:
      return "error";
  }
  return "error";
}

std::string to_json(const plan& p) {
  using json = nlohmann::ordered_json;
  json out;
  out["identity"] = {{"role", p.identity.role ? json(*p.identity.role) : json(nullptr)},
                     {"worker_id", p.identity.worker_id},
                     {"worker_count", p.identity.worker_count}};
  json locations = json::array();
  for (const auto& l : p.locations) locations.push_back(l.string());
  out["locations"] = std::move(locations);
  out["locations_from"] = p.locations_from;
  json runners = json::array();
  for (const auto& r : p.runners) {
    runners.push_back({{"name", r.name}, {"extensions", r.extensions}, {"enabled", r.enabled}});
  }
  out["runners"] = std::move(runners);
  json plugins = json::array();
  for (const auto& e : p.plugins) {
    json item;
    item["name"] = e.name;
    item["path"] = e.path.string();
    item["location"] = e.location.string();
    item["decision"] = to_string(e.decision);
    item["reason"] = e.reason;
    item["runner"] = e.runner.empty() ? json(nullptr) : json(e.runner);
    item["argv"] = e.argv;
    plugins.push_back(std::move(item));
  }
  out["plugins"] = std::move(plugins);
  out["warnings"] = p.warnings;
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

namespace {

// What every launcher and `plughost modules` start from: environment, configuration, modules.
struct foundation {
  explicit foundation(const launch_options& o)
      : env(o.environment ? detail::environment_block(*o.environment)
                          : detail::environment_block::current()),
        config(detail::load_configuration(o, env)),
        module_folders(detail::module_search_path(o, env, config, warnings)),
        modules(detail::module_registry::load(module_folders)) {
    warnings.insert(warnings.end(), modules.warnings().begin(), modules.warnings().end());
  }

  std::vector<std::string> warnings;  // first: filled while the members below are built
  detail::environment_block env;
  detail::configuration config;
  std::vector<std::filesystem::path> module_folders;
  detail::module_registry modules;
};

}  // namespace

module_report list_modules(const launch_options& options) {
  const foundation base(options);
  module_report report;
  report.search_path = base.module_folders;
  report.warnings = base.warnings;
  for (const auto& m : base.modules.all()) {
    const auto& d = *m.descriptor;
    module_info info;
    info.status = m.shadowed_by.empty() ? "loaded" : "shadowed";
    info.kind = to_string(d.kind);
    info.name = d.name;
    info.abi_version = d.abi_version;
    info.source = m.source;
    info.description = d.description;
    if (!m.shadowed_by.empty()) info.reason = "shadowed by " + m.shadowed_by;
    if (d.kind == module_kind::runner) {
      try {
        // Listing needs an instance: created with its defaults, like a configuration without
        // plughost.runners would.
        const auto r = detail::create_runner(m, settings{});
        info.extensions = r->extensions();
      } catch (const std::exception& e) {
        info.status = "failed";
        info.reason = e.what();
      }
    }
    report.modules.push_back(std::move(info));
  }
  for (const auto& f : base.modules.failures()) {
    module_info info;
    info.status = "failed";
    info.source = f.source;
    info.reason = f.reason;
    report.modules.push_back(std::move(info));
  }
  return report;
}

std::string to_json(const module_report& r) {
  using json = nlohmann::ordered_json;
  json out;
  json path = json::array();
  for (const auto& p : r.search_path) path.push_back(p.string());
  out["search_path"] = std::move(path);
  json modules = json::array();
  for (const auto& m : r.modules) {
    json item;
    item["status"] = m.status;
    item["kind"] = m.kind.empty() ? json(nullptr) : json(m.kind);
    item["name"] = m.name.empty() ? json(nullptr) : json(m.name);
    item["abi_version"] =
        m.status == "failed" && m.name.empty() ? json(nullptr) : json(m.abi_version);
    item["source"] = m.source;
    item["description"] = m.description;
    if (m.kind == "runner") item["extensions"] = m.extensions;
    item["reason"] = m.reason.empty() ? json(nullptr) : json(m.reason);
    modules.push_back(std::move(item));
  }
  out["modules"] = std::move(modules);
  out["warnings"] = r.warnings;
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

namespace {

// FNV-1a of a file's bytes: enough to notice that a plugin changed between reloads.
std::string content_hash(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::uint64_t h = 1469598103934665603ull;
  char buffer[65536];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    for (std::streamsize i = 0; i < in.gcount(); ++i) {
      h = (h ^ static_cast<unsigned char>(buffer[i])) * 1099511628211ull;
    }
  }
  return fmt::format("{:016x}", h);
}

}  // namespace

struct launcher::impl {
  explicit impl(const launch_options& o)
      : options(o),
        base(options),
        settings(detail::resolve_settings(options, base.env, base.config, base.modules)),
        supervisor(dispatch,
                   {options.handle_signals, [this] { return reload_items(); }, options.exit_with}) {
    auto warnings = base.warnings;
    runners = detail::load_runners(settings, warnings);
    the_plan = detail::build_plan(settings, runners, base.env);
    warnings.insert(warnings.end(), the_plan.warnings.begin(), the_plan.warnings.end());
    the_plan.warnings = std::move(warnings);
    for (const auto& w : the_plan.warnings) detail::log().warn("{}", w);
  }

  std::vector<detail::named_sink> open_sinks() const {
    std::vector<detail::named_sink> out;
    for (const auto& request : settings.sinks) {
      try {
        out.push_back(
            {request.name, request.label, detail::create_sink(*request.module, request.values)});
      } catch (const detail::module_error& e) {
        throw config_error(e.module(), e.message());
      }
    }
    return out;
  }

  // The environment every plugin gets (docs/running.md), without its name.
  detail::environment_block plugin_environment() const {
    detail::environment_block block = base.env;
    const auto role = settings.who.role.value_or("");
    const auto id = std::to_string(settings.who.worker_id);
    const auto count = std::to_string(settings.who.worker_count);
    for (const auto* prefix : {"LMCACHE_RUNTIME_PLUGIN_", "LMCACHE_PLUGIN_"}) {
      block.set(fmt::format("{}ROLE", prefix), role);
      block.set(fmt::format("{}WORKER_ID", prefix), id);
      block.set(fmt::format("{}WORKER_COUNT", prefix), count);
      block.set(fmt::format("{}CONFIG", prefix), settings.plugin_config_json);
    }
    // The mark of a plughost's plugin: a plughost started from here refuses to run (run()).
    block.set(host_pid_variable, std::to_string(::getpid()));
    return block;
  }

  // A plughost never starts itself, directly or through a plugin of its own (for example a
  // launcher script of plughost found again in the folders it reads): it would start itself
  // again, without end.
  void refuse_nesting() const {
    const auto host = base.env.get(host_pid_variable);
    if (!host) return;
    const auto plugin = base.env.get("LMCACHE_RUNTIME_PLUGIN_NAME");
    throw usage_error(fmt::format(
        "refusing to run: this process was started by plughost (pid {}){}, and a plughost never "
        "starts plughost ({} is set; see docs/lmcache.md)",
        *host, plugin ? fmt::format(" as its plugin {}", *plugin) : std::string(),
        host_pid_variable));
  }

  void report_error(const std::string& plugin, const std::string& message) {
    detail::log().error("plugin {}: {}", plugin, message);
    const event_field fields[] = {{"message", std::string_view(message)}};
    dispatch.event(plugin, 0, "error", fields);
  }

  // The plugins of the current plan that should run, as the supervisor takes them. Reports the
  // plan's errors (and its skips, when `report_skips`); `ok` turns false on an error.
  std::vector<detail::launch_item> launch_items(bool report_skips, bool& ok) {
    const auto base_env = plugin_environment();
    std::vector<detail::launch_item> items;
    for (const auto& p : the_plan.plugins) {
      if (p.decision == decision::skip) {
        if (!report_skips) continue;
        const event_field fields[] = {{"reason", std::string_view(p.reason)}};
        dispatch.event(p.name, 0, "skipped", fields);
      } else if (p.decision == decision::error) {
        ok = false;
        report_error(p.name, p.reason);
      } else if (p.decision == decision::run) {
        auto block = base_env;
        block.set("LMCACHE_RUNTIME_PLUGIN_NAME", p.name);
        try {
          if (const auto* r = detail::find_runner(runners, p.runner)) {
            for (const auto& [k, v] : r->impl->environment(p.path)) block.set(k, v);
          }
        } catch (const std::exception& e) {
          ok = false;
          report_error(p.name,
                       fmt::format("runner {} failed in environment(): {}", p.runner, e.what()));
          continue;
        }
        const auto fingerprint =
            fmt::format("{}\n{}", content_hash(p.path), fmt::join(p.argv, "\n"));
        items.push_back(
            {p.name, p.argv, block.entries(), settings.policy_for(p.name), fingerprint});
      }
    }
    return items;
  }

  // On the loop thread, for a reload: the configuration and the locations read again. Modules
  // and sinks stay as they were loaded (changing them needs a restart of plughost).
  std::optional<std::vector<detail::launch_item>> reload_items() {
    try {
      auto config = detail::load_configuration(options, base.env);
      auto fresh = detail::resolve_settings(options, base.env, config, base.modules);
      std::vector<std::string> warnings;
      auto fresh_runners = detail::load_runners(fresh, warnings);
      auto fresh_plan = detail::build_plan(fresh, fresh_runners, base.env);
      for (const auto& w : warnings) detail::log().warn("{}", w);
      for (const auto& w : fresh_plan.warnings) detail::log().warn("{}", w);
      std::vector<std::string> old_sinks, new_sinks;
      for (const auto& s : settings.sinks) old_sinks.push_back(s.label);
      for (const auto& s : fresh.sinks) new_sinks.push_back(s.label);
      if (old_sinks != new_sinks || settings.plugin_sinks != fresh.plugin_sinks) {
        detail::log().warn(
            "sink changes take effect when plughost starts again; the sinks stay "
            "as they are");
      }
      fresh.sinks = std::move(settings.sinks);
      settings = std::move(fresh);
      runners = std::move(fresh_runners);
      the_plan = std::move(fresh_plan);
      bool ok = true;
      return launch_items(/*report_skips=*/false, ok);
    } catch (const std::exception& e) {
      detail::log().error("reload failed, everything keeps running as it was: {}", e.what());
      return std::nullopt;
    }
  }

  int run() {
    refuse_nesting();
    dispatch = detail::record_dispatch(open_sinks(), settings.plugin_sinks);
    bool ok = true;
    auto items = launch_items(/*report_skips=*/true, ok);
    dispatch.flush();
    if (items.empty()) detail::log().info("no plugins to start");
    ok = supervisor.run(std::move(items)) && ok;
    dispatch.flush();
    return ok ? 0 : 1;
  }

  launch_options options;
  foundation base;
  detail::launch_settings settings;
  detail::record_dispatch dispatch{{}};
  detail::supervisor supervisor;
  std::vector<detail::loaded_runner> runners;
  plughost::plan the_plan;
};

launcher::launcher(const launch_options& options) : impl_(std::make_unique<impl>(options)) {}

launcher::~launcher() = default;

const plughost::plan& launcher::plan() const noexcept {
  return impl_->the_plan;
}

int launcher::run() {
  return impl_->run();
}

void launcher::stop() noexcept {
  impl_->supervisor.stop();
}

void launcher::reload() noexcept {
  impl_->supervisor.reload();
}

}  // namespace plughost
