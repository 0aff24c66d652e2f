// The bash runner module: descriptor and factory.
#include "plughost/module.hpp"

#include "bash_runner.hpp"

namespace {

std::unique_ptr<plughost::runner> create(const plughost::settings&) {
  return std::make_unique<plughost::runners::bash_runner>();
}

constexpr plughost::module_descriptor descriptor{
    .abi_version = plughost::module_abi_version,
    .kind = plughost::module_kind::runner,
    .name = "bash",
    .description = "Bash plugins (.sh), run with bash",
    .settings = {},
    .create_runner = &create,
};

}  // namespace

PLUGHOST_MODULE(bash_runner, descriptor)
