// What a candidate module file is, found out without loading it: a regular file (links
// followed), an ELF shared object built for this machine. Nothing here throws or blocks.
#pragma once

#include <filesystem>
#include <string>

namespace plughost::detail {

/// Why `file` cannot be a module, from stat() alone (it is not opened): "a broken symbolic
/// link", "a symbolic link loop", "not a regular file (a FIFO)", …; empty for a regular file.
std::string not_a_regular_file(const std::filesystem::path& file);

/// Why `file` is not a shared object this program could load, from its ELF header: "not a
/// shared object (no ELF header)", "built for aarch64, this plughost is x86-64", …; empty when
/// it could be one. The file is opened without blocking (a FIFO put in its place meanwhile is
/// "not a regular file", never a hang) and only its header is read.
std::string elf_problem(const std::filesystem::path& file);

}  // namespace plughost::detail
