// The node runner module: descriptor and factory.
#include "plughost/module.hpp"

#include "node_runner.hpp"

namespace {

std::unique_ptr<plughost::runner> create(const plughost::settings&) {
  return std::make_unique<plughost::runners::node_runner>();
}

constexpr plughost::module_descriptor descriptor{
    .abi_version = plughost::module_abi_version,
    .kind = plughost::module_kind::runner,
    .name = "node",
    .description = "Node.js plugins (.js, .mjs, .cjs), run with node or nodejs",
    .settings = {},
    .create_runner = &create,
};

}  // namespace

PLUGHOST_MODULE(node_runner, descriptor)
