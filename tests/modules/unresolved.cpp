// A module that needs a symbol nothing provides: loading it (RTLD_NOW) must fail cleanly.
#include "plughost/module.hpp"

extern "C" void plughost_test_symbol_that_does_not_exist();

namespace {

std::unique_ptr<plughost::runner> create(const plughost::settings&) {
  plughost_test_symbol_that_does_not_exist();
  return nullptr;
}

constexpr plughost::module_descriptor descriptor{
    .abi_version = plughost::module_abi_version,
    .kind = plughost::module_kind::runner,
    .name = "unresolved",
    .description = "needs a missing symbol",
    .settings = {},
    .create_runner = &create,
};

}  // namespace

PLUGHOST_MODULE(unresolved_runner, descriptor)
