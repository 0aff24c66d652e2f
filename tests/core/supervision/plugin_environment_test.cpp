// A plugin's environment: the entries shared by every plugin of a run and its own, merged for
// the process.
#include <gtest/gtest.h>

#include "supervision/supervision_port.hpp"

namespace plughost::detail {
namespace {

using entries = std::vector<std::string>;

TEST(plugin_environment, its_own_entries_win_over_the_shared_ones_and_the_last_of_a_name_wins) {
  const auto shared = std::make_shared<const entries>(
      entries{"PATH=/usr/bin", "HOME=/root", "LMCACHE_RUNTIME_PLUGIN_NAME=stale"});
  const plugin_environment_entries e{
      shared, {"LMCACHE_RUNTIME_PLUGIN_NAME=a.py", "PYTHONPATH=/x", "PYTHONPATH=/y", "PATHX=1"}};
  EXPECT_EQ(e.entries(), (entries{"PATH=/usr/bin", "HOME=/root", "LMCACHE_RUNTIME_PLUGIN_NAME=a.py",
                                  "PYTHONPATH=/y", "PATHX=1"}));
  EXPECT_EQ(shared->size(), 3u) << "the shared entries are not changed";
}

TEST(plugin_environment, without_shared_entries_it_is_its_own) {
  EXPECT_EQ((plugin_environment_entries{nullptr, {"A=1"}}.entries()), entries{"A=1"});
}

}  // namespace
}  // namespace plughost::detail
