// Registration, shadowing, lookup and guarded creation of runner and sink modules.
#include "modules/module_registry.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "modules/module_file.hpp"
#include "modules/module_probe.hpp"

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

namespace {

module_summary summary_of(const module_descriptor& d) {
  return {d.kind, std::string(d.name), d.abi_version, std::string(d.description), {}, {}};
}

}  // namespace

module_summary summarize(const loaded_module& m) {
  auto out = summary_of(*m.descriptor);
  if (out.kind == module_kind::runner) {
    try {
      // Listing needs an instance: created with its defaults, as a configuration without
      // plughost.runners would.
      out.extensions = create_runner(m, settings{})->extensions();
    } catch (const std::exception& e) {
      out.failure = e.what();
    }
  }
  return out;
}

module_registry module_registry::load(const std::vector<std::filesystem::path>& folders,
                                      const permission_policy& permissions, module_loading how) {
  module_registry r;
  const auto fail = [&](module_failure f) {
    r.warnings_.push_back(fmt::format("module {} was not loaded: {}", f.source, f.reason));
    r.failures_.push_back(std::move(f));
  };
  const auto take = [&](load_result loaded) {
    for (auto& m : loaded.modules) {
      auto summary = how == module_loading::in_child ? summarize(m) : summary_of(*m.descriptor);
      r.add({std::move(summary), m.source, {}, std::move(m)});
    }
    for (auto& f : loaded.failures) fail(std::move(f));
  };
  for (const auto& folder : folders) {
    for (const auto& file : module_files_in(folder)) {
      // Before anything opens it: a FIFO named x.so would block a reader forever.
      if (auto problem = not_a_regular_file(file); !problem.empty()) {
        fail({file.string(), std::move(problem)});
        continue;
      }
      if (permissions.check) {
        if (auto problem = check_permissions(file, folder, permissions.trusted_uid);
            !problem.empty()) {
          fail({file.string(), "refused: " + problem});
          continue;
        }
      }
      if (how == module_loading::in_process) {
        take(load_module_file(file));
        continue;
      }
      // Its header first, here: only a file that could load is worth a child process.
      if (auto problem = elf_problem(file); !problem.empty()) {
        fail({file.string(), std::move(problem)});
        continue;
      }
      auto probed = probe_module_file(file);
      for (auto& m : probed.modules) r.add({std::move(m), file.string(), {}, {}});
      for (auto& f : probed.failures) fail(std::move(f));
    }
  }
  take(load_builtin_modules());
  return r;
}

void module_registry::add(module_entry e) {
  if (const auto* first = in_use(e.summary.kind, e.summary.name)) {
    e.shadowed_by = first->source;
    warnings_.push_back(fmt::format("{} {} from {} is shadowed by the one from {}",
                                    to_string(e.summary.kind), e.summary.name, e.source,
                                    first->source));
  }
  entries_.push_back(std::move(e));
}

const module_entry* module_registry::in_use(module_kind kind, std::string_view name) const {
  const auto it = std::find_if(entries_.begin(), entries_.end(), [&](const module_entry& e) {
    return e.shadowed_by.empty() && e.summary.kind == kind && e.summary.name == name;
  });
  return it == entries_.end() ? nullptr : &*it;
}

const loaded_module* module_registry::find(module_kind kind, std::string_view name) const {
  const auto* e = in_use(kind, name);
  return e && e->loaded.descriptor ? &e->loaded : nullptr;
}

std::vector<const loaded_module*> module_registry::of_kind(module_kind kind) const {
  std::vector<const loaded_module*> out;
  for (const auto& e : entries_) {
    if (e.shadowed_by.empty() && e.summary.kind == kind && e.loaded.descriptor) {
      out.push_back(&e.loaded);
    }
  }
  return out;
}

std::vector<std::string> module_registry::names(module_kind kind) const {
  std::vector<std::string> out;
  for (const auto& e : entries_) {
    if (e.shadowed_by.empty() && e.summary.kind == kind) out.push_back(e.summary.name);
  }
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
