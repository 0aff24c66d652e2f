// What a runner or sink module declares: one descriptor with its kind, name, settings table and
// factory. The core validates a module's settings against its table before calling create.
#pragma once

#include <boost/dll/alias.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "plughost/module_kind.hpp"
#include "plughost/runner.hpp"
#include "plughost/sink.hpp"
#include "plughost/version.hpp"

// Everything this header declares is part of libplughost's interface (docs/embedding.md).
#pragma GCC visibility push(default)

namespace plughost {

/// The module ABI's major version: bumped when the descriptor, the settings class, the record
/// type or the runner/sink interfaces change incompatibly. A module built against another major
/// version is refused (it is compiled against other class layouts). A test ties the layouts that
/// cross the boundary to this number (tests/core/modules/abi_layout_test.cpp).
inline constexpr std::uint32_t module_abi_version = 2;

/// The C++ standard library a module (or plughost) was compiled against: std::string, std::vector
/// and the rest cross the boundary, so both sides must agree on their layout.
enum class std_library_abi : std::uint32_t {
  unknown = 0,
  libstdcxx = 1,  ///< GCC's libstdc++, the C++11 std::string (_GLIBCXX_USE_CXX11_ABI=1)
  libstdcxx_old =
      2,       ///< libstdc++ with its old copy-on-write std::string (_GLIBCXX_USE_CXX11_ABI=0)
  libcxx = 3,  ///< LLVM's libc++
};

/// How a module was built, as its own compilation saw it (the macros are read where the module's
/// descriptor or manifest is compiled, not in plughost). Plain bytes: read before anything else
/// of the module is trusted, from the file or from the loaded descriptor.
struct module_build {
  std::uint32_t std_library;  ///< a std_library_abi
  std::uint32_t gxx_abi;      ///< __GXX_ABI_VERSION (the Itanium C++ ABI revision), 0: none
  char compiler[32];          ///< "gcc 12.2.0", "clang 14.0.6"; NUL-padded, maybe cut short
  char plughost[16];          ///< the plughost headers' version, "0.1.0"; NUL-padded
};
static_assert(std::is_trivial_v<module_build>);  // read from files as bytes
static_assert(sizeof(module_build) == 56);

/// "libstdc++ (C++11 ABI)", "libstdc++ (old ABI, _GLIBCXX_USE_CXX11_ABI=0)", "libc++", "unknown".
std::string_view to_string(std_library_abi abi) noexcept;

namespace detail {
constexpr std_library_abi this_std_library() {
#if defined(_LIBCPP_VERSION)
  return std_library_abi::libcxx;
#elif defined(__GLIBCXX__) && defined(_GLIBCXX_USE_CXX11_ABI) && _GLIBCXX_USE_CXX11_ABI
  return std_library_abi::libstdcxx;
#elif defined(__GLIBCXX__)
  return std_library_abi::libstdcxx_old;
#else
  return std_library_abi::unknown;
#endif
}

template <std::size_t N>
constexpr void copy_cut(char (&to)[N], std::string_view from) {
  for (std::size_t i = 0; i + 1 < N && i < from.size(); ++i) to[i] = from[i];
}
}  // namespace detail

/// The module_build of the code that evaluates it: each module's own.
constexpr module_build this_module_build() {
  module_build b{};
  b.std_library = static_cast<std::uint32_t>(detail::this_std_library());
#ifdef __GXX_ABI_VERSION
  b.gxx_abi = __GXX_ABI_VERSION;
#endif
#if defined(__clang__)
  detail::copy_cut(b.compiler, "clang " __clang_version__);
#elif defined(__GNUC__)
  detail::copy_cut(b.compiler, "gcc " __VERSION__);
#endif
  detail::copy_cut(b.plughost, PLUGHOST_VERSION_STRING);
  return b;
}

/// The type of one setting; the core parses and checks values before a module sees them.
enum class setting_type {
  string,
  boolean,
  integer,
  number,
  duration,     ///< seconds (0.5) or a string with a unit (500ms, 2s, 1m, 1h)
  size,         ///< bytes (65536) or a string with a unit (64KiB, 10MiB)
  path,         ///< made absolute against the folder of the file that set it; "-" kept as is
  string_list,  ///< a list of strings (a single string is not accepted)
  choice,       ///< one of the '|'-separated words in setting_spec::choices
  count,        ///< a whole number, 0 or more (restarts, files to keep)
};

/// One row of a module's settings table.
struct setting_spec {
  std::string_view key;
  setting_type type = setting_type::string;
  std::string_view default_value;  ///< parsed like a configured value; empty: no default
  std::string_view description;
  bool required = false;
  /// The setting the short form "name:VALUE" (e.g. --sink jsonl:PATH) fills in.
  bool shorthand = false;
  std::string_view choices;  ///< for setting_type::choice: "auto|always|never"
};

/// The validated settings of one module instance: every key of the table that has a value
/// (configured or default). Getters throw std::logic_error when the key is missing or holds
/// another type, which is a bug in the module's table, not a user error.
class BOOST_SYMBOL_VISIBLE settings {
 public:
  using value = std::variant<bool, std::int64_t, double, std::string, std::vector<std::string>,
                             std::chrono::nanoseconds>;

  bool has(std::string_view key) const;
  bool get_bool(std::string_view key) const;
  std::int64_t get_integer(std::string_view key) const;  ///< integer and size (bytes)
  double get_number(std::string_view key) const;
  const std::string& get_string(std::string_view key) const;  ///< string, path, choice
  const std::vector<std::string>& get_string_list(std::string_view key) const;
  std::chrono::nanoseconds get_duration(std::string_view key) const;

