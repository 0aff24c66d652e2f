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
  module_summary summary;      ///< kind, name, ABI version; the rest when described
  std::string source;          ///< "built-in" or the .so's path
  std::filesystem::path file;  ///< the .so; empty for a built-in
  /// The module, loaded in this process: its descriptor is null until it is (a built-in always
  /// is; a .so when it is used, module_registry::find()).
  loaded_module loaded;
  bool failed = false;  ///< it was loaded and that failed (module_registry::failures() says why)
};

/// How the registry examines .so files.
enum class module_loading {
  /// Their manifests say what they hold; a .so is loaded into plughost when one of its modules
  /// is used (run, list). One without a full manifest is loaded in a child process to learn.
  on_use,
  /// Each is loaded in a child process, to be described (plughost modules).
  in_child,
};

class module_registry {
 public:
  /// Finds the modules of each folder, in order, then the built-ins (always loaded: they are
  /// part of the program), without loading any .so into this process. A candidate that is not a
  /// regular file is a failure before anything opens it; with `permissions.check`, so is a .so
  /// that fails the owner and mode checks (up to its folder); then a file whose ELF header,
  /// "plughost" section or manifest says it cannot be loaded here. With module_loading::in_child
  /// every module is described (summarize()), and a file whose manifest disagrees with what it
  /// holds is a failure.
  static module_registry load(const std::vector<std::filesystem::path>& folders,
                              const permission_policy& permissions = {},
                              module_loading how = module_loading::on_use);
  /// The built-ins only.
  static module_registry with_builtins() { return load({}); }

  /// The module in use for this kind and name, loaded into this process when it is first asked
  /// for: the first of this kind and name in search order whose file loads (one that fails is a
  /// failure, and the next is used). nullptr when there is none (or, with in_child, for a .so).
  /// Loading changes the registry: call from one thread at a time.
  const loaded_module* find(module_kind kind, std::string_view name) const;
  /// Whether the module in use for this kind and name is loaded already (a built-in always is).
  bool loaded(module_kind kind, std::string_view name) const;
  /// Names of the modules of one kind (nothing is loaded to know them), sorted.
  std::vector<std::string> names(module_kind kind) const;
  /// The same, in search order.
  std::vector<std::string> names_in_search_order(module_kind kind) const;

  /// Everything found, shadowed modules included, in search order.
  const std::vector<module_entry>& entries() const noexcept { return entries_; }
  /// The source of the module of the same kind and name found earlier in the search path, which
  /// is used instead of `e`; empty when `e` is the one in use.
  std::string shadowed_by(const module_entry& e) const;
  /// The files and modules that could not be used, with why.
  const std::vector<module_failure>& failures() const noexcept { return failures_; }
  /// One line per failure, then one per module shadowed by another.
  std::vector<std::string> warnings() const;

 private:
  void examine(const std::filesystem::path& file);
  void load_file(const std::filesystem::path& file) const;
  const module_entry* first_of(module_kind kind, std::string_view name) const;

  module_loading how_ = module_loading::on_use;
  mutable std::vector<module_entry> entries_;  // never grows after load(): find() points into it
  mutable std::vector<module_failure> failures_;
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
