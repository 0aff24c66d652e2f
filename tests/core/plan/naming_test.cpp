// The naming rules as a table: LMCache's own test cases, then the edge cases.
#include "plan/naming.hpp"

#include <gtest/gtest.h>

namespace plughost::detail {
namespace {

struct naming_case {
  const char* role;  // nullptr: no role
  std::uint64_t worker_id;
  const char* file;
  bool run;
  const char* reason;
};

void PrintTo(const naming_case& c, std::ostream* os) {
  *os << (c.role ? c.role : "(no role)") << "/" << c.worker_id << "/" << c.file;
}

class naming_rules : public ::testing::TestWithParam<naming_case> {};

TEST_P(naming_rules, decides_with_reason) {
  const auto& c = GetParam();
  identity who;
  if (c.role) who.role = c.role;
  who.worker_id = c.worker_id;
  who.worker_count = 8;
  const auto s = select_plugin(c.file, who);
  EXPECT_EQ(s.run, c.run);
  EXPECT_EQ(s.reason, c.reason);
}

// tests/v1/plugin/test_runtime_plugin_launcher.py in LMCache: test_should_skip_plugin and the
// role and worker-id filtering tests.
INSTANTIATE_TEST_SUITE_P(
    lmcache_cases, naming_rules,
    ::testing::Values(
        naming_case{"WORKER", 1, "scheduler_test.py", false, "requires role SCHEDULER"},
        naming_case{"WORKER", 1, "worker_test.py", true, "runs on role WORKER"},
        naming_case{"WORKER", 1, "all_test.py", true, "runs on every role (ALL)"},
        naming_case{"WORKER", 1, "worker_0_specific.py", false, "only for worker 0"},
        naming_case{"WORKER", 1, "worker_1_specific.py", true, "runs on role WORKER, worker 1"},
        naming_case{"WORKER", 1, "worker_generic.py", true, "runs on role WORKER"},
        naming_case{"SCHEDULER", 0, "worker_generic.py", false, "requires role WORKER"},
        // The documented examples.
        naming_case{"SCHEDULER", 0, "scheduler_foo_plugin.py", true, "runs on role SCHEDULER"},
        naming_case{"WORKER", 0, "scheduler_foo_plugin.py", false, "requires role SCHEDULER"},
        naming_case{"WORKER", 0, "worker_0_test.sh", true, "runs on role WORKER, worker 0"},
        naming_case{"WORKER", 2, "worker_0_test.sh", false, "only for worker 0"},
        naming_case{"SCHEDULER", 0, "worker_0_test.sh", false, "requires role WORKER"},
        naming_case{"SCHEDULER", 3, "all_plugin.sh", true, "runs on every role (ALL)"}));

INSTANTIATE_TEST_SUITE_P(
    edge_cases, naming_rules,
    ::testing::Values(
        // Fewer than two parts: everywhere, whatever the role.
        naming_case{"WORKER", 5, "plugin.py", true,
                    "runs on every process: the name has no role part"},
        naming_case{"SCHEDULER", 0, "heartbeat.sh", true,
                    "runs on every process: the name has no role part"},
        naming_case{nullptr, 0, "plugin.py", true,
                    "runs on every process: the name has no role part"},
        // Two parts: the second is never a worker id, so worker_0.sh runs on every worker.
        naming_case{"WORKER", 1, "worker_0.sh", true, "runs on role WORKER"},
        naming_case{"WORKER", 7, "worker_0.sh", true, "runs on role WORKER"},
        // No role: no filtering at all (LMCache's multiprocess mode).
        naming_case{nullptr, 3, "scheduler_foo_plugin.py", true,
                    "no role set: role filtering is off"},
        naming_case{nullptr, 3, "worker_0_test.sh", true, "no role set: role filtering is off"},
        // Case-insensitive, both ways.
        naming_case{"scheduler", 0, "SCHEDULER_Foo.py", true, "runs on role SCHEDULER"},
        naming_case{"Worker", 0, "ALL_x.sh", true, "runs on every role (ALL)"},
        naming_case{"WORKER", 0, "All_x.sh", true, "runs on every role (ALL)"},
        // Worker ids: the integer value counts; anything but ASCII digits is not an id.
        naming_case{"WORKER", 7, "worker_007_x.sh", true, "runs on role WORKER, worker 7"},
        naming_case{"WORKER", 0, "worker_00_x.sh", true, "runs on role WORKER, worker 0"},
        naming_case{"WORKER", 1, "worker_00_x.sh", false, "only for worker 0"},
        naming_case{"WORKER", 1, "worker_99999999999999999999999_x.sh", false,
                    "only for worker 99999999999999999999999"},
        naming_case{"WORKER", 1, "worker_1x_y.sh", true, "runs on role WORKER"},
        naming_case{"WORKER", 1, "worker_-1_y.sh", true, "runs on role WORKER"},
        naming_case{"WORKER", 1, "worker__y.sh", true, "runs on role WORKER"},
        naming_case{"WORKER", 1, "worker_\xd9\xa3_y.sh", true, "runs on role WORKER"},
        naming_case{"WORKER", 3, "all_3_x.py", true, "runs on every role (ALL), worker 3"},
        naming_case{"WORKER", 2, "all_3_x.py", false, "only for worker 3"},
        // Only the last extension is removed; other dots stay in the parts.
        naming_case{"WORKER", 0, "worker_0_x.tar.sh", true, "runs on role WORKER, worker 0"},
        naming_case{"WORKER", 0, "a.b_c.py", false, "requires role A.B"},
        // An empty first part is a role nobody has.
        naming_case{"WORKER", 0, "_x.py", false, "requires role "}));

}  // namespace
}  // namespace plughost::detail
