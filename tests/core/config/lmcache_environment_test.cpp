// LMCache's own spellings of its configuration: LMCACHE_<KEY> variables read as LMCache reads
// them, the deprecated key plugin_locations, LMCache's precedence (environment over file), JSON
// text handed on unchanged, and the runners in use.
#include "config/lmcache_environment.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "config/launch_settings.hpp"
#include "plughost/error.hpp"
#include "test_support.hpp"

namespace plughost::detail {
namespace {

using test::error_text;
using test::temp_dir;
namespace fs = std::filesystem;

// LMCache's _parse_quoted_string, case by case (Python's answer on the right).
struct quoted_case {
  const char* raw;
  const char* expected;
};
class lmcache_env_text_reads : public ::testing::TestWithParam<quoted_case> {};

TEST_P(lmcache_env_text_reads, like_lmcache) {
  EXPECT_EQ(lmcache_env_text(GetParam().raw), GetParam().expected) << GetParam().raw;
}

INSTANTIATE_TEST_SUITE_P(
    cases, lmcache_env_text_reads,
    ::testing::Values(quoted_case{"/plugins", "/plugins"}, quoted_case{"  /plugins \t", "/plugins"},
                      quoted_case{"'/plugins'", "/plugins"},
                      quoted_case{"\"/plugins\"", "/plugins"},
                      quoted_case{" '/my plugins' ", "/my plugins"}, quoted_case{"'a\\tb'", "a\tb"},
                      quoted_case{"'caf\\u00e9'", "caf\xc3\xa9"}, quoted_case{"'\\x41\\101'", "AA"},
                      quoted_case{"'it\\'s'", "it's"},
                      quoted_case{"'it's'", "it's"},    // not a literal: quotes dropped
                      quoted_case{"'a\\'", "a\\"},      // the closing quote is escaped
                      quoted_case{"'\\d'", "\\d"},      // an unknown escape stays
                      quoted_case{"'/a'/b", "'/a'/b"},  // not quoted at both ends
                      quoted_case{"'", "'"}, quoted_case{"''", ""}, quoted_case{"", ""},
                      quoted_case{"['/a', '/b']", "['/a', '/b']"}));

// Settings as plughost resolves them, with the built-in modules.
const module_registry& builtins() {
  static const auto registry = module_registry::with_builtins();
  return registry;
}

launch_settings resolve(const launch_options& o, const std::vector<std::string>& env = {}) {
  return resolve_settings(o, environment_block(env), builtins());
}

TEST(lmcache_locations, the_environment_overrides_the_file_as_in_lmcache) {
  temp_dir dir;
  launch_options o;
  o.config_file = dir.write("lmcache.yaml", "runtime_plugin_locations: [/from/file]\n");
  const auto s = resolve(o, {"LMCACHE_RUNTIME_PLUGIN_LOCATIONS='/from/env'"});
  EXPECT_EQ(s.locations, std::vector<fs::path>{"/from/env"});
  EXPECT_EQ(s.locations_from, "LMCACHE_RUNTIME_PLUGIN_LOCATIONS");
  // Plugins see the locations in effect.
  EXPECT_EQ(json::parse(s.plugin_config_json)["runtime_plugin_locations"],
            json::array({"/from/env"}));
  // --location wins over both.
  o.locations = {"/from/flag"};
  EXPECT_EQ(resolve(o, {"LMCACHE_RUNTIME_PLUGIN_LOCATIONS=/from/env"}).locations,
            std::vector<fs::path>{"/from/flag"});
}

TEST(lmcache_locations, the_environment_alone_is_enough) {
  const auto s = resolve({}, {"LMCACHE_RUNTIME_PLUGIN_LOCATIONS=rel/plugins"});
  EXPECT_EQ(s.locations, std::vector<fs::path>{fs::current_path() / "rel/plugins"});
  EXPECT_EQ(json::parse(s.plugin_config_json),
            json::parse(R"({"runtime_plugin_locations": [")" +
                        (fs::current_path() / "rel/plugins").string() + R"("]})"));
}

TEST(lmcache_locations, an_empty_variable_means_no_locations) {
  temp_dir dir;
  launch_options o;
  o.config_file = dir.write("lmcache.yaml", "runtime_plugin_locations: [/from/file]\n");
  const auto s = resolve(o, {"LMCACHE_RUNTIME_PLUGIN_LOCATIONS="});
  EXPECT_TRUE(s.locations.empty());
  EXPECT_NE(std::find(s.warnings.begin(), s.warnings.end(),
                      "LMCACHE_RUNTIME_PLUGIN_LOCATIONS is empty: no plugins to run"),
            s.warnings.end());
}

