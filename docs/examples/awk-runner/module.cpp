// The awk runner module: its descriptor and factory, exported with PLUGHOST_MODULE.
#include <plughost/module.hpp>

#include "awk_runner.hpp"

namespace {

std::unique_ptr<plughost::runner> create(const plughost::settings&) {
  return std::make_unique<example::awk_runner>();
}

constexpr plughost::module_descriptor descriptor{
    .abi_version = plughost::module_abi_version,
    .kind = plughost::module_kind::runner,
    .name = "awk",
    .description = "awk plugins (.awk), run with awk -f",
    .settings = {},
    .create_runner = &create,
};

}  // namespace

PLUGHOST_MODULE(awk_runner, descriptor)
