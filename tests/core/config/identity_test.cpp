// Identity: flags, then LMCACHE_RUNTIME_PLUGIN_*, then legacy LMCACHE_PLUGIN_*, then defaults.
#include "config/identity.hpp"

#include <gtest/gtest.h>

#include "plughost/error.hpp"

namespace plughost::detail {
namespace {

identity resolve(const launch_options& o, const std::vector<std::string>& env) {
  return resolve_identity(o, environment_block(env));
}

TEST(identity, defaults_to_no_role_worker_0_of_1) {
  const auto who = resolve({}, {});
  EXPECT_FALSE(who.role.has_value());
  EXPECT_EQ(who.worker_id, 0u);
  EXPECT_EQ(who.worker_count, 1u);
}

TEST(identity, flags_win_over_environment) {
  launch_options o;
  o.role = "SCHEDULER";
  o.worker_id = "2";
  o.worker_count = "4";
  const auto who =
      resolve(o, {"LMCACHE_RUNTIME_PLUGIN_ROLE=WORKER", "LMCACHE_RUNTIME_PLUGIN_WORKER_ID=9",
                  "LMCACHE_RUNTIME_PLUGIN_WORKER_COUNT=10"});
  EXPECT_EQ(who.role, "SCHEDULER");
  EXPECT_EQ(who.worker_id, 2u);
  EXPECT_EQ(who.worker_count, 4u);
}

TEST(identity, new_variables_win_over_legacy_ones) {
  const auto who =
      resolve({}, {"LMCACHE_PLUGIN_ROLE=OLD", "LMCACHE_RUNTIME_PLUGIN_ROLE=NEW",
                   "LMCACHE_PLUGIN_WORKER_ID=1", "LMCACHE_RUNTIME_PLUGIN_WORKER_ID=3"});
  EXPECT_EQ(who.role, "NEW");
  EXPECT_EQ(who.worker_id, 3u);
}

TEST(identity, legacy_variables_are_read) {
  const auto who = resolve({}, {"LMCACHE_PLUGIN_ROLE=WORKER", "LMCACHE_PLUGIN_WORKER_ID=5",
                                "LMCACHE_PLUGIN_WORKER_COUNT=6"});
  EXPECT_EQ(who.role, "WORKER");
  EXPECT_EQ(who.worker_id, 5u);
  EXPECT_EQ(who.worker_count, 6u);
}

TEST(identity, empty_role_means_no_role) {
  EXPECT_FALSE(resolve({}, {"LMCACHE_RUNTIME_PLUGIN_ROLE="}).role.has_value());
  launch_options o;
  o.role = "";
  EXPECT_FALSE(resolve(o, {"LMCACHE_RUNTIME_PLUGIN_ROLE=WORKER"}).role.has_value());
}

TEST(identity, leading_zeros_are_the_same_number) {
  launch_options o;
  o.worker_id = "007";
  EXPECT_EQ(resolve(o, {}).worker_id, 7u);
}

TEST(identity, worker_id_may_be_negative_as_for_lmcaches_scheduler) {
  launch_options o;
  o.worker_id = "-1";
  EXPECT_EQ(resolve(o, {}).worker_id, -1);
  EXPECT_EQ(resolve({}, {"LMCACHE_RUNTIME_PLUGIN_WORKER_ID=-1"}).worker_id, -1);
  EXPECT_EQ(resolve({}, {"LMCACHE_PLUGIN_WORKER_ID=-12"}).worker_id, -12);
  o.worker_id = "-0";
  EXPECT_EQ(resolve(o, {}).worker_id, 0);
}

// Not an integer: rejected as a worker id and as a worker count.
class identity_rejects : public ::testing::TestWithParam<const char*> {};

TEST_P(identity_rejects, worker_id_flag) {
  launch_options o;
  o.worker_id = GetParam();
  try {
    resolve(o, {});
    FAIL() << "accepted '" << GetParam() << "'";
  } catch (const usage_error& e) {
    EXPECT_EQ(std::string(e.what()),
              std::string("--worker-id: expected an integer, got '") + GetParam() + "'");
  }
}

TEST_P(identity_rejects, worker_count_variable) {
  try {
    resolve({}, {std::string("LMCACHE_RUNTIME_PLUGIN_WORKER_COUNT=") + GetParam()});
    FAIL() << "accepted '" << GetParam() << "'";
  } catch (const usage_error& e) {
    EXPECT_EQ(
        std::string(e.what()),
        std::string("LMCACHE_RUNTIME_PLUGIN_WORKER_COUNT: expected a positive integer, got '") +
            GetParam() + "'");
  }
}

INSTANTIATE_TEST_SUITE_P(values, identity_rejects,
                         ::testing::Values("+1", " 1", "1 ", "1.0", "", "-", "--1", "1-", "abc",
                                           "0x10", "99999999999999999999999",
                                           "-99999999999999999999999"));

// A worker count is at least 1.
class worker_count_rejects : public ::testing::TestWithParam<const char*> {};

TEST_P(worker_count_rejects, the_flag) {
  launch_options o;
  o.worker_count = GetParam();
  try {
    resolve(o, {});
    FAIL() << "accepted '" << GetParam() << "'";
  } catch (const usage_error& e) {
    EXPECT_EQ(std::string(e.what()),
              std::string("--worker-count: expected a positive integer, got '") + GetParam() + "'");
  }
}

INSTANTIATE_TEST_SUITE_P(values, worker_count_rejects, ::testing::Values("0", "000", "-1", "-0"));

}  // namespace
}  // namespace plughost::detail
