// The isolation keys (docs/isolation.md): each parsed, layered from plughost's to a plugin's,
// refused at its line, warned of where this machine cannot apply it; and redact's patterns.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "config/isolation_values.hpp"
#include "config/launch_settings.hpp"
#include "config/redaction.hpp"
#include "plughost/error.hpp"
#include "supervision/cgroups.hpp"
#include "test_support.hpp"

namespace plughost::detail {
namespace {

namespace fs = std::filesystem;

const module_registry& builtins() {
  static const auto registry = module_registry::with_builtins();
  return registry;
}

struct isolation_settings : ::testing::Test {
  test::temp_dir dir;
  launch_options options;

  isolation_settings() { options.locations = {"/p"}; }
  launch_settings resolve(const std::string& yaml) {
    options.config_file = dir.write("c.yaml", yaml);
    return resolve_settings(options, environment_block(), builtins());
  }
  std::string error(const std::string& yaml) {
    return test::error_text<config_error>([&] { resolve(yaml); });
  }
  // "FILE:LINE:COLUMN: " of c.yaml.
  std::string at(int line, int column) const {
    return fmt::format("{}:{}:{}: ", (dir.path() / "c.yaml").string(), line, column);
  }
};

TEST_F(isolation_settings, by_default_only_the_oom_score_of_defaults_yaml_is_set) {
  const auto s = resolve("chunk_size: 1\n");
  plugin_isolation expected;
  expected.oom_score_adj = 500;  // plugins die before vLLM (score 0) under memory pressure
  EXPECT_TRUE(s.default_isolation == expected);
  EXPECT_TRUE(s.builtin_isolation == expected);
  EXPECT_TRUE(s.plugin_isolations.empty());
  EXPECT_EQ(s.cgroups, "auto");
}

TEST_F(isolation_settings, every_key_is_read) {
  dir.write("work/.keep", "");
  dir.write("secret.txt", "s3cret\n");
  const int cpu = allowed_cpus().front();
  options.role = "WORKER";
  options.worker_id = 3;
  const auto s =
      resolve(fmt::format("plughost:\n"
                          "  cgroups: off\n"
                          "  memory_max: 128MiB\n"
                          "  memory_high: 1GiB\n"
                          "  cpu_max: 150%\n"
                          "  cpu_weight: 200\n"
                          "  pids_max: 20\n"
                          "  cpus: \"{}\"\n"
                          "  nice: 5\n"
                          "  oom_score_adj: 800\n"
                          "  limits: {{nofile: 256, core: 0, nproc: infinity, as: 1GiB}}\n"
                          "  gpu: \"0,1\"\n"
                          "  env: {{A: \"x-{{role}}-{{worker_id}}\", N: 3, B: yes}}\n"
                          "  env_remove: [\"AWS_*\", SECRET]\n"
                          "  working_dir: work\n"
                          "  args: [--port, 8080, \"{{worker_id}}\"]\n"
                          "  user: nobody\n"
                          "  group: root\n"
                          "  credentials: {{token: secret.txt}}\n"
                          "  redact: [\"extra_config.*token*\"]\n",
                          cpu));
  const auto& i = s.default_isolation;
  EXPECT_EQ(s.cgroups, "off");
  EXPECT_EQ(i.memory_max, 128 << 20);
  EXPECT_EQ(i.memory_high, std::int64_t{1} << 30);
  EXPECT_EQ(i.cpu_max, 1.5);
  EXPECT_EQ(i.cpu_weight, 200);
  EXPECT_EQ(i.pids_max, 20);
  EXPECT_EQ(i.cpus, std::vector<int>{cpu});
  EXPECT_EQ(i.nice, 5);
  EXPECT_EQ(i.oom_score_adj, 800);
  EXPECT_EQ(i.limits, (std::vector<std::pair<int, rlim_t>>{{RLIMIT_AS, rlim_t{1} << 30},
                                                           {RLIMIT_CORE, 0},
                                                           {RLIMIT_NOFILE, 256},
                                                           {RLIMIT_NPROC, RLIM_INFINITY}}));
  EXPECT_EQ(i.gpu, gpu_access::list);
  EXPECT_EQ(i.gpu_list, "0,1");
  EXPECT_EQ(i.env, (std::vector<std::pair<std::string, std::string>>{
                       {"A", "x-WORKER-3"}, {"B", "true"}, {"N", "3"}}));
  EXPECT_EQ(i.env_remove, (std::vector<std::string>{"AWS_*", "SECRET"}));
  EXPECT_EQ(i.working_dir, dir.path() / "work");
  EXPECT_EQ(i.args, (std::vector<std::string>{"--port", "8080", "3"}));
  const passwd* nobody = ::getpwnam("nobody");
  ASSERT_NE(nobody, nullptr);
  EXPECT_EQ(i.uid, nobody->pw_uid);
  EXPECT_EQ(i.gid, 0u);  // group: root, over nobody's own group
  EXPECT_EQ(i.user_name, "nobody");
  EXPECT_EQ(i.home, nobody->pw_dir);
  EXPECT_FALSE(i.groups.empty());
  EXPECT_EQ(i.credentials,
            (std::vector<std::pair<std::string, fs::path>>{{"token", dir.path() / "secret.txt"}}));
  EXPECT_EQ(i.redact, std::vector<std::string>{"extra_config.*token*"});
}

TEST_F(isolation_settings, a_plugin_is_layered_on_plughosts_and_plughosts_on_each_document) {
  dir.write("x.txt", "x");
  dir.write("y.txt", "y");
  options.settings_file = dir.write("settings.yaml", "plughost:\n  memory_max: 1GiB\n");
  const auto s = resolve(
      "plughost:\n"
      "  memory_max: 2GiB\n"
      "  pids_max: 50\n"
      "  env: {A: \"1\", B: \"2\"}\n"
      "  limits: {nofile: 100, core: 0}\n"
      "  gpu: none\n"
      "  args: [a]\n"
      "  credentials: {x: x.txt}\n"
      "  plugins:\n"
      "    p.py:\n"
      "      env: {B: \"3\", C: \"4\"}\n"
      "      limits: {nofile: 200}\n"
      "      gpu: [0, \"GPU-1234\"]\n"
      "      args: [b]\n"
      "      credentials: {y: y.txt}\n"
      "      oom_score_adj: 900\n"
      "    q.py: {restart: always}\n");
  const auto& d = s.default_isolation;
  EXPECT_EQ(d.memory_max, std::int64_t{1} << 30);  // the settings file's, over the user's
  EXPECT_EQ(d.pids_max, 50);                       // the user's
  EXPECT_EQ(d.oom_score_adj, 500);                 // the defaults'
  const auto& p = s.isolation_for("p.py");
  EXPECT_EQ(p.memory_max, std::int64_t{1} << 30);
  EXPECT_EQ(p.oom_score_adj, 900);
  EXPECT_EQ(p.env,
            (std::vector<std::pair<std::string, std::string>>{{"A", "1"}, {"B", "3"}, {"C", "4"}}));
  EXPECT_EQ(p.limits,
            (std::vector<std::pair<int, rlim_t>>{{RLIMIT_CORE, 0}, {RLIMIT_NOFILE, 200}}));
  EXPECT_EQ(p.gpu, gpu_access::list);
  EXPECT_EQ(p.gpu_list, "0,GPU-1234");
  EXPECT_EQ(p.args, std::vector<std::string>{"b"});  // a list replaces
  EXPECT_EQ(p.credentials, (std::vector<std::pair<std::string, fs::path>>{
                               {"x", dir.path() / "x.txt"}, {"y", dir.path() / "y.txt"}}));
  EXPECT_FALSE(s.plugin_isolations.contains("q.py"));
  EXPECT_TRUE(s.isolation_for("q.py") == d);
}

TEST_F(isolation_settings, each_wrong_value_is_refused_at_its_line) {
  dir.write("work.txt", "");
  dir.write("big.bin", std::string((1 << 20) + 1, 'x'));
  const auto allowed = cpu_list_text(allowed_cpus());
  const std::pair<std::string, std::string> cases[] = {
      {"  memory_max: 12x\n",
       at(2, 15) + "plughost.memory_max: expected a size such as 65536, 64KiB or 10MiB (at "
                   "least 4MiB)"},
      {"  memory_high: 0\n",
       at(2, 16) + "plughost.memory_high: 0 bytes is too little for any plugin to start: at "
                   "least 4MiB"},
      {"  memory_max: 1\n",
       at(2, 15) + "plughost.memory_max: 1 bytes is too little for any plugin to start: at "
                   "least 4MiB"},
      {"  limits: {nofile: 0}\n",
       at(2, 20) + "plughost.limits.nofile: 0 is too little for a plugin to start: at least 16"},
      {"  limits: {as: 1MiB}\n",
       at(2, 16) + "plughost.limits.as: 1048576 is too little for a plugin to start: at least "
                   "64MiB"},
      {"  cpu_max: 0%\n", at(2, 12) + "plughost.cpu_max: expected a share of one core such as "
                                      "50% (150%: one and a half cores)"},
      {"  cpu_max: 50\n", at(2, 12) + "plughost.cpu_max: expected a share of one core such as "
                                      "50% (150%: one and a half cores)"},
      {"  cpu_weight: 0\n",
       at(2, 15) + "plughost.cpu_weight: expected an integer from 1 to 10000, got 0"},
      {"  pids_max: 0\n", at(2, 13) + "plughost.pids_max: expected an integer of 1 or more, got 0"},
      {"  nice: 20\n", at(2, 9) + "plughost.nice: expected an integer from -20 to 19, got 20"},
      {"  oom_score_adj: -1001\n",
       at(2, 18) + "plughost.oom_score_adj: expected an integer from -1000 to 1000, got -1001"},
      {"  cpus: \"3-1\"\n", at(2, 9) + "plughost.cpus: expected a CPU list such as \"0-3,7\" or "
                                       "[0, 1], or housekeeping"},
      {"  cpus: housekeeping\n",
       at(2, 9) + "plughost.cpus: housekeeping names the CPUs of plughost.housekeeping_cpus, "
                  "which is not set"},
      {"  cpus: [1000, 1001]\n",
       at(2, 9) + "plughost.cpus: none of the CPUs 1000-1001 is among those plughost may use (" +
           allowed + ")"},
      {"  limits: {nofiles: 1}\n",
       at(2, 12) + "unknown key 'nofiles' in plughost.limits (did you mean 'nofile'?)"},
      {"  limits: {as: lots}\n",
       at(2, 16) + "plughost.limits.as: expected a size such as 65536, 64KiB or 10MiB, or "
                   "infinity"},
      {"  limits: {nproc: -1}\n",
       at(2, 19) + "plughost.limits.nproc: expected a count (0 or more), or infinity"},
      {"  gpu: nonee\n", at(2, 8) + "plughost.gpu: expected inherit, none, or a list of devices "
                                    "such as \"0,1\" or [0, 1] (did you mean 'none'?)"},
      {"  env: {\"A=B\": x}\n",
       at(2, 9) + "plughost.env: 'A=B' is not a variable name (it is empty, or holds '=' or a "
                  "NUL)"},
      {"  env: {LMCACHE_PLUGIN_CONFIG: x}\n",
       at(2, 9) + "plughost.env: LMCACHE_PLUGIN_CONFIG is set by plughost for every plugin "
                  "(docs/running.md) and cannot be configured"},
      {"  env: {A: [1]}\n",
       at(2, 12) + "plughost.env.A: expected a string, a number or a boolean, got a list"},
      {"  env: {A: \"{rol}\"}\n",
       at(2, 12) + "unknown placeholder {rol} in plughost.env.A (did you mean {role}? plughost's "
                   "are {host}, {role}, {worker_id} and {worker_count}, in lower case and one "
                   "pair of braces)"},
      {"  env: {A: \"a\\0b\"}\n",
       at(2, 12) + "plughost.env.A: holds a NUL byte, which no environment variable or argument "
                   "can"},
      {"  env_remove: AWS_*\n", at(2, 15) +
                                    "plughost.env_remove: expected a list of variable "
                                    "name patterns such as AWS_*, got the string \"AWS_*\""},
      {"  working_dir: work.txt\n",
       at(2, 16) + "plughost.working_dir: " + (dir.path() / "work.txt").string() +
           " is not an existing folder"},
      {"  args: --x\n",
       at(2, 9) + "plughost.args: expected a list of arguments, got the string \"--x\""},
      {"  user: no_such_user_q\n",
       at(2, 9) + "plughost.user: there is no user no_such_user_q on this machine"},
      {"  group: no_such_group_q\n",
       at(2, 10) + "plughost.group: there is no group no_such_group_q on this machine"},
      {"  credentials: {\"a/b\": x}\n",
       at(2, 17) + "plughost.credentials: 'a/b' cannot be a file name in $CREDENTIALS_DIRECTORY "
                   "(empty, . or .., or with a '/')"},
      {"  credentials: {a: missing.txt}\n",
       at(2, 20) + "plughost.credentials.a: " + (dir.path() / "missing.txt").string() +
           " is not a file plughost can read"},
      {"  credentials: {a: big.bin}\n",
       at(2, 20) + "plughost.credentials.a: " + (dir.path() / "big.bin").string() +
           " holds more than 1MiB, the most a credential may"},
      {"  redact: [\"a..b\"]\n", at(2, 12) +
                                     "plughost.redact[0]: expected a list of key patterns such as "
                                     "extra_config.*token*"},
      {"  cgroups: maybe\n", at(2, 12) + "plughost.cgroups: expected auto or off, got maybe"},
      {"  plugins:\n    x.py: {memry_max: 1GiB}\n",
       at(3, 12) + "unknown key 'memry_max' in plughost.plugins.x.py (did you mean "
                   "'memory_max'?)"},
      {"  plugins:\n    x.py: {cgroups: off}\n",
       at(3, 12) + "unknown key 'cgroups' in plughost.plugins.x.py (did you mean 'group'?)"},
      {"  plugins:\n    x.py:\n      nice: -21\n",
       at(4, 13) + "plughost.plugins.x.py.nice: expected an integer from -20 to 19, got -21"},
  };
  for (const auto& [yaml, expected] : cases) {
    EXPECT_EQ(error("plughost:\n" + yaml), expected) << yaml;
  }
}

TEST_F(isolation_settings, a_limit_no_cgroup_can_hold_is_one_warning_at_its_line) {
  const auto s = resolve(
      "plughost:\n"
      "  cgroups: off\n"
      "  memory_max: 128MiB\n"
      "  plugins:\n"
      "    p.py:\n"
      "      memory_high: 64MiB\n"
      "      cpu_max: 10%\n"
      "      cpu_weight: 50\n"
      "      pids_max: 20\n");
  const auto why = " cgroup controller plughost can use (plughost.cgroups is off)";
  std::vector<std::string> cannot;
  for (const auto& w : s.warnings) {
    if (w.find("cannot apply") != std::string::npos) cannot.push_back(w);
  }
  EXPECT_EQ(cannot, (std::vector<std::string>{
                        at(3, 15) + "memory_max cannot apply: no memory" + why,
                        at(6, 20) + "memory_high cannot apply: no memory" + why,
                        at(7, 16) + "cpu_max cannot apply: no cpu" + why,
                        at(8, 19) + "cpu_weight cannot apply: no cpu" + why,
                        at(9, 17) + "pids_max cannot apply: no pids" + why,
                    }));
}

TEST_F(isolation_settings, memory_high_on_cgroup_v1_says_what_takes_its_place) {
  const auto layout = probe_cgroups("auto");
  const bool v1_only = layout.can("memory") && std::ranges::find(layout.v2_controllers, "memory") ==
                                                   layout.v2_controllers.end();
  if (!v1_only) GTEST_SKIP() << "this machine's memory controller is not v1 alone";
  const auto s = resolve("plughost:\n  memory_high: 64MiB\n");
  EXPECT_EQ(
      std::ranges::count(
          s.warnings,
          at(2, 16) + "memory_high: cgroup v1 has no memory.high; plughost sets "
                      "memory.soft_limit_in_bytes instead, which the kernel reclaims only under "
                      "machine-wide memory pressure"),
      1);
}

TEST_F(isolation_settings, housekeeping_is_the_housekeeping_cpus_plughost_may_use) {
  const auto allowed = allowed_cpus();
  const auto s =
      resolve(fmt::format("plughost:\n"
                          "  housekeeping_cpus: \"{},1000\"\n"
                          "  plugins:\n"
                          "    p.py: {{cpus: housekeeping}}\n"
                          "    q.py: {{cpus: [{}, 1001]}}\n",
                          allowed.front(), allowed.back()));
  EXPECT_EQ(s.isolation_for("p.py").cpus, std::vector<int>{allowed.front()});
  EXPECT_EQ(s.isolation_for("q.py").cpus, std::vector<int>{allowed.back()});
  EXPECT_TRUE(s.default_isolation.cpus.empty());
  EXPECT_EQ(error("plughost:\n"
                  "  housekeeping_cpus: [1000, 1001]\n"
                  "  plugins:\n"
                  "    p.py:\n"
                  "      cpus: housekeeping\n"),
            at(5, 13) +
                "plughost.plugins.p.py.cpus: none of the CPUs 1000-1001 "
                "(plughost.housekeeping_cpus) is among those plughost may use (" +
                cpu_list_text(allowed) + ")");
  EXPECT_EQ(error("plughost:\n  plugins:\n    p.py: {housekeeping_cpus: \"0\"}\n"),
            at(3, 12) +
                "unknown key 'housekeeping_cpus' in plughost.plugins.p.py (expected one "
                "of: stop_timeout, stop_signal, restart, interval, schedule, timezone, jitter, "
                "run_at_start, max_concurrent, restart_delay, "
                "restart_delay_max, restart_reset_after, max_restarts, timeout, enabled, notify, "
                "notify_fd, watchdog, required, "
                "sinks, ready_when, startup, readiness, liveness, after, requires, wait_for, "
                "memory_max, memory_high, "
                "cpu_max, cpu_weight, pids_max, cpus, "
                "nice, oom_score_adj, limits, gpu, env, env_remove, working_dir, args, "
                "user, group, credentials, redact)");
}

// Sets this process's own oom_score_adj (root may lower it again) for the scope.
struct own_oom_score {
  explicit own_oom_score(int score) { std::ofstream("/proc/self/oom_score_adj") << score; }
  ~own_oom_score() { std::ofstream("/proc/self/oom_score_adj") << 0; }
};

TEST_F(isolation_settings, an_oom_score_below_plughosts_own_is_one_warning) {
  if (::geteuid() != 0) GTEST_SKIP() << "lowering the score back needs root";
  const own_oom_score raised(600);
  const auto s = resolve("plughost:\n  plugins:\n    p.py: {oom_score_adj: 100}\n");
  // The default (500) is below 600 too, but nobody wrote it: no warning for it.
  EXPECT_EQ(s.warnings,
            std::vector<std::string>{
                at(3, 27) + "oom_score_adj 100: plughost's own oom_score_adj is 600: plugins get "
                            "600"});
}

TEST_F(isolation_settings, without_root_a_user_can_only_be_plughosts_own) {
  if (::geteuid() != 0) GTEST_SKIP() << "the test becomes nobody";
  const passwd* nobody = ::getpwnam("nobody");
  ASSERT_NE(nobody, nullptr);
  int out[2];
  ASSERT_EQ(::pipe(out), 0);
  const pid_t child = ::fork();
  if (child == 0) {  // as nobody: the configuration as JSON text (no file nobody cannot read)
    if (::setgid(nobody->pw_gid) != 0 || ::setuid(nobody->pw_uid) != 0) ::_exit(3);
    auto o = options;
    o.config_json =
        R"({"plughost": {"plugins": {"p.py": {"user": "root"}, "q.py": {"user": "nobody"}}}})";
    const auto text = test::error_text<config_error>(
        [&] { resolve_settings(o, environment_block(), builtins()); });
    [[maybe_unused]] const auto n = ::write(out[1], text.data(), text.size());
    ::_exit(0);
  }
  ::close(out[1]);
  std::string text;
  char buffer[512];
  for (ssize_t n; (n = ::read(out[0], buffer, sizeof buffer)) > 0;) text.append(buffer, n);
  ::close(out[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_NE(text.find(fmt::format("plughost.plugins.p.py.user: user needs plughost to run as "
                                  "root (it runs as uid {}, root is uid 0)",
                                  nobody->pw_uid)),
            std::string::npos)
      << text;
}

TEST(redaction, dotted_globs_remove_keys_at_their_depth) {
  const std::string text =
      R"({"extra_config": {"hf_token": "a", "TOKEN_2": "b", "keep": 1,)"
      R"( "nested": {"api_token": "c"}}, "token": 1, "a": {"b": {"c_secret": 1, "d": 2}, "x": 3}})";
  std::vector<std::string> removed;
  const auto out =
      redacted_config(text, {"extra_config.*token*", "a.*.c_*", "nothing.here"}, &removed);
  ASSERT_TRUE(out);
  EXPECT_EQ(removed, (std::vector<std::string>{"extra_config.hf_token", "a.b.c_secret"}));
  // A glob matches one key (not "nested.api_token"), in the case written.
  EXPECT_EQ(*out, R"({"extra_config": {"TOKEN_2": "b", "keep": 1,)"
                  R"( "nested": {"api_token": "c"}}, "token": 1, "a": {"b": {"d": 2}, "x": 3}})");
  EXPECT_EQ(redacted_config(R"({"extra_config": {"k": 1}, "other": 2})", {"extra_config"}),
            R"({"other": 2})");
  EXPECT_EQ(redacted_config(R"({"a": 1, "b": 2, "c": 3})", {"b", "c"}), R"({"a": 1})");
  EXPECT_EQ(redacted_config(R"({"a": 1, "b": 2, "c": 3})", {"a"}), R"({"b": 2, "c": 3})");
  EXPECT_EQ(redacted_config(R"({"a": 1})", {"*"}), R"({})");
  // Keys are read with their escapes, strings may hold brackets, lists are not entered.
  EXPECT_EQ(redacted_config(R"({"a\u0062": "}{\"", "c": [{"ab": 1}]})", {"ab"}),
            R"({"c": [{"ab": 1}]})");
}

TEST(redaction, every_other_byte_is_kept_and_nothing_matched_keeps_the_text) {
  const std::string text = R"({"b": 1.0,  "a": {"z": NaN}, "extra_config": {"hf_token": "s"}})";
  EXPECT_EQ(redacted_config(text, {"extra_config.*secret*"}), std::nullopt);
  EXPECT_EQ(redacted_config(text, {}), std::nullopt);
  std::vector<std::string> removed;
  const auto redacted =
      redacted_config(R"( {"b":1.0,"big":123456789012345678901234567890,"a":{"z":NaN},)"
                      R"("extra_config":{"hf_token":"s3cret","k":"v"}} )",
                      {"extra_config.*token*"}, &removed);
  ASSERT_TRUE(redacted);
  // NaN and the long integer as LMCache wrote them (a parse would make them null and a float).
  EXPECT_EQ(*redacted, R"( {"b":1.0,"big":123456789012345678901234567890,"a":{"z":NaN},)"
                       R"("extra_config":{"k":"v"}} )");
  EXPECT_EQ(removed, std::vector<std::string>{"extra_config.hf_token"});
}

}  // namespace
}  // namespace plughost::detail
