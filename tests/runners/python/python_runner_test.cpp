// The python runner: which files it claims and which interpreters it tries.
#include "python/python_runner.hpp"

#include <gtest/gtest.h>

namespace plughost::runners {
namespace {

TEST(python_runner, claims_py_files_only) {
  const python_runner r;
  EXPECT_TRUE(r.claims("/p/scheduler_foo_plugin.py"));
  EXPECT_TRUE(r.claims("x.tar.py"));
  EXPECT_FALSE(r.claims("/p/x.pyc"));
  EXPECT_FALSE(r.claims("/p/x.PY"));
  EXPECT_FALSE(r.claims("/p/py"));
  EXPECT_FALSE(r.claims("/p/x.sh"));
}

TEST(python_runner, tries_python3_then_python) {
  EXPECT_EQ(python_runner().default_interpreters(),
            (std::vector<std::string>{"python3", "python"}));
}

TEST(python_runner, runs_the_file_after_the_interpreter_and_its_argument) {
  const python_runner r;
  EXPECT_EQ(r.command({"/usr/bin/env", {"python3"}}, "/p/a.py"),
            (std::vector<std::string>{"/usr/bin/env", "python3", "/p/a.py"}));
  EXPECT_EQ(r.command({"/usr/bin/python3", {}}, "/p/a.py"),
            (std::vector<std::string>{"/usr/bin/python3", "/p/a.py"}));
}

// PYTHONUNBUFFERED comes from plughost.environment, for every plugin (and may be configured
// away there): a runner's own variable would win over the configuration's.
TEST(python_runner, adds_no_variables_of_its_own) {
  EXPECT_TRUE(python_runner().environment("/p/a.py").empty());
}

}  // namespace
}  // namespace plughost::runners
