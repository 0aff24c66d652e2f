// The names a configuration gives restart modes and signals: each is read back as what it
// names, an unknown one is refused, and a mode's name is the one the configuration uses.
#include "supervision/plugin_policy.hpp"

#include <gtest/gtest.h>
#include <signal.h>

namespace plughost::detail {
namespace {

TEST(plugin_policy, every_restart_mode_is_read_by_its_name_and_written_back_the_same) {
  for (const auto mode : {restart_mode::never, restart_mode::on_failure, restart_mode::always,
                          restart_mode::interval}) {
    EXPECT_EQ(parse_restart_mode(to_string(mode)), mode) << to_string(mode);
  }
  EXPECT_EQ(parse_restart_mode("never"), restart_mode::never);
  EXPECT_EQ(parse_restart_mode("on-failure"), restart_mode::on_failure);
  EXPECT_EQ(parse_restart_mode("always"), restart_mode::always);
  EXPECT_EQ(parse_restart_mode("interval"), restart_mode::interval);
}

TEST(plugin_policy, a_restart_mode_of_another_spelling_is_unknown) {
  for (const auto* text : {"", "on_failure", "Always", "never ", "sometimes"}) {
    EXPECT_EQ(parse_restart_mode(text), std::nullopt) << '"' << text << '"';
  }
}

TEST(plugin_policy, a_signal_is_read_with_or_without_its_sig_prefix) {
  EXPECT_EQ(parse_signal("SIGTERM"), SIGTERM);
  EXPECT_EQ(parse_signal("TERM"), SIGTERM);
  EXPECT_EQ(parse_signal("SIGHUP"), SIGHUP);  // the first signal there is
  EXPECT_EQ(parse_signal("INT"), SIGINT);
  EXPECT_EQ(parse_signal("SIGKILL"), SIGKILL);
  EXPECT_EQ(parse_signal("SIGUSR2"), SIGUSR2);
}

TEST(plugin_policy, an_unknown_signal_name_is_refused) {
  for (const auto* name : {"", "SIG", "SIGNOPE", "XSIGTERM", "sigterm", "15", "SIGSIGTERM"}) {
    EXPECT_EQ(parse_signal(name), std::nullopt) << '"' << name << '"';
  }
}

}  // namespace
}  // namespace plughost::detail
