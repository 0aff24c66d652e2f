// The python runner module: descriptor and factory.
#include "plughost/module.hpp"

#include "python_runner.hpp"

namespace {

std::unique_ptr<plughost::runner> create(const plughost::settings&) {
  return std::make_unique<plughost::runners::python_runner>();
}

constexpr plughost::module_descriptor descriptor{
    .abi_version = plughost::module_abi_version,
    .kind = plughost::module_kind::runner,
    .name = "python",
    .description = "Python plugins (.py), run with python3 or python",
    .settings = {},
    .create_runner = &create,
};

}  // namespace

PLUGHOST_MODULE(python_runner, descriptor)
