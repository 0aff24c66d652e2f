// The embeddable launcher: glues settings, plan, sinks and supervisor together.
#include "plughost/launcher.hpp"

#include <fmt/format.h>

#include "environment.hpp"
#include "launch_settings.hpp"
#include "log.hpp"
#include "module_registry.hpp"
#include "plan_builder.hpp"
#include "plughost/error.hpp"
#include "record_dispatch.hpp"
#include "supervisor.hpp"

namespace plughost {

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
  json plugins = json::array();
  for (const auto& e : p.plugins) {
    json item;
    item["name"] = e.name;
    item["path"] = e.path.string();
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

struct launcher::impl {
  explicit impl(const launch_options& o)
      : options(o),
        env(o.environment ? detail::environment_block(*o.environment)
                          : detail::environment_block::current()),
        modules(detail::module_registry::with_builtins()),
        settings(detail::resolve_settings(options, env, modules)),
        supervisor(dispatch, {settings.stop_timeout, options.handle_signals}) {
    std::vector<std::string> runner_warnings;
    runners = detail::load_runners(modules, runner_warnings);
    the_plan = detail::build_plan(settings, runners, env);
    the_plan.warnings.insert(the_plan.warnings.end(), runner_warnings.begin(),
                             runner_warnings.end());
    for (const auto& w : the_plan.warnings) detail::log().warn("{}", w);
  }

  std::vector<detail::named_sink> open_sinks() const {
    std::vector<detail::named_sink> out;
    for (const auto& request : settings.sinks) {
      try {
        auto s = request.module->create_sink(request.values);
        if (!s) throw std::runtime_error("the module returned no sink");
        out.push_back({request.label, std::move(s)});
      } catch (const std::exception& e) {
        throw config_error(fmt::format("sink {}", request.label), e.what());
      }
    }
    return out;
  }

  // The environment every plugin gets (SPEC.md §5), without its name.
  detail::environment_block plugin_environment() const {
    detail::environment_block block = env;
    const auto role = settings.who.role.value_or("");
    const auto id = std::to_string(settings.who.worker_id);
    const auto count = std::to_string(settings.who.worker_count);
    for (const auto* prefix : {"LMCACHE_RUNTIME_PLUGIN_", "LMCACHE_PLUGIN_"}) {
      block.set(fmt::format("{}ROLE", prefix), role);
      block.set(fmt::format("{}WORKER_ID", prefix), id);
      block.set(fmt::format("{}WORKER_COUNT", prefix), count);
      block.set(fmt::format("{}CONFIG", prefix), settings.plugin_config_json);
    }
    block.set("PYTHONUNBUFFERED", "1");
    return block;
  }

  int run() {
    dispatch = detail::record_dispatch(open_sinks());
    bool ok = true;
    const auto base_env = plugin_environment();
    std::vector<detail::launch_item> items;
    for (const auto& p : the_plan.plugins) {
      if (p.decision == decision::skip) {
        const event_field fields[] = {{"reason", std::string_view(p.reason)}};
        dispatch.event(p.name, 0, "skipped", fields);
      } else if (p.decision == decision::error) {
        ok = false;
        detail::log().error("plugin {}: {}", p.name, p.reason);
        const event_field fields[] = {{"message", std::string_view(p.reason)}};
        dispatch.event(p.name, 0, "error", fields);
      } else if (p.decision == decision::run) {
        auto block = base_env;
        block.set("LMCACHE_RUNTIME_PLUGIN_NAME", p.name);
        try {
          if (const auto* r = detail::find_runner(runners, p.runner)) {
            for (const auto& [k, v] : r->impl->environment(p.path)) block.set(k, v);
          }
        } catch (const std::exception& e) {
          ok = false;
          const auto message =
              fmt::format("runner {} failed in environment(): {}", p.runner, e.what());
          detail::log().error("plugin {}: {}", p.name, message);
          const event_field fields[] = {{"message", std::string_view(message)}};
          dispatch.event(p.name, 0, "error", fields);
          continue;
        }
        items.push_back({p.name, p.argv, block.entries()});
      }
    }
    dispatch.flush();
    if (items.empty()) detail::log().info("no plugins to start");
    ok = supervisor.run(std::move(items)) && ok;
    dispatch.flush();
    return ok ? 0 : 1;
  }

  launch_options options;
  detail::environment_block env;
  detail::module_registry modules;
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

}  // namespace plughost
