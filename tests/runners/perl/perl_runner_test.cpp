// Perl plugins end to end, through the perl runner module (plughost-runner-perl.so).
#include "integration.hpp"

namespace plughost::test {
namespace {

using perl_runner = plughost_run;

TEST_F(perl_runner, pl_plugins_run_with_perl) {
  plugin("worker_0_report.pl",
         "use strict; use warnings;\n"
         "$| = 1;\n"
         "print \"perl on $ENV{LMCACHE_RUNTIME_PLUGIN_ROLE} "
         "$ENV{LMCACHE_RUNTIME_PLUGIN_WORKER_ID}\\n\";\n"
         "print STDERR \"perl stderr\\n\";\n"
         "exit 3;\n");
  plugin("worker_1_report.pl", "print \"not me\\n\";\n");
  const auto r = run({"run", "--role", "WORKER", "--worker-id", "0"});
  EXPECT_EQ(r.exit_code, 1) << "the plugin exits with 3";
  EXPECT_EQ(lines_of("worker_0_report.pl", "stdout"), std::vector<std::string>{"perl on WORKER 0"});
  EXPECT_EQ(lines_of("worker_0_report.pl", "stderr"), std::vector<std::string>{"perl stderr"});
  EXPECT_EQ(records_of("worker_0_report.pl").back()["exit_code"], 3);
  EXPECT_EQ(records_of("worker_1_report.pl").front()["reason"], "only for worker 1");
  EXPECT_EQ(
      fs::path(records_of("worker_0_report.pl").front()["argv"][0].get<std::string>()).filename(),
      "perl");
}

}  // namespace
}  // namespace plughost::test
