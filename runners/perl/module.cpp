// The perl runner module: descriptor and factory.
#include "plughost/module.hpp"

#include "perl_runner.hpp"

namespace {

std::unique_ptr<plughost::runner> create(const plughost::settings&) {
  return std::make_unique<plughost::runners::perl_runner>();
}

constexpr plughost::module_descriptor descriptor{
    .abi_version = plughost::module_abi_version,
    .kind = plughost::module_kind::runner,
    .name = "perl",
    .description = "Perl plugins (.pl), run with perl",
    .settings = {},
    .create_runner = &create,
};

}  // namespace

PLUGHOST_MODULE(perl_runner, descriptor)