TEST(lmcache_locations, one_value_is_one_path_and_a_list_is_explained) {
  const auto s = resolve({}, {"LMCACHE_RUNTIME_PLUGIN_LOCATIONS=/a,/b"});
  EXPECT_EQ(s.locations, std::vector<fs::path>{"/a,/b"});
  ASSERT_FALSE(s.warnings.empty());
  EXPECT_EQ(s.warnings[0],
            "LMCACHE_RUNTIME_PLUGIN_LOCATIONS is read as one path, as LMCache reads it: '/a,/b' "
            "(list several locations in the configuration file instead)");
}

TEST(lmcache_locations, the_deprecated_variable_wins_as_in_lmcache) {
  auto s = resolve({}, {"LMCACHE_PLUGIN_LOCATIONS=/old"});
  EXPECT_EQ(s.locations, std::vector<fs::path>{"/old"});
  EXPECT_EQ(s.locations_from, "LMCACHE_PLUGIN_LOCATIONS");
  EXPECT_EQ(s.warnings.at(0),
            "LMCACHE_PLUGIN_LOCATIONS is deprecated, use LMCACHE_RUNTIME_PLUGIN_LOCATIONS instead");
  s = resolve({}, {"LMCACHE_RUNTIME_PLUGIN_LOCATIONS=/new", "LMCACHE_PLUGIN_LOCATIONS=/old"});
  EXPECT_EQ(s.locations, std::vector<fs::path>{"/old"});
  EXPECT_EQ(s.warnings.at(0),
            "LMCACHE_RUNTIME_PLUGIN_LOCATIONS and its deprecated alias LMCACHE_PLUGIN_LOCATIONS "
            "are both set: LMCache uses LMCACHE_PLUGIN_LOCATIONS, and so does plughost");
}

TEST(lmcache_locations, the_deprecated_key_is_read_and_named_with_its_line) {
  temp_dir dir;
  launch_options o;
  o.config_file = dir.write("lmcache.yaml", "chunk_size: 256\nplugin_locations: [old]\n");
  const auto s = resolve(o);
  EXPECT_EQ(s.locations, std::vector<fs::path>{dir.path() / "old"});
  EXPECT_EQ(s.locations_from, o.config_file->string() + " (plugin_locations)");
  EXPECT_EQ(s.warnings.at(0),
            o.config_file->string() +
                ":2:1: plugin_locations is deprecated, use runtime_plugin_locations instead");
  // Plugins see the key LMCache maps it to, not the deprecated one.
  const auto doc = json::parse(s.plugin_config_json);
  EXPECT_FALSE(doc.contains("plugin_locations"));
  EXPECT_EQ(doc["runtime_plugin_locations"], json::array({(dir.path() / "old").string()}));
}

TEST(lmcache_locations, with_both_keys_the_one_written_last_wins) {
  temp_dir dir;
  launch_options o;
  o.config_file = dir.write("a.yaml", "runtime_plugin_locations: [new]\nplugin_locations: [old]\n");
  EXPECT_EQ(resolve(o).locations, std::vector<fs::path>{dir.path() / "old"});
  o.config_file = dir.write("b.yaml", "plugin_locations: [old]\nruntime_plugin_locations: [new]\n");
  const auto s = resolve(o);
  EXPECT_EQ(s.locations, std::vector<fs::path>{dir.path() / "new"});
  EXPECT_NE(s.warnings.at(0).find("the one written last (runtime_plugin_locations) wins"),
            std::string::npos)
      << s.warnings.at(0);
}

TEST(lmcache_extra_config, the_variable_replaces_the_files_and_bad_json_is_a_warning) {
  temp_dir dir;
  launch_options o;
  o.config_file =
      dir.write("lmcache.yaml", "runtime_plugin_locations: [p]\nextra_config: {a: 1}\n");
  auto s = resolve(o, {R"(LMCACHE_EXTRA_CONFIG={"b": 2})"});
  EXPECT_EQ(json::parse(s.plugin_config_json)["extra_config"], json::parse(R"({"b": 2})"));
  s = resolve(o, {"LMCACHE_EXTRA_CONFIG={b: 2"});
  EXPECT_EQ(json::parse(s.plugin_config_json)["extra_config"], json::parse(R"({"a": 1})"));
  EXPECT_NE(std::find(s.warnings.begin(), s.warnings.end(),
                      "LMCACHE_EXTRA_CONFIG is not valid JSON: extra_config keeps the "
                      "configuration's value"),
            s.warnings.end());
}

