// The module ABI: the layouts of what crosses the boundary between plughost and a module, and the
// virtual functions of the interfaces, tied to module_abi_version. A change to any of them fails
// this test until module_abi_version is bumped and the new fingerprint recorded below: a module
// built against the old layouts would otherwise load and then misread them.
#include <gtest/gtest.h>

#include <cctype>
#include <cstdint>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "plughost/module.hpp"
#include "plughost/sink_helpers.hpp"
#include "test_support.hpp"

namespace plughost {
namespace {

class layout_writer {
 public:
  template <typename T>
  layout_writer& type(const char* name) {
    out_ << name << " size " << sizeof(T) << " align " << alignof(T) << "\n";
    return *this;
  }
  // A member's offset and size, from an object (offsetof is not defined for every type here).
  template <typename T, typename M>
  layout_writer& member(const char* name, M T::*m) {
    static const T object{};
    const auto at =
        reinterpret_cast<const char*>(&(object.*m)) - reinterpret_cast<const char*>(&object);
    out_ << "  " << name << " at " << at << " size " << sizeof(M) << "\n";
    return *this;
  }
  std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
};

std::string data_layouts() {
  layout_writer w;
  w.type<module_descriptor>("module_descriptor")
      .member("abi_version", &module_descriptor::abi_version)
      .member("size", &module_descriptor::size)
      .member("build", &module_descriptor::build)
      .member("kind", &module_descriptor::kind)
      .member("name", &module_descriptor::name)
      .member("description", &module_descriptor::description)
      .member("settings", &module_descriptor::settings)
      .member("create_runner", &module_descriptor::create_runner)
      .member("create_sink", &module_descriptor::create_sink);
  w.type<module_build>("module_build")
      .member("std_library", &module_build::std_library)
      .member("gxx_abi", &module_build::gxx_abi)
      .member("compiler", &module_build::compiler)
      .member("plughost", &module_build::plughost);
  w.type<module_manifest>("module_manifest")
      .member("abi_version", &module_manifest::abi_version)
      .member("kind", &module_manifest::kind)
      .member("name", &module_manifest::name)
      .member("build", &module_manifest::build)
      .member("descriptor_size", &module_manifest::descriptor_size);
  w.type<setting_spec>("setting_spec")
      .member("key", &setting_spec::key)
      .member("type", &setting_spec::type)
      .member("default_value", &setting_spec::default_value)
      .member("description", &setting_spec::description)
      .member("required", &setting_spec::required)
      .member("shorthand", &setting_spec::shorthand)
      .member("choices", &setting_spec::choices);
  w.type<settings>("settings").type<settings::value>("settings::value");
  w.type<record>("record")
      .member("time", &record::time)
      .member("plugin", &record::plugin)
      .member("pid", &record::pid)
      .member("stream", &record::stream)
      .member("line", &record::line)
      .member("partial", &record::partial)
      .member("event", &record::event)
      .member("fields", &record::fields);
  w.type<event_field>("event_field")
      .member("key", &event_field::key)
      .member("value", &event_field::value);
  w.type<interpreter_choice>("interpreter_choice")
      .member("program", &interpreter_choice::program)
      .member("arguments", &interpreter_choice::arguments);
  w.type<batch_tracker>("batch_tracker").type<record_buffer>("record_buffer");
  w.type<sink_error>("sink_error").type<script_runner>("script_runner");
  return w.text();
}

// `text` with only the spaces that separate two words: how a declaration is wrapped is not the
// ABI.
std::string tight(const std::string& text) {
  const auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == ' ' && !(i > 0 && i + 1 < text.size() && word(text[i - 1]) && word(text[i + 1])))
      continue;
    out += text[i];
  }
  return out;
}

// The declarations of the interfaces' virtual functions, in order: their order is the vtable's.
std::string virtual_functions(const char* header) {
  const auto path = test::folder_from_environment("PLUGHOST_SOURCE_DIR") / "core" / "include" /
                    "plughost" / header;
  std::ifstream in(path);
  std::ostringstream out;
  out << header << " virtual functions:\n";
  std::string declaration;
  bool in_virtual = false;
  for (std::string line; std::getline(in, line);) {
    const auto code = line.substr(0, line.find("//"));
    if (code.find("virtual ") != std::string::npos) in_virtual = true;
    if (!in_virtual) continue;
    for (const char c : code) {  // whitespace folded: formatting is not the ABI
      if (c == ' ' || c == '\t') {
        if (!declaration.empty() && declaration.back() != ' ') declaration += ' ';
      } else {
        declaration += c;
      }
    }
    if (code.find(';') != std::string::npos || code.find('{') != std::string::npos) {
      out << "  " << tight(declaration) << "\n";
      declaration.clear();
      in_virtual = false;
    } else if (!declaration.empty() && declaration.back() != ' ') {
      declaration += ' ';
    }
  }
  return out.str();
}

std::uint64_t fnv1a(const std::string& text) {
  std::uint64_t h = 14695981039346656037ull;
  for (const unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  return h;
}

TEST(abi_layout, what_crosses_the_module_boundary_is_tied_to_the_abi_version) {
  const auto layout =
      data_layouts() + virtual_functions("runner.hpp") + virtual_functions("sink.hpp");
  // One entry per ABI version: add one (and bump module_abi_version) when this fails.
  const std::map<std::uint32_t, std::uint64_t> recorded = {
      {2, 0x47d9865980147e58ull},
  };
  const auto it = recorded.find(module_abi_version);
  ASSERT_NE(it, recorded.end()) << "no fingerprint recorded for module ABI version "
                                << module_abi_version;
  EXPECT_EQ(fnv1a(layout), it->second)
      << "the module ABI changed: bump module_abi_version in plughost/module.hpp and record 0x"
      << std::hex << fnv1a(layout) << std::dec << " for it here. The layout now:\n"
      << layout;
}

TEST(abi_layout, the_virtual_functions_are_read_from_the_headers) {
  // The fingerprint would not notice an interface change if it read nothing.
  const auto runner = virtual_functions("runner.hpp");
  EXPECT_NE(runner.find("virtual std::vector<std::string>extensions()const=0;"), std::string::npos)
      << runner;
  const auto sink = virtual_functions("sink.hpp");
  EXPECT_NE(sink.find("virtual void write(const record&r)=0;"), std::string::npos) << sink;
}

}  // namespace
}  // namespace plughost
