// The bash runner: which files it claims and which interpreter it uses.
#include "bash/bash_runner.hpp"

#include <gtest/gtest.h>

namespace plughost::runners {
namespace {

TEST(bash_runner, claims_sh_files_only) {
  const bash_runner r;
  EXPECT_TRUE(r.claims("/p/all_plugin.sh"));
  EXPECT_FALSE(r.claims("/p/all_plugin.bash"));
  EXPECT_FALSE(r.claims("/p/all_plugin.SH"));
  EXPECT_FALSE(r.claims("/p/all_plugin.py"));
}

TEST(bash_runner, uses_bash) {
  const bash_runner r;
  EXPECT_EQ(r.default_interpreters(), std::vector<std::string>{"bash"});
  EXPECT_TRUE(r.environment("/p/x.sh").empty());
}

}  // namespace
}  // namespace plughost::runners
