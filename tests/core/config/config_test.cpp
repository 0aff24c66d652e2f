// Configuration files: the same document from YAML, TOML and JSON, and errors that name the
// file, line and column and what was expected.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <limits>

#include "config/config_document.hpp"
#include "config/launch_settings.hpp"
#include "plughost/error.hpp"
#include "test_support.hpp"

namespace plughost::detail {
namespace {

using test::temp_dir;
namespace fs = std::filesystem;

std::string error_of(const std::function<void()>& f) {
  return test::error_text<config_error>(f);
}

TEST(config_files, yaml_toml_and_json_give_the_same_document) {
  temp_dir dir;
  const auto yaml = dir.write("c.yaml",
                              "chunk_size: 256\n"
                              "local_cpu: true\n"
                              "runtime_plugin_locations:\n"
                              "  - plugins\n"
                              "extra_config:\n"
                              "  ratio: 0.5\n"
                              "  name: demo\n"
                              "  list: [1, two]\n");
  const auto toml = dir.write("c.toml",
                              "chunk_size = 256\n"
                              "local_cpu = true\n"
                              "runtime_plugin_locations = [\"plugins\"]\n"
                              "[extra_config]\n"
                              "ratio = 0.5\n"
                              "name = \"demo\"\n"
                              "list = [1, \"two\"]\n");
  const auto json_file =
      dir.write("c.json",
                R"({"chunk_size": 256, "local_cpu": true, "runtime_plugin_locations": ["plugins"],
          "extra_config": {"ratio": 0.5, "name": "demo", "list": [1, "two"]}})");
  const auto expected = json::parse(
      R"({"chunk_size": 256, "local_cpu": true, "runtime_plugin_locations": ["plugins"],
          "extra_config": {"ratio": 0.5, "name": "demo", "list": [1, "two"]}})");
  EXPECT_EQ(load_config_file(yaml).root, expected);
  EXPECT_EQ(load_config_file(toml).root, expected);
  EXPECT_EQ(load_config_file(json_file).root, expected);
  EXPECT_EQ(load_config_file(yaml).base_dir, dir.path());
}

TEST(config_files, yaml_scalars_are_typed_as_lmcache_reads_them) {
  temp_dir dir;
  const auto f = dir.write("c.yml",
                           "a: yes\nb: Off\nc: ~\nd:\ne: 0x1F\nf: 010\ng: 1_000\nh: 1.5\n"
                           "i: 1e3\nj: '42'\nk: \"true\"\nl: .inf\nm: 1:30\nn: 12abc\no: !!str 7\n"
                           "base: &base {x: 1, y: 2}\nderived:\n  <<: *base\n  y: 3\n");
  const auto root = load_config_file(f).root;
  EXPECT_EQ(root["a"], true);
  EXPECT_EQ(root["b"], false);
  EXPECT_TRUE(root["c"].is_null());
  EXPECT_TRUE(root["d"].is_null());
  EXPECT_EQ(root["e"], 31);
  EXPECT_EQ(root["f"], 8);
  EXPECT_EQ(root["g"], 1000);
  EXPECT_EQ(root["h"], 1.5);
  EXPECT_EQ(root["i"], "1e3");  // YAML 1.1 floats need a dot
  EXPECT_EQ(root["j"], "42");
  EXPECT_EQ(root["k"], "true");
  EXPECT_TRUE(root["l"].is_number_float());
  EXPECT_EQ(root["m"], 90);
  EXPECT_EQ(root["n"], "12abc");
  EXPECT_EQ(root["o"], "7");
  EXPECT_EQ(root["derived"], json::parse(R"({"x": 1, "y": 3})"));
}

