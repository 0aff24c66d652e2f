// The portable build (the wheel, the tarball) is linked against glibc 2.36 and runs on glibc
// 2.28 and newer (packaging/python/plughost_lmcache/glibc_floor.py). A program linked against
// glibc 2.34 or newer leaves running its own constructors (its static objects: CLI11's
// validators, iostream's initialiser) to the C library, which older glibc versions do not do:
// they expect the program's start code to pass them a function that does. There, main() runs
// them first, as the start code of an older link would have. Libraries' constructors are the
// dynamic loader's job in every version and are not concerned.
#include "constructors.hpp"

namespace {
bool constructors_ran = false;
[[gnu::constructor]] void note_constructors_ran() {
  constructors_ran = true;
}
}  // namespace

extern "C" {
// Bounds of the program's constructor table, defined by the linker for an executable.
[[gnu::visibility("hidden")]] extern void (*__init_array_start[])(int, char**, char**);
[[gnu::visibility("hidden")]] extern void (*__init_array_end[])(int, char**, char**);
}

namespace plughost::cli {

void run_constructors_if_skipped(int argc, char** argv, char** envp) {
  if (constructors_ran) return;
  for (auto* constructor = __init_array_start; constructor != __init_array_end; ++constructor) {
    (*constructor)(argc, argv, envp);
  }
}

}  // namespace plughost::cli
