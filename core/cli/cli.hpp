// The command line of plughost, parsed with CLI11.
#pragma once

namespace plughost::cli {

/// Runs the command line; returns the process exit code (0, 1, or 2 for usage errors).
int main(int argc, char** argv);

}  // namespace plughost::cli
