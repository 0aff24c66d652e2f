// A plugin's environment: the entries shared by every plugin of a run and its own, merged for
// the process; and what its isolation settings change in it.
#include "launcher/plugin_environment.hpp"

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

TEST(plugin_environment, remove_takes_shared_entries_by_pattern_and_never_its_own) {
  const auto shared = std::make_shared<const entries>(
      entries{"AWS_KEY=k", "AWS_REGION=r", "PATH=/usr/bin", "XAWS_=x"});
  const plugin_environment_entries e{shared, {"AWS_PROFILE=own"}, {"AWS_*"}};
  EXPECT_EQ(e.entries(), (entries{"PATH=/usr/bin", "XAWS_=x", "AWS_PROFILE=own"}));
}

TEST(plugin_environment, isolation_sets_gpus_user_env_and_the_redacted_configuration) {
  const entries shared{"HOME=/root", "CUDA_VISIBLE_DEVICES=0", "LMCACHE_RUNTIME_PLUGIN_CONFIG={}",
                       "PLUGHOST_HOST_PID=1", "SECRET=s"};
  plugin_isolation iso;
  iso.gpu = gpu_access::none;
  iso.uid = 65534;
  iso.user_name = "nobody";
  iso.home = "/nonexistent";
  iso.env = {{"HOME", "/srv/home"}, {"A", "1"}};
  iso.env_remove = {"*"};
  plugin_environment_entries e{std::make_shared<const entries>(shared), {}, {}};
  add_isolation_entries(iso, shared, std::string(R"({"k":1})"), e);
  EXPECT_EQ(e.entries(),
            (entries{"PLUGHOST_HOST_PID=1", "CUDA_VISIBLE_DEVICES=", "HIP_VISIBLE_DEVICES=",
                     "ROCR_VISIBLE_DEVICES=", "GPU_DEVICE_ORDINAL=", "ASCEND_RT_VISIBLE_DEVICES=",
                     "HABANA_VISIBLE_MODULES=", "USER=nobody", "LOGNAME=nobody", "HOME=/srv/home",
                     "A=1", R"(LMCACHE_RUNTIME_PLUGIN_CONFIG={"k":1})"}))
      << "env_remove keeps plughost's own variables; env wins over the user's HOME; the "
         "redacted configuration only for the variables the plugin receives";
}

}  // namespace
}  // namespace plughost::detail
