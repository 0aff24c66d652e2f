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
  o.worker_id = 2;
  o.worker_count = 4;
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
  EXPECT_EQ(parse_worker_id_option("--worker-id", "007"), 7);
  EXPECT_EQ(parse_worker_count_option("--worker-count", "008"), 8u);
  EXPECT_EQ(resolve({}, {"LMCACHE_RUNTIME_PLUGIN_WORKER_ID=007"}).worker_id, 7);
}

TEST(identity, role_none_or_empty_flag_means_no_role_whatever_the_environment_says) {
  launch_options o;
  o.role = "none";
  EXPECT_FALSE(resolve(o, {"LMCACHE_RUNTIME_PLUGIN_ROLE=WORKER"}).role.has_value());
}

TEST(identity, a_worker_count_of_0_from_the_api_is_refused) {
  launch_options o;
  o.worker_count = 0;
  try {
    resolve(o, {});
    FAIL() << "accepted a worker count of 0";
  } catch (const usage_error& e) {
    EXPECT_EQ(std::string(e.what()),
              "launch_options.worker_count: expected a positive integer, got 0");
  }
}

TEST(identity, worker_id_may_be_negative_as_for_lmcaches_scheduler) {
  launch_options o;
  o.worker_id = -1;
  EXPECT_EQ(resolve(o, {"LMCACHE_RUNTIME_PLUGIN_WORKER_ID=3"}).worker_id, -1);
  EXPECT_EQ(resolve({}, {"LMCACHE_RUNTIME_PLUGIN_WORKER_ID=-1"}).worker_id, -1);
  EXPECT_EQ(resolve({}, {"LMCACHE_PLUGIN_WORKER_ID=-12"}).worker_id, -12);
  EXPECT_EQ(parse_worker_id_option("--worker-id", "-1"), -1);
  EXPECT_EQ(parse_worker_id_option("--worker-id", "-0"), 0);
}

// Not an integer: rejected as a worker id and as a worker count. The flag's text is parsed by
// parse_worker_id_option() (the command line and the C API call it), the variables' by
// resolve_identity() with the same parser.
class identity_rejects : public ::testing::TestWithParam<const char*> {};

TEST_P(identity_rejects, worker_id_flag) {
  try {
    parse_worker_id_option("--worker-id", GetParam());
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
  try {
    parse_worker_count_option("--worker-count", GetParam());
    FAIL() << "accepted '" << GetParam() << "'";
  } catch (const usage_error& e) {
    EXPECT_EQ(std::string(e.what()),
              std::string("--worker-count: expected a positive integer, got '") + GetParam() + "'");
  }
}

INSTANTIATE_TEST_SUITE_P(values, worker_count_rejects, ::testing::Values("0", "000", "-1", "-0"));

}  // namespace
}  // namespace plughost::detail
