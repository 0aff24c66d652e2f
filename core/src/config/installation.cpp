// Finding the data and module folders relative to the running program (/proc/self/exe), then
// to libplughost itself (for a program that embeds it from another prefix).
#include "config/installation.hpp"

#include <boost/dll/runtime_symbol_info.hpp>
#include <fstream>
#include <sstream>

namespace plughost::detail {

namespace {
// The first of `candidates` that is a folder.
std::optional<std::filesystem::path> first_folder(
    std::initializer_list<std::filesystem::path> candidates) {
  std::error_code ec;
  for (const auto& candidate : candidates) {
    if (!candidate.empty() && std::filesystem::is_directory(candidate, ec)) {
      return candidate.lexically_normal();
    }
  }
  return std::nullopt;
}

std::filesystem::path program_folder() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::path() : exe.parent_path();
}

// The folder of the file this code is in: libplughost.so's (or the program's, when linked with
// the archive).
std::filesystem::path library_folder() {
  boost::dll::fs::error_code ec;
  const auto self = boost::dll::this_line_location(ec);
  return ec ? std::filesystem::path() : std::filesystem::path(self.string()).parent_path();
}
}  // namespace

std::optional<std::filesystem::path> data_dir() {
  const auto bin = program_folder(), lib = library_folder();
  return first_folder({bin.empty() ? bin : bin / "share/plughost",
                       bin.empty() ? bin : bin.parent_path() / "share/plughost",
                       lib.empty() ? lib : lib.parent_path() / "share/plughost",
                       PLUGHOST_INSTALL_DATA_DIR});
}

std::optional<std::filesystem::path> module_dir() {
  const auto bin = program_folder(), lib = library_folder();
  return first_folder({bin.empty() ? bin : bin / "lib/plughost/modules",
                       bin.empty() ? bin : bin.parent_path() / "lib/plughost/modules",
                       lib.empty() ? lib : lib / "plughost/modules", PLUGHOST_INSTALL_MODULE_DIR});
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
