// Registration and lookup of runner and sink modules.
#include "module_registry.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

namespace plughost::detail {

module_registry module_registry::with_builtins() {
  module_registry r;
  for (const auto* d : builtin_modules()) r.add(d, "built-in");
  return r;
}

void module_registry::add(const module_descriptor* d, std::string source) {
  if (d == nullptr) throw std::runtime_error(fmt::format("{}: module has no descriptor", source));
  if (d->abi_version != module_abi_version) {
    throw std::runtime_error(fmt::format("{}: module ABI version {} is not supported (expected {})",
                                         source, d->abi_version, module_abi_version));
  }
  if (d->name.empty()) throw std::runtime_error(fmt::format("{}: module has no name", source));
  const bool runner = d->kind == module_kind::runner;
  if ((runner && !d->create_runner) || (!runner && !d->create_sink)) {
    throw std::runtime_error(fmt::format("{}: module {} has no factory", source, d->name));
  }
  if (const auto* taken = find(d->kind, d->name)) {
    throw std::runtime_error(fmt::format("{}: a {} module named {} exists already ({})", source,
                                         runner ? "runner" : "sink", d->name, taken->source));
  }
  modules_.push_back({d, std::move(source)});
}

const known_module* module_registry::find(module_kind kind, std::string_view name) const {
  const auto it = std::find_if(modules_.begin(), modules_.end(), [&](const known_module& m) {
    return m.descriptor->kind == kind && m.descriptor->name == name;
  });
  return it == modules_.end() ? nullptr : &*it;
}

std::vector<const known_module*> module_registry::of_kind(module_kind kind) const {
  std::vector<const known_module*> out;
  for (const auto& m : modules_) {
    if (m.descriptor->kind == kind) out.push_back(&m);
  }
  return out;
}

std::vector<std::string> module_registry::names(module_kind kind) const {
  std::vector<std::string> out;
  for (const auto* m : of_kind(kind)) out.emplace_back(m->descriptor->name);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace plughost::detail
