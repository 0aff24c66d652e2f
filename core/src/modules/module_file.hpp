// What a candidate module file is, found out without loading it: a regular file (links
// followed), an ELF shared object built for this machine, and the modules its manifest names.
// Nothing here throws or blocks.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "plughost/module.hpp"

namespace plughost::detail {

/// Why `file` cannot be a module, from stat() alone (it is not opened): "a broken symbolic
/// link", "a symbolic link loop", "not a regular file (a FIFO)", …; empty for a regular file.
std::string not_a_regular_file(const std::filesystem::path& file);

/// Why `file` is not a shared object this program could load, from its ELF header: "not a
/// shared object (no ELF header)", "built for aarch64, this plughost is x86-64", …; empty when
/// it could be one. The file is opened without blocking (a FIFO put in its place meanwhile is
/// "not a regular file", never a hang) and only its header is read.
std::string elf_problem(const std::filesystem::path& file);

/// The records of a shared object's "plughost.manifest" section (module_manifest), read from
/// the file; none when it has no such section. Call when elf_problem() found nothing wrong.
struct manifest_read {
  std::vector<module_manifest> records;
  std::string problem;  ///< why the section could not be read, or empty
};
manifest_read read_manifest(const std::filesystem::path& file);

}  // namespace plughost::detail
