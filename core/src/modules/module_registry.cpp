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
  return {d.kind, std::string(d.name),    d.abi_version, std::string(d.description), {},
          {},     describe_build(d.build)};
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
  r.how_ = how;
  for (const auto& folder : folders) {
    for (const auto& file : module_files_in(folder)) {
      // Before anything opens it: a FIFO named x.so would block a reader forever.
      if (auto problem = not_a_regular_file(file); !problem.empty()) {
        r.failures_.push_back({file.string(), std::move(problem)});
        continue;
      }
      if (permissions.check) {
        if (auto problem = check_permissions(file, folder, permissions.trusted_uid);
            !problem.empty()) {
          r.failures_.push_back({file.string(), "refused: " + problem});
          continue;
        }
      }
      r.examine(file);
    }
  }
  auto builtins = load_builtin_modules();
  for (auto& m : builtins.modules) {
    auto summary = how == module_loading::in_child ? summarize(m) : summary_of(*m.descriptor);
    r.entries_.push_back({std::move(summary), m.source, {}, std::move(m)});
  }
  for (auto& f : builtins.failures) r.failures_.push_back(std::move(f));
  return r;
}

namespace {

// "runner node, sink file": the kinds and names of modules, sorted.
std::string kinds_and_names(const std::vector<module_summary>& modules) {
  std::vector<std::string> out;
  for (const auto& m : modules) out.push_back(fmt::format("{} {}", to_string(m.kind), m.name));
  std::sort(out.begin(), out.end());
  return fmt::format("{}", fmt::join(out, ", "));
}

}  // namespace

// A file that could be a module: what its manifest says it holds, or, when that is not all
// (built against an older plughost, or a descriptor that is not constexpr), what a child
// process that loaded it found. Nothing is loaded into this process.
void module_registry::examine(const std::filesystem::path& file) {
  const auto source = file.string();
  if (auto problem = elf_problem(file); !problem.empty()) {
    failures_.push_back({source, std::move(problem)});
    return;
  }
  auto [aliases, problem] = module_aliases(file);
  auto [manifest, unreadable] = read_manifest(file);
  if (problem.empty()) problem = std::move(unreadable);
  if (!problem.empty()) {
    failures_.push_back({source, std::move(problem)});
    return;
  }
  // With another ABI version nothing else in it can be trusted, nor should its code run.
  for (const auto& m : manifest) {
    auto mismatch = manifest_mismatch(m);
    if (!mismatch.empty()) {
      failures_.push_back({source, std::move(mismatch)});
      return;
    }
  }
  std::vector<module_summary> declared;
  for (const auto& m : manifest) {
    if (m.kind != static_cast<std::uint32_t>(module_kind::runner) &&
        m.kind != static_cast<std::uint32_t>(module_kind::sink)) {
      break;
    }
    declared.push_back({static_cast<module_kind>(m.kind),
                        m.name,
                        m.abi_version,
                        {},
                        {},
                        {},
                        describe_build(m.build)});
  }
  const bool complete = declared.size() == aliases.size() && manifest.size() == aliases.size();
  if (how_ == module_loading::on_use && complete) {
    for (auto& d : declared) entries_.push_back({std::move(d), source, file, {}});
    return;
  }
  auto probed = probe_module_file(file);
  if (complete && probed.failures.empty() &&
      kinds_and_names(declared) != kinds_and_names(probed.modules)) {
    failures_.push_back(
        {source, fmt::format("its manifest names {}, but it holds {}: rebuild it",
                             kinds_and_names(declared), kinds_and_names(probed.modules))});
    return;
  }
  for (auto& m : probed.modules) entries_.push_back({std::move(m), source, file, {}});
  for (auto& f : probed.failures) failures_.push_back(std::move(f));
}

// Loads a .so into this process, for the modules of it that are used; each module it should
// hold but does not is a failure.
void module_registry::load_file(const std::filesystem::path& file) const {
  auto loaded = load_module_file(file);
  std::vector<std::string> reasons;
  for (const auto& f : loaded.failures) reasons.push_back(f.reason);
  for (auto& f : loaded.failures) failures_.push_back(std::move(f));
  for (auto& e : entries_) {
    if (e.file != file || e.loaded.descriptor || e.failed) continue;
    const auto it = std::find_if(loaded.modules.begin(), loaded.modules.end(), [&](const auto& m) {
      return m.descriptor->kind == e.summary.kind && m.descriptor->name == e.summary.name;
    });
    if (it != loaded.modules.end()) {
      e.loaded = *it;
      continue;
    }
    e.failed = true;
    if (reasons.empty()) {  // else they said why already
      failures_.push_back(
          {e.source, fmt::format("its manifest names {} {}, which it does not hold: rebuild it",
                                 to_string(e.summary.kind), e.summary.name)});
    }
  }
}

const module_entry* module_registry::first_of(module_kind kind, std::string_view name) const {
  const auto it = std::find_if(entries_.begin(), entries_.end(), [&](const module_entry& e) {
    return !e.failed && e.summary.kind == kind && e.summary.name == name;
  });
  return it == entries_.end() ? nullptr : &*it;
}

std::string module_registry::shadowed_by(const module_entry& e) const {
  const auto* first = e.failed ? nullptr : first_of(e.summary.kind, e.summary.name);
  return first && first != &e ? first->source : std::string();
}

const loaded_module* module_registry::find(module_kind kind, std::string_view name) const {
  while (const auto* e = first_of(kind, name)) {
    if (e->loaded.descriptor) return &e->loaded;
    // A module examined in a child process only (module_loading::in_child) is only described.
    if (e->file.empty() || how_ == module_loading::in_child) return nullptr;
    load_file(e->file);
  }
  return nullptr;
}

bool module_registry::loaded(module_kind kind, std::string_view name) const {
  const auto* e = first_of(kind, name);
  return e && e->loaded.descriptor;
}

std::vector<std::string> module_registry::names_in_search_order(module_kind kind) const {
  std::vector<std::string> out;
  for (const auto& e : entries_) {
    if (!e.failed && e.summary.kind == kind &&
        std::find(out.begin(), out.end(), e.summary.name) == out.end()) {
      out.push_back(e.summary.name);
    }
  }
  return out;
}

std::vector<std::string> module_registry::names(module_kind kind) const {
  auto out = names_in_search_order(kind);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> module_registry::warnings() const {
  std::vector<std::string> out;
  for (const auto& f : failures_) {
    out.push_back(fmt::format("module {} was not loaded: {}", f.source, f.reason));
  }
  for (const auto& e : entries_) {
    if (const auto first = shadowed_by(e); !first.empty()) {
      out.push_back(fmt::format("{} {} from {} is shadowed by the one from {}",
                                to_string(e.summary.kind), e.summary.name, e.source, first));
    }
  }
  return out;
}

std::shared_ptr<runner> create_runner(const loaded_module& m, const settings& s) {
  return create<runner>(m, m.descriptor->create_runner, s);
}

std::shared_ptr<sink> create_sink(const loaded_module& m, const settings& s) {
  return create<sink>(m, m.descriptor->create_sink, s);
}

}  // namespace plughost::detail
