// Registration, shadowing, lookup and guarded creation of runner and sink modules.
#include "modules/module_registry.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "modules/module_file.hpp"

namespace plughost::detail {

namespace {

// Wraps an object from a module so that deleting it is the last thing the module's code does
// before the library may be unloaded.
template <typename T>
std::shared_ptr<T> keep_loaded(std::unique_ptr<T> object, std::shared_ptr<void> library) {
  return std::shared_ptr<T>(object.release(), [library = std::move(library)](T* p) { delete p; });
}

template <typename T, typename Factory>
std::shared_ptr<T> create(const loaded_module& m, Factory factory, const settings& s) {
  std::unique_ptr<T> object;
  try {
    object = factory(s);
  } catch (const std::exception& e) {  // caught while the module is loaded; the text is copied
    throw module_error(describe(m), e.what());
  } catch (...) {
    throw module_error(describe(m), "failed with an unknown exception");
  }
  if (!object) throw module_error(describe(m), "the module created nothing");
  return keep_loaded(std::move(object), m.library);
}
}  // namespace

std::string describe(const loaded_module& m) {
  return fmt::format("{} {} ({})", to_string(m.descriptor->kind), m.descriptor->name, m.source);
}

module_registry module_registry::load(const std::vector<std::filesystem::path>& folders,
                                      const permission_policy& permissions) {
  module_registry r;
  auto take = [&](load_result loaded) {
    for (auto& m : loaded.modules) r.add(std::move(m));
    for (auto& f : loaded.failures) {
      r.warnings_.push_back(fmt::format("module {} was not loaded: {}", f.source, f.reason));
      r.failures_.push_back(std::move(f));
    }
  };
  for (const auto& folder : folders) {
    for (const auto& file : module_files_in(folder)) {
      // Before anything opens it: a FIFO named x.so would block a reader forever.
      if (auto problem = not_a_regular_file(file); !problem.empty()) {
        take({{}, {{file.string(), std::move(problem)}}});
        continue;
      }
      if (permissions.check) {
        if (auto problem = check_permissions(file, folder, permissions.trusted_uid);
            !problem.empty()) {
          take({{}, {{file.string(), "refused: " + problem}}});
          continue;
        }
      }
      take(load_module_file(file));
    }
  }
  take(load_builtin_modules());
  return r;
}

void module_registry::add(loaded_module m) {
  if (const auto* in_use = find(m.descriptor->kind, m.descriptor->name)) {
    m.shadowed_by = in_use->source;
    warnings_.push_back(fmt::format("{} {} from {} is shadowed by the one from {}",
                                    to_string(m.descriptor->kind), m.descriptor->name, m.source,
                                    in_use->source));
  }
  modules_.push_back(std::move(m));
}

const loaded_module* module_registry::find(module_kind kind, std::string_view name) const {
  const auto it = std::find_if(modules_.begin(), modules_.end(), [&](const loaded_module& m) {
    return m.shadowed_by.empty() && m.descriptor->kind == kind && m.descriptor->name == name;
  });
  return it == modules_.end() ? nullptr : &*it;
}

std::vector<const loaded_module*> module_registry::of_kind(module_kind kind) const {
  std::vector<const loaded_module*> out;
  for (const auto& m : modules_) {
    if (m.shadowed_by.empty() && m.descriptor->kind == kind) out.push_back(&m);
  }
  return out;
}

std::vector<std::string> module_registry::names(module_kind kind) const {
  std::vector<std::string> out;
  for (const auto* m : of_kind(kind)) out.emplace_back(m->descriptor->name);
  std::sort(out.begin(), out.end());
  return out;
}

std::shared_ptr<runner> create_runner(const loaded_module& m, const settings& s) {
  return create<runner>(m, m.descriptor->create_runner, s);
}

std::shared_ptr<sink> create_sink(const loaded_module& m, const settings& s) {
  return create<sink>(m, m.descriptor->create_sink, s);
}

}  // namespace plughost::detail
