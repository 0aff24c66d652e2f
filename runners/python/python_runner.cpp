// The python runner: .py files; python3 first (LMCache tries python first, but on current
// distributions "python" is often missing or Python 2), then python.
#include "python_runner.hpp"

namespace plughost::runners {

python_runner::python_runner() : script_runner({".py"}, {"python3", "python"}) {}

std::vector<std::pair<std::string, std::string>> python_runner::environment(
    const std::filesystem::path&) const {
  return {{"PYTHONUNBUFFERED", "1"}};
}

}  // namespace plughost::runners
