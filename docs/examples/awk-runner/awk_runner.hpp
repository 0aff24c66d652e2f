// Runs .awk plugins: "awk -f plugin.awk", with awk, gawk or mawk from PATH.
#pragma once

#include <plughost/runner.hpp>

namespace example {

class awk_runner : public plughost::script_runner {
 public:
  awk_runner();
  /// awk needs -f before the program file (the default command would pass it as the program).
  std::vector<std::string> command(const plughost::interpreter_choice& chosen,
                                   const std::filesystem::path& plugin) const override;
};

}  // namespace example
