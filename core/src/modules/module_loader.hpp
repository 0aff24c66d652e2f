// Loading runner and sink modules with Boost.DLL: from a .so file, or from the program itself
// (the built-ins). Nothing here throws: every problem becomes a failure naming the file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "plughost/module.hpp"

namespace plughost::detail {

struct loaded_module {
  const module_descriptor* descriptor = nullptr;
  std::string source;  ///< "built-in" or the .so's path
  /// Keeps the code and data behind `descriptor` loaded (a Boost.DLL shared_library). Every
  /// object created from the module holds a copy, so the library outlives all of them.
  std::shared_ptr<void> library;
};

/// What a module is, as a listing shows it: from its descriptor, in this process or in a child
/// (module_probe.hpp).
struct module_summary {
  module_kind kind = module_kind::runner;
  std::string name;
  std::uint32_t abi_version = 0;
  std::string description;
  std::vector<std::string> extensions;  ///< runners: what an instance with default settings claims
  std::string failure;                  ///< runners: why no instance could be created, or empty
  std::string built_with;               ///< describe_build() of its descriptor or manifest
};

struct module_failure {
  std::string source;
  std::string reason;
};

struct load_result {
  std::vector<loaded_module> modules;
  std::vector<module_failure> failures;
};

/// The aliases of the modules in the "plughost" section of a file, sorted, read without loading
/// it; or why there are none.
struct alias_list {
  std::vector<std::string> aliases;
  std::string problem;
};
alias_list module_aliases(const std::filesystem::path& file);

/// "built for module ABI version 2, this plughost has version 1: rebuild it against this
/// plughost"
std::string abi_mismatch(std::uint32_t abi_version);

/// Why a module built as `b` cannot be loaded into this plughost (another C++ standard library,
/// or libstdc++ with the other std::string ABI), or empty.
std::string build_mismatch(const module_build& b);

/// Why a module whose manifest record is `m` cannot be loaded (abi_mismatch, build_mismatch), or
/// empty. Read from the file: nothing of the module runs.
std::string manifest_mismatch(const module_manifest& m);

/// "plughost 0.1.0, gcc 12.2.0, libstdc++ (C++11 ABI)": how a module was built, for listings.
std::string describe_build(const module_build& b);

/// The modules exported by one .so file (every alias in its "plughost" section).
load_result load_module_file(const std::filesystem::path& file);

/// The modules built into the file that holds this code (the program, with -rdynamic).
load_result load_builtin_modules();

/// Every *.so in `folder`, in byte order of their names. A missing folder yields nothing.
std::vector<std::filesystem::path> module_files_in(const std::filesystem::path& folder);

}  // namespace plughost::detail
