// Boost.DLL module loading: list the aliases in the "plughost" section, load with RTLD_NOW so
// that unresolved symbols fail here, check the ABI version first, keep the library alive.
#include "modules/module_loader.hpp"

#include <dlfcn.h>
#include <fmt/format.h>

#include <algorithm>
#include <boost/dll/library_info.hpp>
#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>

#include "modules/module_file.hpp"

namespace plughost::detail {

namespace {

namespace dll = boost::dll;
constexpr const char* section = "plughost";

std::string describe_descriptor_problem(const module_descriptor& d) {
  if (d.name.empty()) return "the module has no name";
  if (d.kind != module_kind::runner && d.kind != module_kind::sink) return "unknown module kind";
  if (d.kind == module_kind::runner && !d.create_runner) return "the runner has no factory";
  if (d.kind == module_kind::sink && !d.create_sink) return "the sink has no factory";
  return {};
}

alias_list aliases_in(const dll::fs::path& file) {
  alias_list out;
  try {
    dll::library_info info(file);
    out.aliases = info.symbols(section);
  } catch (const std::exception& e) {
    // library_info's own text is unhelpful ("basic_ios::clear: iostream error").
    out.problem = fmt::format(
        "not a shared object this machine can load (cannot read its ELF "
        "sections: {})",
        e.what());
    return out;
  }
  std::erase_if(out.aliases,
                [](const std::string& a) { return a.rfind("plughost_module_", 0) != 0; });
  std::sort(out.aliases.begin(), out.aliases.end());  // a stable order, whatever the symbols'
  if (out.aliases.empty()) {
    out.problem =
        "no plughost module in it: the section 'plughost' with a plughost_module_<id> entry "
        "(PLUGHOST_MODULE) is missing";
  }
  return out;
}

// What to do about a library that needs a newer glibc or C++ runtime than the system has (the
// dynamic loader says only which version it did not find).
std::string version_hint(const std::string& reason) {
  if (reason.find("version `GLIBC_") != std::string::npos) {
    return "; it was built against a newer glibc than this system's: build it on a system "
           "with this glibc or older, or lower what it needs with `python3 -m "
           "plughost_lmcache.glibc_floor` (docs/modules.md, \"Modules for the wheel\")";
  }
  if (reason.find("version `GLIBCXX_") != std::string::npos ||
      reason.find("version `CXXABI_") != std::string::npos) {
    return "; it was built with a newer C++ runtime than this plughost's: build it with GCC 12 "
           "(Debian 12's) or older";
  }
  return {};
}

// The descriptor `alias` gives, checked before anything else in it is used: the ABI version,
// its size, the build, its contents. nullptr, with `problem` saying what is wrong, if unusable.
const module_descriptor* checked_descriptor(dll::shared_library& library, const std::string& alias,
                                            std::string& problem) {
  if (!library.has(alias)) {
    problem = fmt::format("{} is not exported (built without -rdynamic, or hidden?)", alias);
    return nullptr;
  }
  const module_descriptor* d = nullptr;
  try {
    d = library.get_alias<module_entry>(alias)();
  } catch (const std::exception& e) {
    problem = fmt::format("{} failed: {}", alias, e.what());
    return nullptr;
  }
  if (d == nullptr) {
    problem = fmt::format("{} returned no descriptor", alias);
    return nullptr;
  }
  // The ABI version first: with another major version nothing else in it can be trusted.
  if (d->abi_version != module_abi_version) {
    problem = abi_mismatch(d->abi_version);
    return nullptr;
  }
  if (d->size < sizeof(module_descriptor)) {
    problem = fmt::format(
        "{}: its descriptor is {} bytes, this plughost's {}: rebuild it against this plughost",
        alias, d->size, sizeof(module_descriptor));
    return nullptr;
  }
  if (auto mismatch = build_mismatch(d->build); !mismatch.empty()) {
    problem = std::move(mismatch);
    return nullptr;
  }
  if (const auto wrong = describe_descriptor_problem(*d); !wrong.empty()) {
    problem = fmt::format("{}: {}", alias, wrong);
    return nullptr;
  }
  return d;
}

load_result load_from(const dll::fs::path& file, const std::string& source,
                      dll::load_mode::type mode) {
  load_result out;
  auto listed = aliases_in(file);
  if (!listed.problem.empty()) {
    out.failures.push_back({source, std::move(listed.problem)});
    return out;
  }
  auto library = std::make_shared<dll::shared_library>();
  boost::dll::fs::error_code ec;
  library->load(file, mode, ec);
  if (ec) {
    const char* why = ::dlerror();
    const std::string reason = why ? why : ec.message();
    out.failures.push_back(
        {source, fmt::format("cannot be loaded: {}{}", reason, version_hint(reason))});
    return out;
  }
  for (const auto& alias : listed.aliases) {
    std::string problem;
    if (const auto* d = checked_descriptor(*library, alias, problem)) {
      out.modules.push_back({d, source, library});
    } else {
      out.failures.push_back({source, std::move(problem)});
    }
  }
  return out;
}

}  // namespace

alias_list module_aliases(const std::filesystem::path& file) {
  return aliases_in(dll::fs::path(file.string()));
}

std::string abi_mismatch(std::uint32_t abi_version) {
  return fmt::format(
      "built for module ABI version {}, this plughost has version {}: rebuild it "
      "against this plughost",
      abi_version, module_abi_version);
}

std::string build_mismatch(const module_build& b) {
  constexpr auto own = this_module_build();
  if (b.std_library == own.std_library) return {};
  const auto theirs = static_cast<std_library_abi>(b.std_library);
  const auto ours = static_cast<std_library_abi>(own.std_library);
  std::string fix = "rebuild it against this plughost";
  if (ours == std_library_abi::libstdcxx && theirs == std_library_abi::libstdcxx_old) {
    fix = "rebuild it without -D_GLIBCXX_USE_CXX11_ABI=0";
  } else if (ours == std_library_abi::libstdcxx && theirs == std_library_abi::libcxx) {
    fix = "rebuild it without -stdlib=libc++";
  }
  return fmt::format(
      "built against {}, this plughost against {}: std::string and the other standard types "
      "it shares with plughost are laid out differently; {}",
      to_string(theirs), to_string(ours), fix);
}

std::string manifest_mismatch(const module_manifest& m) {
  return m.abi_version != module_abi_version ? abi_mismatch(m.abi_version)
                                             : build_mismatch(m.build);
}

std::string describe_build(const module_build& b) {
  const auto text = [](const auto& field) {
    std::string_view all(field, sizeof field);
    all = all.substr(0, std::min(all.find('\0'), all.size()));
    return all.substr(0, all.find_last_not_of(' ') + 1);  // clang's version ends with a space
  };
  return fmt::format("plughost {}, {}, {}", text(b.plughost),
                     text(b.compiler).empty() ? "unknown compiler" : text(b.compiler),
                     to_string(static_cast<std_library_abi>(b.std_library)));
}

load_result load_module_file(const std::filesystem::path& file) {
  auto problem = elf_problem(file);
  if (problem.empty()) {
    // Before loading: a module built against another ABI would fail with a missing symbol,
    // which says nothing about why.
    auto manifest = read_manifest(file);
    for (const auto& m : manifest.records) {
      if (!problem.empty()) break;
      problem = manifest_mismatch(m);
    }
  }
  if (!problem.empty()) {
    load_result out;
    out.failures.push_back({file.string(), std::move(problem)});
    return out;
  }
  // RTLD_NOW: an unresolved symbol is an error now, not a crash at the first call.
  return load_from(dll::fs::path(file.string()), file.string(),
                   dll::load_mode::rtld_now | dll::load_mode::rtld_local);
}

load_result load_builtin_modules() {
  boost::dll::fs::error_code ec;
  const auto self = dll::this_line_location(ec);
  if (ec) {
    load_result out;
    out.failures.push_back({"built-in", "cannot find libplughost's own file: " + ec.message()});
    return out;
  }
  // Global: a .so module leaves the module API unresolved and takes it from libplughost, which a
  // program that opened it with dlopen (Python's ctypes does) may have loaded RTLD_LOCAL.
  auto out = load_from(self, "built-in", dll::load_mode::rtld_lazy | dll::load_mode::rtld_global);
  for (auto& f : out.failures) f.reason += fmt::format(" (in {})", self.string());
  return out;
}

std::vector<std::filesystem::path> module_files_in(const std::filesystem::path& folder) {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(folder, ec), end; !ec && it != end;
       it.increment(ec)) {
    const auto& p = it->path();
    if (p.extension() == ".so" && p.filename().string()[0] != '.') out.push_back(p);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace plughost::detail
