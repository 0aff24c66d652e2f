// A module whose code misbehaves, for tests, built in variants by tests/CMakeLists.txt: loading it
// runs an initializer that aborts (MISBEHAVE_ABORT), writes to an unmapped address
// (MISBEHAVE_SEGFAULT), exits (MISBEHAVE_EXIT), writes to standard output (MISBEHAVE_PRINT) or
// never returns (MISBEHAVE_HANG);
// or it is a runner whose factory writes to an unmapped address (MISBEHAVE_FACTORY), or a sink
// that writes to one when it is given the line "crash" (MISBEHAVE_WRITE). Loading any
// variant appends "<MISBEHAVE_MARK> loaded" to $PLUGHOST_TEST_LOAD_MARK, when that is set, first.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "plughost/module.hpp"

#ifndef MISBEHAVE_NAME
#define MISBEHAVE_NAME "misbehaving"
#endif
#ifndef MISBEHAVE_MARK
#define MISBEHAVE_MARK MISBEHAVE_NAME
#endif

namespace {

// A store to an unmapped page (not to null: UBSan would catch that before the kernel does).
[[maybe_unused]] void crash() {
  volatile std::uintptr_t nowhere = 16;
  *reinterpret_cast<volatile int*>(nowhere) = 1;
}

__attribute__((constructor)) void on_load() {
  if (const char* mark = std::getenv("PLUGHOST_TEST_LOAD_MARK")) {
    std::ofstream(mark, std::ios::app) << MISBEHAVE_MARK " loaded\n";
  }
#if defined(MISBEHAVE_ABORT)
  std::abort();
#elif defined(MISBEHAVE_SEGFAULT)
  crash();
#elif defined(MISBEHAVE_EXIT)
  std::exit(3);
#elif defined(MISBEHAVE_HANG)
  for (;;) ::pause();
#elif defined(MISBEHAVE_PRINT)
  std::puts("a module that writes this when it is loaded");
  std::fflush(stdout);
#endif
}

class quiet_sink : public plughost::sink {
 public:
#ifdef MISBEHAVE_WRITE
  void write(const plughost::record& r) override {
    if (r.line == "crash") crash();
  }
#else
  void write(const plughost::record&) override {}
#endif
  void flush() override {}
};

#ifdef MISBEHAVE_FACTORY
std::unique_ptr<plughost::runner> create(const plughost::settings&) {
  crash();
  return nullptr;
}
constexpr auto kind = plughost::module_kind::runner;
#else
std::unique_ptr<plughost::sink> create(const plughost::settings&) {
  return std::make_unique<quiet_sink>();
}
constexpr auto kind = plughost::module_kind::sink;
#endif

constexpr plughost::module_descriptor descriptor{
    .abi_version = plughost::module_abi_version,
    .kind = kind,
    .name = MISBEHAVE_NAME,
    .description = "misbehaves on purpose",
    .settings = {},
#ifdef MISBEHAVE_FACTORY
    .create_runner = &create,
#else
    .create_sink = &create,
#endif
};

}  // namespace

PLUGHOST_MODULE(misbehaving, descriptor)
