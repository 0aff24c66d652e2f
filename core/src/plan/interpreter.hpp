// Interpreter selection: the shebang as Linux reads it, else the runner's defaults.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/runner_overrides.hpp"
#include "plughost/runner.hpp"

namespace plughost::detail {

/// Linux reads at most this many bytes of a script's first line (BINPRM_BUF_SIZE).
inline constexpr std::size_t shebang_limit = 256;

struct shebang {
  std::string interpreter;
  std::optional<std::string> argument;
  bool operator==(const shebang&) const = default;
};

/// Parses the start of a file as Linux's binfmt_script does: "#!", optional blanks, the
/// interpreter up to the next blank, then the rest of the line, trimmed, as one optional argument.
/// Only the first 256 bytes count. A NUL ends the line too, but the blanks before it stay, and so
/// does the end of a file without a newline ("#!/bin/sh -e " passes "-e ", "#!/bin/sh " an empty
/// argument); a line that runs past the 256 bytes loses the last of them. Returns nullopt without
/// "#!" or when no interpreter is named; `truncated` is set when the interpreter's name may not
/// fit in the first 256 bytes (Linux then refuses the script).
std::optional<shebang> parse_shebang(std::string_view head, bool* truncated = nullptr);

/// Whether `program` names an existing executable regular file (a name with no slash is taken
/// relative to the working directory, as the kernel does for shebangs).
bool is_executable_file(const std::filesystem::path& program);

/// `name` if it has a slash and is executable, else the first executable `PATH` entry/name.
std::optional<std::filesystem::path> find_program(std::string_view name, std::string_view path_var);

struct resolution {
  std::optional<interpreter_choice> chosen;  ///< nullopt: nothing usable (see error)
  std::vector<std::string> warnings;         ///< e.g. a shebang that was set aside
  std::string error;
};

/// Chooses the interpreter for `plugin`: its shebang when the shebang's interpreter exists and is
/// executable (a bare name such as "python3" is looked up on `path_var`, as LMCache does, with a
/// warning); else the configured interpreter; else the first of the runner's default
/// interpreters found (on `path_var`). Throws nothing; runner exceptions become an error for
/// this plugin.
resolution resolve_interpreter(const runner& r, std::string_view runner_name,
                               const std::filesystem::path& plugin, std::string_view path_var,
                               const runner_overrides& overrides = {});

}  // namespace plughost::detail
