// The public states of supervision: their names (the JSON, the C API and `plughost status` are
// contracts) and how the machine's states and its runs' map to them.
#include "supervision/published_state.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace plughost::detail {
namespace {

using public_state = plughost::plugin_state;

TEST(published_state, every_public_state_has_the_name_of_the_json) {
  std::vector<std::string> names;
  for (const auto s :
       {public_state::starting, public_state::running, public_state::stopping,
        public_state::draining, public_state::backoff, public_state::replacing,
        public_state::exited, public_state::failed, public_state::stopped, public_state::retired}) {
    names.emplace_back(to_string(s));
  }
  EXPECT_EQ(names,
            (std::vector<std::string>{"starting", "running", "stopping", "draining", "backoff",
                                      "replacing", "exited", "failed", "stopped", "retired"}));
  EXPECT_EQ(to_string(launcher_phase::not_started), "not started");
  EXPECT_EQ(to_string(launcher_phase::finished), "finished");
  EXPECT_EQ(to_string(by_hand_action::none), "");
  EXPECT_EQ(to_string(by_hand_action::stopped), "stopped");
  EXPECT_EQ(to_string(module_status::shadowed), "shadowed");
}

supervision_machine::plugin_view view(plugin_state s, std::optional<run_state> run = {}) {
  supervision_machine::plugin_view v{};
  v.state = s;
  v.current_state = run;
  return v;
}

TEST(published_state, the_machines_states_keep_their_names_or_say_what_they_are) {
  for (const auto s : {plugin_state::starting, plugin_state::running, plugin_state::backoff,
                       plugin_state::replacing, plugin_state::exited, plugin_state::failed,
                       plugin_state::stopped, plugin_state::retired}) {
    EXPECT_EQ(to_string(published_state(view(s))), to_string(s));
    EXPECT_EQ(to_string(published_state(view(s, run_state::running))), to_string(s));
  }
  // Stopped by hand is "stopped" (by_hand says by hand); a run on its way to stop, "stopping".
  EXPECT_EQ(published_state(view(plugin_state::held)), public_state::stopped);
  for (const auto s :
       {plugin_state::stopping_by_hand, plugin_state::restarting, plugin_state::stopping}) {
    EXPECT_EQ(published_state(view(s, run_state::lingering)), public_state::stopping);
  }
  for (const auto p :
       {run_phase::starting, run_phase::running, run_phase::stopping, run_phase::finished}) {
    EXPECT_EQ(to_string(published_phase(p)), to_string(p));
  }
}

TEST(published_state, a_run_being_stopped_is_stopping_and_a_held_exit_is_draining) {
  EXPECT_EQ(published_state(view(plugin_state::running, run_state::stopping)),
            public_state::stopping);
  EXPECT_EQ(published_state(view(plugin_state::replacing, run_state::killing)),
            public_state::replacing)
      << "a run stopped to be replaced says so, not a stop for good";
  EXPECT_EQ(published_state(view(plugin_state::running, run_state::draining)),
            public_state::draining);
}

TEST(published_state, by_hand_is_the_machines_word_or_none) {
  EXPECT_EQ(published_by_hand("stopped"), by_hand_action::stopped);
  EXPECT_EQ(published_by_hand("started"), by_hand_action::started);
  EXPECT_EQ(published_by_hand(""), by_hand_action::none);
}

}  // namespace
}  // namespace plughost::detail
