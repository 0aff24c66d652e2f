// Whether the owner and mode checks apply: as root unless turned off (then a warning naming
// what turned them off), never for another user; the setting's value and place are checked.
#include <gtest/gtest.h>

#include "config/launch_settings.hpp"
#include "plughost/error.hpp"
#include "test_support.hpp"

namespace plughost::detail {
namespace {

using test::temp_dir;

constexpr std::string_view turned_off =
    ": plughost runs as root and does not check who owns plugins and modules or may write them: "
    "whoever can write one runs code as root";

struct outcome {
  permission_policy policy;
  std::vector<std::string> warnings;
};

outcome resolve(const launch_options& o, uid_t euid) {
  outcome out;
  const auto config = load_configuration(o, environment_block());
  out.policy = resolve_permission_policy(o, config, euid, out.warnings);
  return out;
}

TEST(permission_settings, checked_as_root_by_default_and_never_for_another_user) {
  const auto root = resolve({}, 0);
  EXPECT_TRUE(root.policy.check);
  EXPECT_EQ(root.policy.trusted_uid, 0u);
  EXPECT_TRUE(root.warnings.empty());
  const auto user = resolve({}, 1000);
  EXPECT_FALSE(user.policy.check);
  EXPECT_TRUE(user.warnings.empty());
}

TEST(permission_settings, the_flag_turns_the_check_off_with_a_warning_as_root_only) {
  launch_options o;
  o.allow_insecure_permissions = true;
  const auto root = resolve(o, 0);
  EXPECT_FALSE(root.policy.check);
  EXPECT_EQ(root.warnings,
            std::vector<std::string>{"--allow-insecure-permissions" + std::string(turned_off)});
  const auto user = resolve(o, 1000);
  EXPECT_FALSE(user.policy.check);
  EXPECT_TRUE(user.warnings.empty());  // nothing was turned off
}

TEST(permission_settings, the_key_turns_the_check_off_and_the_warning_says_where) {
  temp_dir dir;
  launch_options o;
  o.config_file =
      dir.write("c.yaml", "plughost:\n  restart: never\n  allow_insecure_permissions: yes\n");
  const auto root = resolve(o, 0);
  EXPECT_FALSE(root.policy.check);
  EXPECT_EQ(root.warnings, std::vector<std::string>{(dir.path() / "c.yaml").string() +
                                                    ":3:3: plughost.allow_insecure_permissions" +
                                                    std::string(turned_off)});
  // The settings file comes first: false there keeps the check.
  o.settings_file = dir.write("s.yaml", "plughost:\n  allow_insecure_permissions: false\n");
  EXPECT_TRUE(resolve(o, 0).policy.check);
}

TEST(permission_settings, the_value_must_be_a_boolean_and_is_no_per_plugin_key) {
  temp_dir dir;
  launch_options o;
  o.config_file = dir.write("c.yaml", "plughost:\n  allow_insecure_permissions: 1\n");
  EXPECT_EQ(test::error_text<config_error>([&] { resolve(o, 1000); }),
            (dir.path() / "c.yaml").string() +
                ":2:31: allow_insecure_permissions in plughost: expected true or false, got the "
                "number 1");
  o.config_file =
      dir.write("p.yaml", "plughost:\n  plugins:\n    x.py: {allow_insecure_permissions: true}\n");
  const auto registry = module_registry::with_builtins();
  EXPECT_EQ(
      test::error_text<config_error>([&] { resolve_settings(o, environment_block(), registry); }),
      (dir.path() / "p.yaml").string() +
          ":3:12: unknown key 'allow_insecure_permissions' in plughost.plugins.x.py "
          "(expected one of: stop_timeout, stop_signal, restart, interval, schedule, timezone, "
          "jitter, run_at_start, max_concurrent, restart_delay, "
          "restart_delay_max, restart_reset_after, max_restarts, timeout, enabled, notify, "
          "notify_fd, watchdog, required, sinks, ready_when, startup, readiness, liveness, after, "
          "requires, wait_for, memory_max, memory_high, cpu_max, cpu_weight, pids_max, cpus, nice, "
          "oom_score_adj, limits, gpu, env, env_remove, working_dir, args, user, group, "
          "credentials, redact)");
}

}  // namespace
}  // namespace plughost::detail
