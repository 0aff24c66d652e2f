// Shell completion for plughost, made from the command line's own definition (CLI11's tree of
// subcommands and options), so that it cannot fall behind what plughost accepts.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <string_view>

namespace plughost::cli {

/// The completion script for `shell` ("bash" or "zsh") of every subcommand of `app` and their
/// options; options whose value is a FILE, PATH or DIR complete file names.
std::string completion_script(const CLI::App& app, std::string_view shell);

/// The COMMANDS section of the man page (help2man's --include format): every shown command with
/// its options and its example.
std::string man_sections(const CLI::App& app);

/// Adds the hidden `plughost man-sections`, which the build gives help2man.
void add_man_sections_command(CLI::App& app, std::function<int()>& run);

/// Adds `plughost completion bash|zsh`; `run` is set to print the script when it is given.
void add_completion_command(CLI::App& app, std::function<int()>& run);

}  // namespace plughost::cli
