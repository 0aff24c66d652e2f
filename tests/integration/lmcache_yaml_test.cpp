// A YAML configuration read as LMCache reads it (PyYAML's safe_load): plugins receive, byte for
// byte, what Python's json.dumps makes of safe_load's result (keys sorted and compact, as
// plughost writes JSON), and what safe_load refuses is refused, at its line and column. Compared
// with the real PyYAML (python3-yaml) when it is installed.
#include <stdio.h>
#include <sys/wait.h>

#include "integration.hpp"

namespace plughost::test {
namespace {

using lmcache_yaml = plughost_run;

constexpr const char* dump_config =
    "#!/bin/sh\nprintf '%s' \"$LMCACHE_RUNTIME_PLUGIN_CONFIG\" > \"$0.config\"\n";

// Python with PyYAML: its answer for `file` (what the script prints, then "exit N").
std::string python(const std::string& script, const fs::path& file) {
  const auto command = "python3 -c '" + script + "' '" + file.string() + "' 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return "(cannot run python3)";
  std::string out;
  char buffer[4096];
  for (std::size_t n; (n = ::fread(buffer, 1, sizeof buffer, pipe)) > 0;) out.append(buffer, n);
  const int status = ::pclose(pipe);
  return out + "exit " + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

bool have_pyyaml() {
  return python("import yaml, sys", "/dev/null") == "exit 0";
}

// json.dumps(safe_load(file)), its keys made strings as json.dumps makes them, then sorted and
// compact, UTF-8 unescaped: plughost's layout, Python's values.
constexpr const char* python_json =
    "import json, sys, yaml\n"
    "data = yaml.safe_load(open(sys.argv[1], \"rb\"))\n"
    "text = json.dumps(json.loads(json.dumps(data)), sort_keys=True, separators=(\",\", \":\"),"
    " ensure_ascii=False)\n"
    "sys.stdout.buffer.write(text.encode())\n";

constexpr const char* python_refuses =
    "import sys, yaml\n"
    "try:\n"
    "    yaml.safe_load(open(sys.argv[1], \"rb\"))\n"
    "except (yaml.YAMLError, ValueError, KeyError) as e:\n"
    "    print(type(e).__name__)\n"
    "    sys.exit(1)\n";

class lmcache_yaml_values : public lmcache_yaml {
 protected:
  void SetUp() override {
    if (!have_pyyaml()) GTEST_SKIP() << "python3 with PyYAML (python3-yaml) is not installed";
    plugin("dump.sh", dump_config);
  }
  // What the plugin received from a configuration of these bytes (after its locations).
  std::string received(const std::string& name, const std::string& bytes) {
    config = dir.write(name, bytes);
    const auto r = run({"run", "--config", config.string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return read_file(plugins / "dump.sh.config");
  }
  std::string locations() const { return "runtime_plugin_locations: [" + plugins.string() + "]\n"; }
  fs::path config;
};

TEST_F(lmcache_yaml_values, numbers_keys_and_tags_reach_plugins_as_lmcache_passes_them) {
  const std::string body =
      "big: 123456789012345678901234567890\n"
      "negative_big: -98765432109876543210\n"
      "hex_big: 0xFFFF_FFFF_FFFF_FFFF_FF\n"
      "octal_big: 07777777777777777777777777\n"
      "binary: 0b1010\n"
      "sexagesimal: 190:20:30\n"
      "sexagesimal_big: 1:0:0:0:0:0:0:0:0:0:0:0\n"
      "sexagesimal_float: 190:20:30.15\n"
      "max_int: 9223372036854775807\n"
      "min_int: -9223372036854775808\n"
      "below_min_int: -9223372036854775809\n"
      "max_u64: 18446744073709551615\n"
      "beyond_u64: 18446744073709551616\n"
      "not_a_number: .nan\n"
      "infinite: .inf\n"
      "minus_infinite: -.Inf\n"
      "overflowing: 1.0e+999\n"
      "no_exponent_sign: 1.0e999\n"
      "exponent_without_dot: 1e3\n"
      "float: 6.8523015e+5\n"
      "small: 0.00001\n"
      "tiny: 0.0001\n"
      "fifteen_digits: 1000000000000000.0\n"
      "sixteen_digits: 10000000000000000.0\n"
      "negative_zero: -0.0\n"
      "words: [yes, No, on, OFF, true, ~, null, '']\n"
      "tagged: [!!float 1, !!float 1e3, !!float -.inf, !!int \"12\", !!str 12, !!bool yes, "
      "!!null x]\n"
      "ordered: !!omap [a: 1, b: 2]\n"
      "pairs: !!pairs [{a: 1}, {a: 2}]\n"
      "merged: {<<: [{x: 1, y: 1}, {x: 2, z: 3}], y: 2}\n"
      "unicode: \"caf\\u00e9 \\u2615\"\n"
      "keys: {2: a, on: b, ~: c, 010: d, 1.5: e, .inf: f, 99999999999999999999: g}\n"
      "nested: {list: [1, [2, {deep: .NaN}]]}\n";
  const auto got = received("config.yaml", locations() + body);
  const auto expected = python(python_json, config);
  EXPECT_EQ(got + "exit 0", expected);
  // The values that nlohmann::json would have changed, as Python writes them.
  for (const auto* piece :
       {"\"big\":123456789012345678901234567890", "\"not_a_number\":NaN", "\"infinite\":Infinity",
        "\"minus_infinite\":-Infinity", "\"beyond_u64\":18446744073709551616",
        "\"fifteen_digits\":1000000000000000.0", "\"Infinity\":\"f\""}) {
    EXPECT_NE(got.find(piece), std::string::npos) << piece << " in " << got;
  }
}

TEST_F(lmcache_yaml_values, utf16_and_a_utf8_byte_order_mark_are_read_as_pyyaml_reads_them) {
  const std::string text = locations() + "name: caf\xc3\xa9\n";
  const auto with_bom = received("bom8.yaml", "\xef\xbb\xbf" + text);
  EXPECT_EQ(with_bom + "exit 0", python(python_json, config));
  // UTF-16 little and big endian, with their byte order marks.
  for (const bool little : {true, false}) {
    std::string utf16 = little ? "\xff\xfe" : "\xfe\xff";
    for (const char c : std::string(text)) {
      const auto u = static_cast<unsigned char>(c);
      if (u < 0x80) {
        utf16 += little ? std::string{c, '\0'} : std::string{'\0', c};
      }
    }
    // "é" (U+00E9) was two bytes in UTF-8: written as one UTF-16 unit, before the newline.
    utf16.insert(utf16.size() - 2,
                 little ? std::string("\xe9\x00", 2) : std::string("\x00\xe9", 2));
    const auto got = received(little ? "le.yaml" : "be.yaml", utf16);
    EXPECT_EQ(got + "exit 0", python(python_json, config)) << (little ? "UTF-16LE" : "UTF-16BE");
    EXPECT_EQ(got, with_bom);
  }
}

// What plughost and PyYAML both refuse, with plughost's message at the line and column.
class lmcache_yaml_refusals : public lmcache_yaml_values {
 protected:
  std::string refusal(const std::string& bytes) {
    fs::remove(plugins / "dump.sh.config");
    config = dir.write("refused.yaml", bytes);
    const auto pyyaml = python(python_refuses, config);
    EXPECT_NE(pyyaml.find("exit 1"), std::string::npos) << "PyYAML took it: " << pyyaml;
    const auto r = run({"run", "--config", config.string()});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_FALSE(fs::exists(plugins / "dump.sh.config")) << "a plugin ran";
    return r.err;
  }
  std::string at(int line, int column) const {
    return "plughost: error: " + (dir.path() / "refused.yaml").string() + ":" +
           std::to_string(line) + ":" + std::to_string(column) + ": ";
  }
};

TEST_F(lmcache_yaml_refusals, python_tags_and_unknown_tags) {
  const std::string expected =
      " is not one that LMCache's reader (PyYAML's safe_load) accepts: expected no tag, or one "
      "of !!str, !!int, !!float, !!bool, !!null, !!seq, !!map, !!omap and !!pairs\n";
  EXPECT_EQ(refusal(locations() + "x: !!python/object/apply:os.system [\"true\"]\n"),
            at(2, 4) + "the tag !!python/object/apply:os.system" + expected);
  EXPECT_EQ(refusal(locations() + "x:\n  y: !!python/name:os.system ''\n"),
            at(3, 6) + "the tag !!python/name:os.system" + expected);
  EXPECT_EQ(refusal(locations() + "x: !custom 1\n"), at(2, 4) + "the tag !custom" + expected);
  EXPECT_EQ(refusal(locations() + "? !!python/tuple [1, 2]\n: x\n"),
            at(2, 3) + "the tag !!python/tuple" + expected);
}

TEST_F(lmcache_yaml_refusals, values_their_tag_does_not_allow) {
  EXPECT_EQ(refusal(locations() + "x: !!int 12.5\n"),
            at(2, 4) + "expected an integer after !!int, got '12.5'\n");
  EXPECT_EQ(refusal(locations() + "x: !!float abc\n"),
            at(2, 4) + "expected a number after !!float, got 'abc'\n");
  EXPECT_EQ(refusal(locations() + "x: !!bool maybe\n"),
            at(2, 4) + "expected yes, no, true, false, on or off after !!bool, got 'maybe'\n");
}

TEST_F(lmcache_yaml_refusals, bytes_that_are_not_utf8_and_control_characters) {
  const std::string how =
      "write the configuration in UTF-8, or UTF-16 with a byte order mark, as LMCache's reader "
      "(PyYAML) expects\n";
  EXPECT_EQ(refusal(locations() + "name: caf\xe9\n"), at(2, 10) + "not UTF-8 (byte 0xe9): " + how);
  EXPECT_EQ(refusal(locations() + "a: 1\nname: \xc0\xaf\n"),  // an overlong "/"
            at(3, 7) + "not UTF-8 (byte 0xc0): " + how);
  EXPECT_EQ(refusal(locations() + "name: a\x01z\n"),
            at(2, 8) +
                "character U+0001 is not allowed in YAML (LMCache's reader, PyYAML, refuses it): "
                "only tab, line feed, carriage return and printable characters are\n");
  EXPECT_EQ(refusal(locations() + "# a comment \x7f\n"),
            at(2, 13) +
                "character U+007F is not allowed in YAML (LMCache's reader, PyYAML, refuses it): "
                "only tab, line feed, carriage return and printable characters are\n");
}

}  // namespace
}  // namespace plughost::test
