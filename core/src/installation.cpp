// Finding the data folder relative to the running program (/proc/self/exe).
#include "installation.hpp"

#include <fstream>
#include <sstream>

namespace plughost::detail {

std::optional<std::filesystem::path> data_dir() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return std::nullopt;
  const auto bin = exe.parent_path();
  for (const auto& candidate :
       {bin / "share" / "plughost", bin.parent_path() / "share" / "plughost"}) {
    if (std::filesystem::is_directory(candidate, ec)) return candidate.lexically_normal();
  }
  return std::nullopt;
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