// Found while writing the fuzz targets (tests/fuzz): a float beyond a double is infinite or
// zero, as Python's float() makes it (std::stod threw std::out_of_range, which escaped), and a
// plain scalar longer than 1 KiB stays a string (std::regex recursed once per character until
// the stack ran out).
TEST(config_files, yaml_numbers_out_of_range_and_long_scalars) {
  const std::string long_digits(100'000, '1');
  const auto root =
      parse_config_text("big: 1.0e+999\nsmall: -1.0e-999\nbase60: " + std::string(2'000, '1') +
                            ":00\nlong: " + long_digits + "\nkept: " + std::string(1'024, '1') +
                            "\n",
                        config_format::yaml, "lmcache.yaml", ".")
          .root;
  EXPECT_EQ(root["big"], std::numeric_limits<double>::infinity());
  EXPECT_EQ(root["small"], 0.0);
  EXPECT_EQ(root["base60"], std::string(2'000, '1') + ":00");
  EXPECT_EQ(root["long"], long_digits);
  EXPECT_TRUE(root["kept"].is_number());  // 1 KiB: still typed
}

TEST(config_files, empty_file_is_an_empty_document) {
  temp_dir dir;
  EXPECT_EQ(load_config_file(dir.write("e.yaml", "")).root, json::object());
}

TEST(config_errors, missing_file) {
  temp_dir dir;
  const auto f = dir.path() / "nope.yaml";
  EXPECT_EQ(error_of([&] { load_config_file(f); }),
            f.string() + ": cannot read configuration file: No such file or directory");
}

TEST(config_errors, only_regular_files_of_a_bounded_size_are_read) {
  temp_dir dir;
  const auto fifo = dir.path() / "fifo.yaml";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);  // would block a reader without a writer
  EXPECT_EQ(error_of([&] { load_config_file(fifo); }),
            fifo.string() + ": cannot read configuration file: it is a FIFO, not a regular file");
  const auto folder = dir.path() / "folder.yaml";
  fs::create_directory(folder);
  EXPECT_EQ(
      error_of([&] { load_config_file(folder); }),
      folder.string() + ": cannot read configuration file: it is a folder, not a regular file");
  const auto zero = dir.path() / "zero.yaml";
  fs::create_symlink("/dev/zero", zero);  // endless: it would eat memory
  EXPECT_EQ(error_of([&] { load_config_file(zero); }),
            zero.string() + ": cannot read configuration file: it is a device, not a regular file");
  const auto big = dir.write("big.yaml", "# " + std::string(max_config_file_bytes, 'x') + "\n");
  EXPECT_EQ(error_of([&] { load_config_file(big); }),
            big.string() +
                ": cannot read configuration file: it is larger than 4 MiB, more than a "
                "configuration may be");
}

TEST(config_errors, deep_nesting_is_refused_before_any_parser_recurses) {
  temp_dir dir;
  const auto nested = [](int n) { return std::string(n, '[') + std::string(n, ']'); };
  const auto json_file = dir.write("deep.json", "{\"a\": " + nested(100'000) + "}");
  EXPECT_EQ(error_of([&] { load_config_file(json_file); }),
            json_file.string() + ":1:70: nested deeper than 64 levels");
  // The same from LMCache's variable, and brackets inside strings do not count.
  EXPECT_EQ(error_of([&] {
              parse_config_text(
                  "{\"a\": \"" + std::string(100, '[') + "\", \"b\": " + nested(70) + "}",
                  config_format::json_text, "LMCACHE_RUNTIME_PLUGIN_CONFIG", "/");
            }),
            "LMCACHE_RUNTIME_PLUGIN_CONFIG:1:179: nested deeper than 64 levels");
  EXPECT_EQ(
      error_of([&] { load_config_file(dir.write("ok.json", "{\"a\": " + nested(63) + "}")); }),
      "(no error)");
  for (const int n : {100, 5'000, 100'000}) {
    const auto yaml = dir.write("deep.yaml", "a: " + nested(n) + "\n");
    const auto text = error_of([&] { load_config_file(yaml); });
    EXPECT_NE(text.find(": nested deeper than 64 levels"), std::string::npos) << n << ": " << text;
  }
}

TEST(config_errors, yaml_aliases_cannot_expand_without_bound) {
  // "Billion laughs": nine aliases of nine aliases of ..., a few lines that expand to 9^9 values.
  std::string text = "a: &a [x, x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'i'; ++c) {
    const std::string prev(1, static_cast<char>(c - 1));
    text += std::string(1, c) + ": &" + std::string(1, c) + " [";
    for (int i = 0; i < 9; ++i) text += (i ? ", *" : "*") + prev;
    text += "]\n";
  }
  temp_dir dir;
  const auto file = dir.write("laughs.yaml", text);
  const auto message = error_of([&] { load_config_file(file); });
  EXPECT_NE(message.find(": the document expands to more than 100000 values (that large, or "
                         "aliases repeated into each other?)"),
            std::string::npos)
      << message;
}

// Found while writing the fuzz targets (tests/fuzz): without these limits, one alias of a long
// string repeated, or a long key over many values (each value's path holds it), took gigabytes.
TEST(config_errors, yaml_aliases_cannot_expand_a_long_string_without_bound) {
  std::string text = "a: &a \"" + std::string(1024 * 1024, 's') + "\"\nb: [";
  for (int i = 0; i < 70; ++i) text += i ? ", *a" : "*a";
  text += "]\n";
  EXPECT_EQ(error_of([&] { parse_config_text(text, config_format::yaml, "lmcache.yaml", "."); }),
            "lmcache.yaml:1:4: the document expands to more than 64 MiB of keys and values "
            "(that large, or aliases repeated into each other?)");
}

TEST(config_errors, long_keys_over_many_values_are_refused) {
  std::string text = "[" + std::string(100'000, 'k') + "]\n";
  for (int i = 0; i < 1'000; ++i) text += "v" + std::to_string(i) + " = 1\n";
  EXPECT_EQ(error_of([&] { parse_config_text(text, config_format::toml, "lmcache.toml", "."); }),
            "lmcache.toml:6:6: the paths to the document's values add up to more than 64 MiB (very "
            "long keys, nested deep?)");
}

TEST(config_errors, unknown_extension) {
  test::temp_dir dir;
  const auto file = dir.write("lmcache.conf", "a: 1\n");
  EXPECT_EQ(error_of([&] { load_config_file(file); }),
            file.string() +
                ": unknown configuration format '.conf': expected a .yaml, .yml, .toml or .json "
                "file");
  // A file that is not there says so first, whatever its name.
  EXPECT_EQ(error_of([&] { load_config_file("missing.conf"); }),
            "missing.conf: cannot read configuration file: No such file or directory");
}

TEST(config_errors, bad_yaml_names_line_and_column) {
  EXPECT_EQ(error_of([] {
              parse_config_text("a: 1\nb: [1, 2\nc: 3\n", config_format::yaml, "lmcache.yaml", ".");
            }),
            "lmcache.yaml:3:2: invalid YAML: end of sequence flow not found");
}

TEST(config_errors, bad_toml_names_line_and_column) {
  EXPECT_EQ(error_of([] {
              parse_config_text("a = 1\nb = = 2\n", config_format::toml, "lmcache.toml", ".");
            }),
            "lmcache.toml:2:5: invalid TOML: Error while parsing value: could not determine value "
            "type");
}

TEST(config_errors, bad_json_names_line_and_column) {
  EXPECT_EQ(error_of([] {
              parse_config_text("{\"a\": 1,\n \"b\": tru}\n", config_format::json_text,
                                "lmcache.json", ".");
            }),
            "lmcache.json:2:10: invalid JSON: syntax error while parsing value - invalid literal; "
            "last read: '\"b\": tru}'");
}

// Whatever nlohmann::json throws is a config_error: a number too large escaped as its
// out_of_range (found by tests/fuzz). A message that quotes a long string is read without
// std::regex, which recursed once per character until the stack ran out.
TEST(config_errors, every_json_error_is_a_config_error) {
  EXPECT_EQ(error_of([] {
              parse_config_text("{\"a\": 1e400}", config_format::json_text, "lmcache.json", ".");
            }),
            "lmcache.json: invalid JSON: number overflow parsing '1e400'");
  const std::string key(200'000, 'k');
  EXPECT_EQ(error_of([&] {
              parse_config_text("{\"" + key, config_format::json_text, "lmcache.json", ".");
            }),
            "lmcache.json:1:200003: invalid JSON: syntax error while parsing object key - invalid "
            "string: missing closing quote; last read: '\"" +
                key + "'; expected string literal");
}

// Found by tests/fuzz: toml++ quotes the character it stopped at as it is, newline and escape
// sequences included; what() stays one line.
TEST(config_errors, messages_show_control_characters_visibly) {
  EXPECT_EQ(error_of([] {
              parse_config_text("inf = -i\nx = 1\n", config_format::toml, "lmcache.toml", ".");
            }),
            "lmcache.toml:1:9: invalid TOML: Error while parsing floating-point: expected 'inf', "
            "saw '-i\\x0a'");
  EXPECT_EQ(error_of([] {
              parse_config_text("\"a\\nb\\e[31m\"\n", config_format::yaml, "lmcache.yaml", ".");
            }),
            "lmcache.yaml:1:1: expected a mapping of settings at the top level, got the string "
            "\"a\\x0ab\\e[31m\"");
}

// toml++ allows 256 levels: plughost refuses more than 64, as it does for YAML and JSON.
TEST(config_errors, toml_nesting_is_limited_like_the_other_formats) {
  const auto nested = [](int n) { return std::string(n, '[') + std::string(n, ']'); };
  EXPECT_EQ(error_of([&] {
              parse_config_text("a = " + nested(100) + "\n", config_format::toml, "lmcache.toml",
                                ".");
            }),
            "lmcache.toml:1:68: nested deeper than 64 levels");
  EXPECT_EQ(error_of([&] {
              parse_config_text("a = " + nested(63) + "\n", config_format::toml, "lmcache.toml",
                                ".");
            }),
            "(no error)");
}

TEST(config_errors, top_level_must_be_a_mapping) {
  EXPECT_EQ(
      error_of([] { parse_config_text("- a\n- b\n", config_format::yaml, "lmcache.yaml", "."); }),
      "lmcache.yaml:1:1: expected a mapping of settings at the top level, got a list");
}

// The errors of the settings in the document, through the launcher's resolution.
class config_values : public ::testing::Test {
 protected:
  std::string error_for(const std::string& file, const std::string& content) {
    const auto f = dir.write(file, content);
    launch_options o;
    o.config_file = f;
    return error_of(
        [&] { resolve_settings(o, environment_block(), module_registry::with_builtins()); });
  }
  std::string name(const std::string& file) const { return (dir.path() / file).string(); }
  temp_dir dir;
};

TEST_F(config_values, locations_must_be_a_list) {
  EXPECT_EQ(error_for("lmcache.yaml",
                      "chunk_size: 256\nlocal_cpu: true\nruntime_plugin_locations:\n  foo: bar\n"),
            name("lmcache.yaml") +
                ":4:3: runtime_plugin_locations must be a list of paths, got a "
                "mapping");
  EXPECT_EQ(error_for("l2.yaml", "runtime_plugin_locations: /srv/plugins\n"),
            name("l2.yaml") +
                ":1:27: runtime_plugin_locations must be a list of paths, got the "
                "string \"/srv/plugins\"");
}

TEST_F(config_values, each_location_must_be_a_path) {
  EXPECT_EQ(error_for("l.yaml", "runtime_plugin_locations:\n  - /a\n  - 3\n"),
            name("l.yaml") + ":3:5: runtime_plugin_locations[1] must be a path, got the number 3");
  EXPECT_EQ(error_for("l.toml", "runtime_plugin_locations = [\"/a\", true]\n"),
            name("l.toml") +
                ":1:35: runtime_plugin_locations[1] must be a path, got the boolean "
                "true");
  EXPECT_EQ(error_for("l.json", "{\n  \"runtime_plugin_locations\": [\"/a\", {}]\n}\n"),
            name("l.json") + ":2:38: runtime_plugin_locations[1] must be a path, got a mapping");
  // A NUL would cut the path where the system reads it: "/tmp/a\0/../b" would name /tmp/b.
  EXPECT_EQ(error_for("n.json", "{\"runtime_plugin_locations\": [\"/tmp/a\\u0000/../b\"]}"),
            name("n.json") +
                ":1:31: runtime_plugin_locations[0] must be a path, got the string "
                "\"/tmp/a\\x00/../b\"");
}

TEST_F(config_values, unknown_plughost_key_suggests_the_nearest) {
  EXPECT_EQ(error_for("p.yaml", "plughost:\n  stop_timout: 3s\n"),
            name("p.yaml") +
                ":2:3: unknown key 'stop_timout' in plughost (did you mean 'stop_timeout'?)");
  EXPECT_EQ(
      error_for("q.yaml", "plughost:\n  colour: red\n"),
      name("q.yaml") +
          ":2:3: unknown key 'colour' in plughost (expected one of: stop_timeout, "
          "stop_signal, restart, interval, schedule, timezone, jitter, run_at_start, "
          "max_concurrent, restart_delay, restart_delay_max, restart_reset_after, "
          "max_restarts, timeout, enabled, notify, notify_fd, watchdog, required, sinks, "
          "runners, plugins, module_locations, enabled_runners, allow_insecure_permissions, "
          "control_socket, metrics_address, allow_missing_locations, wait_for_locations, "
          "environment, housekeeping_cpus, cgroups, ready_when, ready_requires_plugins, "
          "ordered_stop, watch, wait_for, startup, readiness, liveness, memory_max, memory_high, "
          "cpu_max, "
          "cpu_weight, pids_max, "
          "cpus, nice, "
          "oom_score_adj, limits, gpu, env, env_remove, working_dir, args, user, group, "
          "credentials, redact)");
}

TEST_F(config_values, durations_are_checked) {
  EXPECT_EQ(error_for("d.yaml", "plughost:\n  stop_timeout: 5 parsecs\n"),
            name("d.yaml") +
                ":2:17: stop_timeout in plughost: expected a duration such as 5, 0.5, "
                "500ms, 2s or 1m, got the string \"5 parsecs\"");
}

TEST_F(config_values, sinks_are_checked_against_their_tables) {
  EXPECT_EQ(error_for("s.yaml", "plughost:\n  sinks:\n    - {type: xml}\n"),
            name("s.yaml") + ":3:14: unknown sink 'xml' (expected one of: jsonl, stdout)");
  EXPECT_EQ(error_for("t.yaml", "plughost:\n  sinks:\n    - type: jsonl\n      pth: x.jsonl\n"),
            name("t.yaml") + ":4:7: unknown key 'pth' in sink 'jsonl' (did you mean 'path'?)");
  EXPECT_EQ(error_for("u.yaml", "plughost:\n  sinks:\n    - type: jsonl\n"),
            name("u.yaml") + ":3:7: missing required setting 'path' in sink 'jsonl'");
  EXPECT_EQ(error_for("v.yaml", "plughost:\n  sinks:\n    - stdout:rainbow\n"),
            name("v.yaml") +
                ":3:7: color in sink 'stdout': expected one of auto, always, never, got "
                "the string \"rainbow\"");
  EXPECT_EQ(error_for("w.yaml", "plughost:\n  sinks: stdout\n"),
            name("w.yaml") +
                ":2:10: plughost.sinks must be a list of sinks, got the string "
                "\"stdout\"");
}

TEST_F(config_values, environment_json_errors_name_the_variable) {
  launch_options o;
  environment_block env(
      std::vector<std::string>{"LMCACHE_RUNTIME_PLUGIN_CONFIG={\"runtime_plugin_locations\": 5}"});
  EXPECT_EQ(error_of([&] { resolve_settings(o, env, module_registry::with_builtins()); }),
            "LMCACHE_RUNTIME_PLUGIN_CONFIG:1:30: runtime_plugin_locations must be a list of "
            "paths, got the number 5");
}

}  // namespace
}  // namespace plughost::detail
