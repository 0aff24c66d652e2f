// The modules plughost knows, by kind and name, in search-path order. The core finds runners and
// sinks only here, and creates them only through here, so that every object created from a
// module keeps that module's library loaded, and every exception a module throws is caught while
// its library is still loaded.
#pragma once

#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/permissions.hpp"
#include "modules/module_loader.hpp"
#include "plughost/module.hpp"

namespace plughost::detail {

/// A module call failed (threw, or returned nothing). what() is "<module>: <message>".
class module_error : public std::runtime_error {
 public:
  module_error(std::string module, std::string message)
      : std::runtime_error(module + ": " + message),
        module_(std::move(module)),
        message_(std::move(message)) {}
  /// "sink file (/usr/lib/plughost/modules/plughost-sink-file.so)"
  const std::string& module() const noexcept { return module_; }
  const std::string& message() const noexcept { return message_; }

 private:
  std::string module_;
  std::string message_;
};

/// One module found on the search path.
struct module_entry {
  module_summary summary;  ///< kind, name, ABI version, description; more when described
  std::string source;      ///< "built-in" or the .so's path
  /// The source of the module of the same kind and name found earlier in the search path, which
  /// is used instead; empty when this one is in use.
  std::string shadowed_by;
  /// The module, loaded in this process; its descriptor is null when it is not (a .so examined
  /// in a child process only).
  loaded_module loaded;
};

/// How the registry examines .so files.
enum class module_loading {
  in_process,  ///< each is loaded into plughost, for use
  in_child,    ///< each is loaded in a child process, only to be described (plughost modules)
};

class module_registry {
 public:
  /// Examines every module of each folder, in order, then the built-ins (always loaded: they
  /// are part of the program). A module whose kind and name are already known is shadowed: kept
  /// for listing, named in a warning, never used. A candidate that is not a regular file is a
  /// failure before anything opens it; with `permissions.check`, so is a .so that fails the
  /// owner and mode checks (up to its folder): loading a library runs its code. With
  /// module_loading::in_child every module is described (summarize()).
  static module_registry load(const std::vector<std::filesystem::path>& folders,
                              const permission_policy& permissions = {},
                              module_loading how = module_loading::in_process);
  /// The built-ins only.
  static module_registry with_builtins() { return load({}); }

  /// The module in use for this kind and name, loaded in this process, or nullptr.
  const loaded_module* find(module_kind kind, std::string_view name) const;
  /// The modules in use of one kind, loaded in this process, in search order.
  std::vector<const loaded_module*> of_kind(module_kind kind) const;
  /// Names of the modules in use of one kind, sorted.
  std::vector<std::string> names(module_kind kind) const;

  /// Everything found, shadowed modules included, in search order.
  const std::vector<module_entry>& entries() const noexcept { return entries_; }
  const std::vector<module_failure>& failures() const noexcept { return failures_; }
  const std::vector<std::string>& warnings() const noexcept { return warnings_; }

 private:
  void add(module_entry e);
  const module_entry* in_use(module_kind kind, std::string_view name) const;

  std::vector<module_entry> entries_;
  std::vector<module_failure> failures_;
  std::vector<std::string> warnings_;
};

/// Creates a runner or sink from its module. The returned object keeps the module loaded.
/// Throws module_error naming the module when the factory throws or returns nothing.
std::shared_ptr<runner> create_runner(const loaded_module& m, const settings& s);
std::shared_ptr<sink> create_sink(const loaded_module& m, const settings& s);

/// What a listing says of a loaded module; a runner is created once, with its default settings,
/// for its extensions (a failure to create it is `failure`).
module_summary summarize(const loaded_module& m);

/// "runner node (/usr/lib/plughost/modules/plughost-runner-node.so)"
std::string describe(const loaded_module& m);

}  // namespace plughost::detail
