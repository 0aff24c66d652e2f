// Per-runner settings: plughost.runners.<name>.interpreter and args.
#include "integration.hpp"

namespace plughost::test {
namespace {

using runner_settings = plughost_run;

TEST_F(runner_settings, a_configured_interpreter_and_args_replace_the_defaults) {
  // A stand-in "venv python" that reports how it was called.
  const auto venv = dir.write("venv/bin/python",
                              "#!/bin/sh\necho \"venv python called with: $*\"\n", fs::perms(0755));
  plugin("plain.py", "print('not run by python3')\n");
  plugin("shebang.py", "#!/bin/sh\necho 'my shebang wins'\n");
  const auto config = dir.write("lmcache.yaml",
                                "runtime_plugin_locations: [plugins]\n"
                                "plughost:\n"
                                "  runners:\n"
                                "    python: {interpreter: venv/bin/python, args: [-X, dev]}\n");
  const auto r =
      run({"run", "--config", config.string(), "--sink", "jsonl:" + records_file.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lines_of("plain.py", "stdout"),
            std::vector<std::string>{"venv python called with: -X dev " +
                                     (plugins / "plain.py").string()});
  EXPECT_EQ(lines_of("shebang.py", "stdout"), std::vector<std::string>{"my shebang wins"});
  (void)venv;
}

TEST_F(runner_settings, a_configured_interpreter_that_is_missing_is_an_error_for_its_plugins) {
  plugin("p.py", "print(1)\n");
  const auto config = dir.write("lmcache.yaml",
                                "runtime_plugin_locations: [plugins]\n"
                                "plughost:\n"
                                "  runners:\n"
                                "    python: {interpreter: /opt/none/python}\n");
  const auto r = run({"list", "--json", "--config", config.string()});
  ASSERT_EQ(r.exit_code, 1) << r.err;  // a plugin cannot run
  const auto j = json::parse(r.out);
  EXPECT_EQ(j["plugins"][0]["decision"], "error");
  EXPECT_EQ(j["plugins"][0]["reason"],
            "the configured interpreter /opt/none/python (plughost.runners.python.interpreter) "
            "is not an executable file or a program on PATH");
}

TEST_F(runner_settings, unknown_runners_and_settings_are_refused_with_a_suggestion) {
  const auto a = dir.write("a.yaml", "plughost:\n  runners:\n    pyhton: {}\n");
  auto r = run({"list", "--config", a.string(), "--location", plugins.string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "plughost: error: " + a.string() +
                       ":3:5: unknown key 'pyhton' in plughost.runners (did you mean 'python'?)\n");
  const auto b = dir.write("b.yaml", "plughost:\n  runners:\n    node: {arg: [--x]}\n");
  r = run({"list", "--config", b.string(), "--location", plugins.string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "plughost: error: " + b.string() +
                       ":3:12: unknown key 'arg' in runner 'node' (did you mean 'args'?)\n");
}

}  // namespace
}  // namespace plughost::test
