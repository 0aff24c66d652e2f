// The options every launcher test starts from: plugins in <dir>/plugins, records in
// <dir>/records.jsonl, a clean environment that marks the plugins' processes.
#pragma once

#include "plughost/config.hpp"
#include "test_support.hpp"

namespace plughost::test {

inline launch_options options_for(const temp_dir& dir) {
  launch_options o;
  o.locations = {dir.path() / "plugins"};
  o.sinks = {"jsonl:" + (dir.path() / "records.jsonl").string()};
  o.stop_timeout = std::chrono::seconds(2);
  o.environment = clean_environment({dir.marker()});
  return o;
}

}  // namespace plughost::test
