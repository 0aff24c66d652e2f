// Runs the program's constructors where the C library did not (see constructors.cpp).
#pragma once

namespace plughost::cli {

/// Called first thing in main(): runs the program's own constructors if they have not run.
void run_constructors_if_skipped(int argc, char** argv, char** envp);

}  // namespace plughost::cli