TEST(lmcache_json_text, is_handed_to_plugins_unchanged) {
  // LMCache's multiprocess mode: its configs aggregated, no runtime_plugin_locations inside.
  const std::string text =
      "{\"mp_config\": {\"port\": 5555, \"host\": \"0.0.0.0\"},  \"zeta\": 1e3, "
      "\"runtime_plugin_extra_config\": {\"k\": \"caf\\u00e9\"}}";
  launch_options o;
  o.locations = {"/plugins"};
  o.config_json = text;
  EXPECT_EQ(resolve(o).plugin_config_json, text);
  // The same from LMCACHE_RUNTIME_PLUGIN_CONFIG.
  o.config_json.reset();
  EXPECT_EQ(resolve(o, {"LMCACHE_RUNTIME_PLUGIN_CONFIG=" + text}).plugin_config_json, text);
}

// LMCache's to_json() is Python's json.dumps: float('inf') defaults become Infinity, and
// surrogate-escaped bytes are not UTF-8. plughost reads its keys all the same.
TEST(lmcache_json_text, pythons_json_extensions_are_read_and_handed_on_unchanged) {
  const std::string text =
      "{\"pd_allocation_timeout_sec\": Infinity, \"ratio\": NaN, \"low\": -Infinity,\n"
      " \"name\": \"NaN and Infinity\\\" stay\", \"raw\": \"\xff\xfe\",\n"
      " \"runtime_plugin_locations\": [\"/from/json\"]}";
  launch_options o;
  o.config_json = text;
  const auto s = resolve(o);
  EXPECT_EQ(s.plugin_config_json, text);
  EXPECT_EQ(s.locations, std::vector<fs::path>{"/from/json"});
}

TEST(lmcache_json_text, lone_surrogate_escapes_are_read_too) {
  // json.dumps (ensure_ascii) of a string holding a surrogate escape: "\udcff".
  const std::string text =
      R"({"local_disk": "/data/\udcff", "smile": "\ud83d\ude00", "high": "\ud800x",)"
      R"( "runtime_plugin_locations": ["/p"]})";
  launch_options o;
  o.config_json = text;
  const auto s = resolve(o);
  EXPECT_EQ(s.plugin_config_json, text);
  EXPECT_EQ(s.locations, std::vector<fs::path>{"/p"});
}

TEST(lmcache_json_text, error_positions_are_those_of_the_text_as_given) {
  launch_options o;
  o.config_json = "{\"a\": [Infinity, -Infinity, \"\xff\xfe\"], \"runtime_plugin_locations\": 5}";
  EXPECT_EQ(
      error_text<config_error>([&] { resolve(o); }),
      "--config-json:1:64: runtime_plugin_locations must be a list of paths, got the number 5");
}

TEST(lmcache_json_text, more_than_plugins_can_receive_is_refused) {
  launch_options o;
  o.locations = {"/p"};
  o.config_json = "{\"big\": \"" + std::string(max_plugin_config_bytes, 'x') + "\"}";
  EXPECT_EQ(error_text<config_error>([&] { resolve(o); }),
            fmt::format("--config-json: the configuration is {} bytes of JSON, more than the {} "
                        "plugins can receive: Linux limits one environment variable "
                        "(LMCACHE_RUNTIME_PLUGIN_CONFIG) to 128 KiB",
                        o.config_json->size(), max_plugin_config_bytes));
}

TEST(lmcache_json_text, bad_json_text_is_a_configuration_error) {
  launch_options o;
  o.locations = {"/plugins"};
  o.config_json = "{\"a\": ";
  EXPECT_NE(error_text<config_error>([&] { resolve(o); }).find("--config-json"), std::string::npos);
}

TEST(enabled_runners, restrict_the_runners_in_use) {
  temp_dir dir;
  launch_options o;
  o.config_file = dir.write("c.yaml",
                            "runtime_plugin_locations: [p]\n"
                            "plughost:\n  enabled_runners: [python, bash]\n");
  auto s = resolve(o);
  EXPECT_EQ(s.enabled_runners, (std::vector<std::string>{"python", "bash"}));
  for (const auto& r : s.runners) {
    EXPECT_EQ(r.enabled,
              r.module->descriptor->name == "python" || r.module->descriptor->name == "bash");
  }
  o.runners = {"bash"};  // the flag replaces the key
  s = resolve(o);
  EXPECT_EQ(s.enabled_runners, std::vector<std::string>{"bash"});
}

TEST(enabled_runners, an_unknown_name_names_the_file_line_and_the_runners) {
  temp_dir dir;
  launch_options o;
  o.config_file = dir.write("c.yaml",
                            "runtime_plugin_locations: [p]\n"
                            "plughost:\n  enabled_runners: [python, ruby]\n");
  EXPECT_EQ(
      error_text<config_error>([&] { resolve(o); }),
      o.config_file->string() + ":3:29: unknown runner 'ruby' (expected one of: bash, python)");
}

}  // namespace
}  // namespace plughost::detail
