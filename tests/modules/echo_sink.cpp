// A sink module for tests, built in several variants by tests/CMakeLists.txt: it appends
// "<plugin> <stream> <text>" lines to `path`, and "destroyed" when it is destroyed (which proves
// its code was still loaded then). ECHO_NAME, ECHO_DESCRIPTION, ECHO_ABI, ECHO_THROW (its factory
// fails), ECHO_FAIL_LINES (every write of a line fails), ECHO_MARK_LOAD (loading the library
// appends "loaded" to the file $PLUGHOST_TEST_LOAD_MARK), ECHO_NOT_CONSTEXPR (a descriptor that
// is only const: no kind or name in its manifest), ECHO_NO_MANIFEST (exported as modules were
// before PLUGHOST_MODULE wrote a manifest) and ECHO_UNRESOLVED (it needs a symbol nothing
// provides: it cannot be loaded) vary it.
#include <cstdlib>
#include <fstream>
#include <stdexcept>

#include "plughost/module.hpp"

#ifndef ECHO_NAME
#define ECHO_NAME "echo"
#endif
#ifndef ECHO_DESCRIPTION
#define ECHO_DESCRIPTION "test sink"
#endif
#ifndef ECHO_ABI
#define ECHO_ABI plughost::module_abi_version
#endif

#ifdef ECHO_UNRESOLVED
extern "C" void plughost_test_symbol_that_does_not_exist();
#endif

namespace {

#ifdef ECHO_MARK_LOAD
// Runs when the library is loaded, before plughost calls anything in it: a test can tell whether
// plughost opened the file at all.
__attribute__((constructor)) void mark_load() {
  if (const char* mark = std::getenv("PLUGHOST_TEST_LOAD_MARK")) {
    std::ofstream(mark, std::ios::app) << "loaded\n";
  }
}
#endif

class echo_sink : public plughost::sink {
 public:
  explicit echo_sink(const std::string& path) : out_(path, std::ios::app) {}
  ~echo_sink() override { out_ << "destroyed\n"; }
  void write(const plughost::record& r) override {
#ifdef ECHO_FAIL_LINES
    if (r.stream != plughost::stream::event) throw std::runtime_error("no space left, on purpose");
#endif
    out_ << r.plugin << ' ' << plughost::to_string(r.stream) << ' '
         << (r.stream == plughost::stream::event ? std::string(r.event) : std::string(r.line))
         << '\n';
  }
  void flush() override {
    out_.flush();
  }

 private:
  std::ofstream out_;
};

std::unique_ptr<plughost::sink> create(const plughost::settings& s) {
#ifdef ECHO_UNRESOLVED
  plughost_test_symbol_that_does_not_exist();
#endif
#ifdef ECHO_THROW
  (void)s;
  throw std::runtime_error("cannot start: misconfigured on purpose");
#else
  return std::make_unique<echo_sink>(s.get_string("path"));
#endif
}

const plughost::setting_spec settings_table[] = {
    {.key = "path", .type = plughost::setting_type::path, .required = true, .shorthand = true},
};

#ifdef ECHO_NOT_CONSTEXPR
const
#else
constexpr
#endif
    plughost::module_descriptor descriptor{
        .abi_version = ECHO_ABI,
        .kind = plughost::module_kind::sink,
        .name = ECHO_NAME,
        .description = ECHO_DESCRIPTION,
        .settings = settings_table,
        .create_sink = &create,
    };

}  // namespace

#ifdef ECHO_NO_MANIFEST
namespace {
const plughost::module_descriptor* entry() {
  return &descriptor;
}
}  // namespace
BOOST_DLL_ALIAS_SECTIONED(entry, plughost_module_echo_sink, plughost)
#else
PLUGHOST_MODULE(echo_sink, descriptor)
#endif
