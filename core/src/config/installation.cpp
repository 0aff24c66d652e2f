// Finding the data folder relative to the running program (/proc/self/exe).
#include "config/installation.hpp"

#include <fstream>
#include <sstream>

namespace plughost::detail {

namespace {
// <bindir>/<relative>, else <bindir>/../<relative>, whichever is a folder.
std::optional<std::filesystem::path> next_to_program(const std::filesystem::path& relative) {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return std::nullopt;
  const auto bin = exe.parent_path();
  for (const auto& candidate : {bin / relative, bin.parent_path() / relative}) {
    if (std::filesystem::is_directory(candidate, ec)) return candidate.lexically_normal();
  }
  return std::nullopt;
}
}  // namespace

std::optional<std::filesystem::path> data_dir() {
  return next_to_program("share/plughost");
}

std::optional<std::filesystem::path> module_dir() {
  return next_to_program("lib/plughost/modules");
}

std::string default_config_text(std::string& source) {
  if (const auto dir = data_dir()) {
    const auto file = *dir / "defaults.yaml";
    std::ifstream in(file, std::ios::binary);
    if (in) {
      std::ostringstream text;
      text << in.rdbuf();
      source = file.string();
      return text.str();
    }
  }
  source = "(built-in defaults)";
  return embedded_defaults;
}

}  // namespace plughost::detail
