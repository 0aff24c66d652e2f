// Resolution of the configuration source, locations, stop timeout and sinks.
#include "config/launch_settings.hpp"

#include <gtest/gtest.h>

#include "plughost/error.hpp"
#include "test_support.hpp"

namespace plughost::detail {
namespace {

using test::temp_dir;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

// The settings point into the registry: it must outlive them.
const module_registry& builtins() {
  static const auto registry = module_registry::with_builtins();
  return registry;
}

launch_settings resolve(const launch_options& o, const std::vector<std::string>& env = {}) {
  return resolve_settings(o, environment_block(env), builtins());
}

using test::error_text;

TEST(launch_settings, the_policy_defaults_are_those_of_defaults_yaml_and_of_the_policy_type) {
  // defaults.yaml is where the defaults are set; plugin_policy's initializers mirror it.
  launch_options o;
  o.locations = {"/p"};
  EXPECT_TRUE(resolve(o).default_policy == plugin_policy{})
      << "core/data/defaults.yaml and plugin_policy (plugin_policy.hpp) disagree";
  o.stop_timeout = 7s;
  EXPECT_EQ(resolve(o).default_policy.stop_timeout, 7s);
}

TEST(launch_settings, config_flag_then_config_file_variable_then_json_variable) {
  temp_dir dir;
  const auto a = dir.write("a.yaml", "runtime_plugin_locations: [one]\n");
  const auto b = dir.write("b.toml", "runtime_plugin_locations = [\"two\"]\n");
  launch_options o;
  o.config_file = a;
  const std::vector<std::string> env{
      "LMCACHE_CONFIG_FILE=" + b.string(),
      R"(LMCACHE_RUNTIME_PLUGIN_CONFIG={"runtime_plugin_locations": ["/three"]})"};
  EXPECT_EQ(resolve(o, env).locations, std::vector<fs::path>{dir.path() / "one"});
  EXPECT_EQ(resolve({}, env).locations, std::vector<fs::path>{dir.path() / "two"});
  EXPECT_EQ(resolve({}, {env[1]}).locations, std::vector<fs::path>{"/three"});
}

TEST(launch_settings, location_flags_replace_the_configured_ones_relative_to_the_cwd) {
  temp_dir dir;
  launch_options o;
  o.config_file = dir.write("c.yaml", "runtime_plugin_locations: [/srv/a]\n");
  o.locations = {"rel/../here", "/abs"};
  const auto s = resolve(o);
  EXPECT_EQ(s.locations, (std::vector<fs::path>{fs::current_path() / "here", "/abs"}));
  const auto doc = json::parse(s.plugin_config_json);
  EXPECT_EQ(doc["runtime_plugin_locations"],
            json::array({(fs::current_path() / "here").string(), "/abs"}));
}

// For callers whose configuration cannot carry a plughost: section (LMCache drops unknown keys).
TEST(launch_settings, a_settings_file_comes_before_the_configurations_section) {
  temp_dir dir;
  launch_options o;
  o.config_json = R"({"runtime_plugin_locations": ["/p"], "plughost": {"stop_timeout": "7s",
                      "restart": "always"}})";
  const auto settings = dir.write("plughost.yaml",
                                  "chunk_size: 1  # other keys are ignored\n"
                                  "plughost:\n  restart: on-failure\n  sinks: [jsonl:out.jsonl]\n");
  const auto check = [&](const launch_settings& s) {
    EXPECT_EQ(s.default_policy.restart, restart_mode::on_failure);  // the settings file's
    EXPECT_EQ(s.default_policy.stop_timeout, 7s);                   // the configuration's
    ASSERT_EQ(s.sinks.size(), 1u);
    EXPECT_EQ(s.sinks[0].values.get_string("path"), (dir.path() / "out.jsonl").string());
    EXPECT_EQ(s.locations, std::vector<fs::path>{"/p"});
  };
  o.settings_file = settings;
  check(resolve(o));
  o.settings_file.reset();
  check(resolve(o, {"PLUGHOST_SETTINGS=" + settings.string()}));

  const auto bad = dir.write("bad.yaml", "plughost:\n  restrat: always\n");
  o.settings_file = bad;
  EXPECT_EQ(error_text<config_error>([&] { resolve(o); }),
            bad.string() + ":2:3: unknown key 'restrat' in plughost (did you mean 'restart'?)");
}