  void set(std::string key, value v);
  const std::map<std::string, value, std::less<>>& values() const noexcept { return values_; }
  bool operator==(const settings&) const = default;

 private:
  const value& at(std::string_view key) const;
  std::map<std::string, value, std::less<>> values_;
};

using runner_factory = std::unique_ptr<runner> (*)(const settings&);
using sink_factory = std::unique_ptr<sink> (*)(const settings&);

/// One per module. All pointers refer to static data of the module, valid while it is loaded.
/// The entry point returns a pointer to it; the loader reads abi_version, the first member,
/// before any other, and refuses the module when it differs from module_abi_version; then
/// `size` and `build` (the C++ standard library it was compiled against must be plughost's).
/// Leave the first three at their defaults: they describe the module's own compilation.
struct module_descriptor {
  std::uint32_t abi_version = module_abi_version;  ///< checked before anything else
  std::uint32_t size = sizeof(module_descriptor);  ///< later minor versions may append members
  module_build build = this_module_build();
  module_kind kind = module_kind::runner;
  std::string_view name;  ///< what the configuration calls it: "python", "jsonl"
  std::string_view description;
  std::span<const setting_spec> settings;
  runner_factory create_runner = nullptr;  ///< set when kind == runner
  sink_factory create_sink = nullptr;      ///< set when kind == sink
};

/// The signature of a module's entry point (what PLUGHOST_MODULE exports).
using module_entry = const module_descriptor*();

/// What PLUGHOST_MODULE writes about a module into the ELF section "plughost.manifest", as plain
/// bytes: plughost reads a module's kind, name and build from the file without loading it
/// (loading runs its code, and a module built against another ABI fails to load with a message
/// about a symbol), and loads only the modules a configuration uses. `magic` and `abi_version`
/// come first and keep their places in every ABI version (version 1 records were 64 bytes).
struct alignas(64) module_manifest {
  static constexpr std::uint32_t unknown_kind = 0xffffffff;
  char magic[8];  ///< "plughost", not NUL-terminated
  std::uint32_t abi_version;
  std::uint32_t kind;  ///< a module_kind; unknown_kind when the descriptor is not constexpr
  char name[48];       ///< NUL-padded
  module_build build;  ///< how the module was built (never depends on the descriptor)
  std::uint32_t descriptor_size;
  char reserved[4];
};
static_assert(sizeof(module_manifest) == 128);

inline constexpr char module_manifest_section[] = "plughost.manifest";

namespace detail {

// Whether D can be read at compile time (it is constexpr).
template <const module_descriptor& D, typename = void>
struct is_constant_descriptor : std::false_type {};
template <const module_descriptor& D>
struct is_constant_descriptor<D, std::void_t<std::integral_constant<std::size_t, D.name.size()>>>
    : std::true_type {};

template <bool constant>
struct descriptor_check {};
template <>
struct [[deprecated(
    "declare the module's descriptor constexpr: PLUGHOST_MODULE then records its kind and name "
    "in the file, and plughost need not load the module to learn them")]] descriptor_check<false>{};

template <const module_descriptor& D>
consteval module_manifest manifest_of() {
  module_manifest m{{'p', 'l', 'u', 'g', 'h', 'o', 's', 't'},
                    module_abi_version,
                    module_manifest::unknown_kind,
                    {},
                    this_module_build(),
                    sizeof(module_descriptor),
                    {}};
  if constexpr (is_constant_descriptor<D>::value) {
    static_assert(D.name.size() < sizeof m.name, "a module's name is at most 47 bytes");
    m.abi_version = D.abi_version;
    m.kind = static_cast<std::uint32_t>(D.kind);
    for (std::size_t i = 0; i < D.name.size(); ++i) m.name[i] = D.name[i];
  }
  return m;
}

}  // namespace detail

}  // namespace plughost

/// Exports a module's descriptor, declared constexpr, from its module.cpp, at namespace scope:
///   PLUGHOST_MODULE(node_runner, descriptor)
/// The descriptor is reached through the alias plughost_module_<id>, placed in the ELF section
/// "plughost" (Boost.DLL), where the loader lists the modules of a .so or of the program itself;
/// its kind and name are written into the section "plughost.manifest" (module_manifest). A
/// descriptor that is not constexpr still works, with a deprecation warning: plughost then loads
/// the module in a child process to learn its kind and name. `id` must be unique among the
/// modules linked into one file.
#define PLUGHOST_MODULE(id, descriptor)                                               \
  namespace {                                                                         \
  const ::plughost::module_descriptor* plughost_module_entry_##id() {                 \
    return &(descriptor);                                                             \
  }                                                                                   \
  [[maybe_unused]] constexpr ::plughost::detail::descriptor_check<                    \
      ::plughost::detail::is_constant_descriptor<descriptor>::value>                  \
      plughost_module_check_##id{};                                                   \
  [[gnu::section("plughost.manifest"),                                                \
    gnu::used]] constexpr ::plughost::module_manifest plughost_module_manifest_##id = \
      ::plughost::detail::manifest_of<descriptor>();                                  \
  }                                                                                   \
  BOOST_DLL_ALIAS_SECTIONED(plughost_module_entry_##id, plughost_module_##id, plughost)

#pragma GCC visibility pop
