// Module files loaded in a child process: what a good one holds, and how a bad one ended.
#include "modules/module_probe.hpp"

#include <gtest/gtest.h>

#include "test_support.hpp"

namespace plughost::detail {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const fs::path test_modules = test::folder_from_environment("PLUGHOST_TEST_MODULES");

TEST(module_probe, a_child_describes_the_modules_of_a_file) {
  const auto file = test_modules / "first" / "echo_first.so";
  const auto r = probe_module_file(file);
  EXPECT_TRUE(r.failures.empty());
  ASSERT_EQ(r.modules.size(), 1u);
  EXPECT_EQ(r.modules[0].kind, module_kind::sink);
  EXPECT_EQ(r.modules[0].name, "echo");
  EXPECT_EQ(r.modules[0].abi_version, module_abi_version);
  EXPECT_EQ(r.modules[0].description, "first");
}

TEST(module_probe, a_child_that_does_not_finish_in_time_is_killed_and_said_so) {
  const auto file = test_modules / "hanging" / "hanging.so";
  const auto r = probe_module_file(file, 300ms);
  EXPECT_TRUE(r.modules.empty());
  ASSERT_EQ(r.failures.size(), 1u);
  EXPECT_EQ(r.failures[0].source, file.string());
  EXPECT_EQ(r.failures[0].reason, "was still loading after 0.3 s (killed)");
}

TEST(module_probe, a_child_that_crashes_is_a_failure_naming_the_signal) {
  const auto file = test_modules / "misbehaving" / "aborting.so";
  const auto r = probe_module_file(file);
  ASSERT_EQ(r.failures.size(), 1u);
  EXPECT_EQ(r.failures[0].reason, "crashed while loading (SIGABRT)");
}

}  // namespace
}  // namespace plughost::detail
