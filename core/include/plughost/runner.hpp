// The runner interface: decides which files a plugin language claims and how to run them.
// A runner never starts a process; the core does.
#pragma once

#include <boost/config.hpp>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

// Everything this header declares is part of libplughost's interface (docs/embedding.md).
#pragma GCC visibility push(default)

namespace plughost {

/// The interpreter the core chose for a plugin: the shebang's, or the configured or default
/// interpreter of the runner.
struct interpreter_choice {
  std::string program;  ///< absolute path, or as written in the shebang
  /// The shebang's one optional argument, or the runner's configured `args`.
  std::vector<std::string> arguments;
};

/// Threading: the core calls a runner from one thread at a time. All methods are const and
/// must not have side effects. Methods may throw std::exception; the core turns that into an
/// error for the one plugin concerned.
class BOOST_SYMBOL_VISIBLE runner {
 public:
  virtual ~runner() = default;

  /// The file extensions this runner claims, with their dot (".py"). Case-sensitive.
  virtual std::vector<std::string> extensions() const = 0;

  /// Whether this runner runs the file. The default claims the file when its extension is one
  /// of extensions().
  virtual bool claims(const std::filesystem::path& file) const;

  /// Interpreters to try, in order, when the file has no usable shebang. A name without a
  /// slash is looked up on PATH.
  virtual std::vector<std::string> default_interpreters() const = 0;

  /// The argv that runs `plugin` with `chosen`. The default is [program, arguments..., plugin],
  /// as Linux runs a script with a shebang.
  virtual std::vector<std::string> command(const interpreter_choice& chosen,
                                           const std::filesystem::path& plugin) const;

  /// Variables this runner adds to the plugin's environment (after the core's own).
  virtual std::vector<std::pair<std::string, std::string>> environment(
      const std::filesystem::path& plugin) const;
};

/// A runner defined entirely by its extensions and default interpreters: what most plugin
/// languages need.
class BOOST_SYMBOL_VISIBLE script_runner : public runner {
 public:
  script_runner(std::vector<std::string> extensions, std::vector<std::string> interpreters);

  std::vector<std::string> extensions() const override { return extensions_; }
  std::vector<std::string> default_interpreters() const override { return interpreters_; }

 private:
  std::vector<std::string> extensions_;
  std::vector<std::string> interpreters_;
};

}  // namespace plughost

#pragma GCC visibility pop