TEST(launch_settings, added_sinks_join_the_configured_ones_and_every_route) {
  temp_dir dir;
  launch_options o;
  o.locations = {"/p"};
  o.added_sinks = {"jsonl:-"};
  auto s = resolve(o);  // no sinks configured: no default stdout next to the added one
  ASSERT_EQ(s.sinks.size(), 1u);
  EXPECT_EQ(s.sinks[0].values.get_string("path"), "-");

  o.config_file = dir.write("c.yaml",
                            "plughost:\n  sinks: [stdout, {type: jsonl, name: audit, path: a}]\n"
                            "  plugins:\n    x.sh: {sinks: [audit]}\n");
  o.locations.clear();
  s = resolve(o, {"LMCACHE_RUNTIME_PLUGIN_LOCATIONS=/p"});
  ASSERT_EQ(s.sinks.size(), 3u);
  EXPECT_EQ(s.sinks[2].name, "jsonl");
  EXPECT_EQ(s.plugin_sinks.at("x.sh"), (std::vector<std::string>{"audit", "jsonl"}));
}

TEST(launch_settings, without_any_location_it_is_a_usage_error) {
  EXPECT_EQ(error_text<usage_error>([] { resolve({}); }),
            "no plugin locations: give --location PATH or --config FILE (or set "
            "LMCACHE_CONFIG_FILE or LMCACHE_RUNTIME_PLUGIN_LOCATIONS)");
}

TEST(launch_settings, plugins_get_the_whole_document) {
  temp_dir dir;
  launch_options o;
  o.config_file = dir.write("c.yaml",
                            "chunk_size: 256\nruntime_plugin_locations: [p]\n"
                            "extra_config: {k: v}\nplughost: {stop_timeout: 2s}\n");
  const auto doc = json::parse(resolve(o).plugin_config_json);
  EXPECT_EQ(doc,
            json::parse(R"({"chunk_size": 256, "runtime_plugin_locations": [")" +
                        (dir.path() / "p").string() +
                        R"("], "extra_config": {"k": "v"}, "plughost": {"stop_timeout": "2s"}})"));
}

TEST(launch_settings, stop_timeout_from_flag_then_config_then_default) {
  temp_dir dir;
  launch_options o;
  o.locations = {"/x"};
  EXPECT_EQ(resolve(o).default_policy.stop_timeout, 5s);
  o.config_file = dir.write("c.yaml", "plughost:\n  stop_timeout: 250ms\n");
  o.locations = {"/x"};
  EXPECT_EQ(resolve(o).default_policy.stop_timeout, 250ms);
  o.stop_timeout = parse_duration_option("--stop-timeout", "1.5");
  EXPECT_EQ(resolve(o).default_policy.stop_timeout, 1500ms);
  EXPECT_EQ(error_text<usage_error>([&] { parse_duration_option("--stop-timeout", "soon"); }),
            "--stop-timeout: expected a duration such as 5, 0.5, 500ms, 2s or 1m, got 'soon'");
  EXPECT_EQ(error_text<usage_error>([&] { parse_duration_option("--stop-timeout", "2000000000"); }),
            "--stop-timeout: too large: a duration is at most 1000000000 s (about 31 years), "
            "got '2000000000'");
}

TEST(launch_settings, typed_durations_out_of_range_are_refused) {
  launch_options o;
  o.locations = {"/x"};
  o.stop_timeout = -1500ms;
  EXPECT_EQ(error_text<usage_error>([&] { resolve(o); }),
            "launch_options.stop_timeout: a duration cannot be negative, got -1.5 s");
  o.stop_timeout.reset();
  o.wait_for_locations = std::chrono::hours(24 * 365 * 40);
  EXPECT_EQ(error_text<usage_error>([&] { resolve(o); }),
            "launch_options.wait_for_locations: too large: a duration is at most 1000000000 s "
            "(about 31 years), got 1261440000 s");
  o.wait_for_locations = 30s;
  EXPECT_EQ(resolve(o).missing_locations.wait, 30s);
}

TEST(launch_settings, the_same_unnamed_sink_twice_is_refused_wherever_it_is_given) {
  // Its records would be written twice; the same type with other settings is fine.
  temp_dir dir;
  launch_options o;
  o.locations = {"/x"};
  o.sinks = {"jsonl:same.jsonl", "jsonl:same.jsonl"};
  EXPECT_EQ(error_text<config_error>([&] { resolve(o); }),
            "--sink: the same sink is given twice: jsonl (" +
                (fs::current_path() / "same.jsonl").string() +
                ") (its records would be written twice)");
  o.sinks = {"jsonl:one.jsonl", "jsonl:two.jsonl"};
  EXPECT_EQ(resolve(o).sinks.size(), 2u);
  o.sinks.clear();
  o.config_file = dir.write("c.yaml", "plughost:\n  sinks:\n    - stdout\n    - stdout\n");
  EXPECT_EQ(error_text<config_error>([&] { resolve(o); }),
            o.config_file->string() +
                ":4:7: the same sink is given twice: stdout (its records would be written twice)");
}

TEST(launch_settings, counts_in_the_policy_are_zero_or_more) {
  temp_dir dir;
  launch_options o;
  o.locations = {"/x"};
  o.config_file = dir.write("c.yaml", "plughost:\n  plugins:\n    a.sh: {max_restarts: -1}\n");
  EXPECT_EQ(error_text<config_error>([&] { resolve(o); }),
            o.config_file->string() +
                ":3:26: max_restarts in plughost.plugins.a.sh: expected a whole number, 0 or more, "
                "got the number -1");
}

TEST(launch_settings, an_empty_sink_list_means_no_sink_and_says_so) {
  temp_dir dir;
  launch_options o;
  o.locations = {"/x"};
  o.config_file = dir.write("c.yaml", "plughost:\n  sinks: []\n");
  const auto s = resolve(o);
  EXPECT_TRUE(s.sinks.empty());
  EXPECT_EQ(s.warnings,
            (std::vector<std::string>{"no sinks are configured: records are discarded"}));
}

TEST(launch_settings, sinks_from_flags_config_or_default) {
  temp_dir dir;
  launch_options o;
  o.locations = {"/x"};
  auto s = resolve(o);
  ASSERT_EQ(s.sinks.size(), 1u);
  EXPECT_EQ(s.sinks[0].module->descriptor->name, "stdout");
  EXPECT_EQ(s.sinks[0].values.get_string("color"), "auto");

  o.config_file = dir.write("c.yaml",
                            "plughost:\n  sinks:\n    - {type: jsonl, path: out.jsonl}\n"
                            "    - stdout:never\n");
  s = resolve(o);
  ASSERT_EQ(s.sinks.size(), 2u);
  EXPECT_EQ(s.sinks[0].label, "jsonl (" + (dir.path() / "out.jsonl").string() + ")");
  EXPECT_EQ(s.sinks[1].values.get_string("color"), "never");

  o.sinks = {"jsonl:rel.jsonl"};
  s = resolve(o);
  ASSERT_EQ(s.sinks.size(), 1u);
  EXPECT_EQ(s.sinks[0].values.get_string("path"), (fs::current_path() / "rel.jsonl").string());
}

TEST(launch_settings, every_sink_has_a_queue_of_its_own_size_and_overflow_policy) {
  temp_dir dir;
  launch_options o;
  o.locations = {"/x"};
  o.config_file = dir.write("c.yaml",
                            "plughost:\n  sinks:\n    - stdout\n"
                            "    - {type: jsonl, path: a.jsonl, queue_size: 1MiB, "
                            "overflow: drop_oldest}\n");
  auto s = resolve(o);
  ASSERT_EQ(s.sinks.size(), 2u);
  EXPECT_EQ(s.sinks[0].queue.size, 8u * 1024 * 1024);
  EXPECT_EQ(s.sinks[0].queue.overflow, overflow_policy::block);
  EXPECT_EQ(s.sinks[1].queue.size, 1024u * 1024);
  EXPECT_EQ(s.sinks[1].queue.overflow, overflow_policy::drop_oldest);
  EXPECT_EQ(s.sinks[1].values.values().count("queue_size"), 0u) << "not the module's setting";

  o.config_file =
      dir.write("d.yaml", "plughost:\n  sinks:\n    - {type: stdout, overflow: lose}\n");
  EXPECT_EQ(error_text<config_error>([&] { resolve(o); }),
            o.config_file->string() +
                ":3:32: overflow in sink 'stdout': expected one of block, drop_new, drop_oldest, "
                "got the string \"lose\"");
  o.config_file =
      dir.write("e.yaml", "plughost:\n  sinks:\n    - {type: stdout, queue_size: 1KiB}\n");
  EXPECT_EQ(
      error_text<config_error>([&] { resolve(o); }),
      o.config_file->string() + ":3:34: a sink's queue_size must be from 64KiB to 1GiB, got 1024");
  o.config_file =
      dir.write("f.yaml", "plughost:\n  sinks:\n    - {type: stdout, queue_size: 2GiB}\n");
  EXPECT_EQ(error_text<config_error>([&] { resolve(o); }),
            o.config_file->string() +
                ":3:34: a sink's queue_size must be from 64KiB to 1GiB, got 2147483648");
}

TEST(launch_settings, bad_sink_flags_are_explained) {
  launch_options o;
  o.locations = {"/x"};
  o.sinks = {"xml"};
  EXPECT_EQ(error_text<config_error>([&] { resolve(o); }),
            "--sink: unknown sink 'xml' (expected one of: jsonl, stdout)");
  o.sinks = {"jsonl"};
  EXPECT_EQ(error_text<config_error>([&] { resolve(o); }),
            "--sink: missing required setting 'path' in sink 'jsonl'");
}

}  // namespace
}  // namespace plughost::detail
