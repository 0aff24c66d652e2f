// Candidate module files examined without loading them: what is not a regular file, what is not
// ELF, and what was built for another machine.
#include "modules/module_file.hpp"

#include <elf.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <fstream>

#include "modules/module_loader.hpp"
#include "test_support.hpp"

namespace plughost::detail {
namespace {

using test::temp_dir;
namespace fs = std::filesystem;

TEST(module_file, only_regular_files_are_candidates_and_stat_alone_says_so) {
  temp_dir dir;
  const auto regular = dir.write("regular.so", "x");
  fs::create_directory(dir.path() / "folder.so");
  ASSERT_EQ(::mkfifo((dir.path() / "fifo.so").c_str(), 0600), 0);
  fs::create_symlink("loop.so", dir.path() / "loop.so");
  fs::create_symlink("missing", dir.path() / "broken.so");
  fs::create_symlink("/dev/null", dir.path() / "device.so");
  fs::create_symlink("regular.so", dir.path() / "link.so");

  EXPECT_EQ(not_a_regular_file(regular), "");
  EXPECT_EQ(not_a_regular_file(dir.path() / "link.so"), "");
  EXPECT_EQ(not_a_regular_file(dir.path() / "folder.so"), "not a regular file (a folder)");
  EXPECT_EQ(not_a_regular_file(dir.path() / "fifo.so"), "not a regular file (a FIFO)");
  EXPECT_EQ(not_a_regular_file(dir.path() / "loop.so"), "a symbolic link loop");
  EXPECT_EQ(not_a_regular_file(dir.path() / "broken.so"), "a broken symbolic link");
  EXPECT_EQ(not_a_regular_file(dir.path() / "device.so"),
            "not a regular file (a character device)");
  EXPECT_EQ(not_a_regular_file(dir.path() / "none.so"),
            "cannot be examined: No such file or directory");

  // Opened for its header, a FIFO (put there after the stat, say) is refused, not waited on.
  EXPECT_EQ(elf_problem(dir.path() / "fifo.so"), "not a regular file (a FIFO)");
  EXPECT_EQ(elf_problem(dir.path() / "folder.so"), "not a regular file (a folder)");
}

// An ELF header: magic, class, byte order, version, then e_type and e_machine (little-endian
// unless `msb`), zeros after.
std::string elf_header(unsigned char elf_class, unsigned machine, bool msb = false) {
  std::string h(64, '\0');
  h.replace(0, 4,
            "\x7f"
            "ELF");
  h[EI_CLASS] = static_cast<char>(elf_class);
  h[EI_DATA] = static_cast<char>(msb ? ELFDATA2MSB : ELFDATA2LSB);
  h[EI_VERSION] = EV_CURRENT;
  const unsigned type = ET_DYN;
  h[msb ? 17 : 16] = static_cast<char>(type);
  h[msb ? 18 : 19] = static_cast<char>(machine >> 8);
  h[msb ? 19 : 18] = static_cast<char>(machine & 0xff);
  return h;
}

struct header_case {
  std::string name;
  std::string content;
  std::string problem;
};

void PrintTo(const header_case& c, std::ostream* os) {
  *os << c.name;
}

class module_file_header : public ::testing::TestWithParam<header_case> {};

TEST_P(module_file_header, is_judged_before_anything_loads_it) {
#if !defined(__x86_64__) || !defined(__LP64__)
  GTEST_SKIP() << "the expected messages name x86-64 as this plughost's machine";
#endif
  temp_dir dir;
  const auto file = dir.write("m.so", GetParam().content);
  EXPECT_EQ(elf_problem(file), GetParam().problem);
}

INSTANTIATE_TEST_SUITE_P(
    cases, module_file_header,
    ::testing::Values(header_case{"this_machine", elf_header(ELFCLASS64, EM_X86_64), ""},
                      header_case{"aarch64", elf_header(ELFCLASS64, EM_AARCH64),
                                  "built for aarch64, this plughost is x86-64"},
                      header_case{"i386", elf_header(ELFCLASS32, EM_386),
                                  "built for i386, this plughost is x86-64"},
                      header_case{"x32", elf_header(ELFCLASS32, EM_X86_64),
                                  "built for x86-64 (32-bit), this plughost is x86-64"},
                      header_case{"big_endian", elf_header(ELFCLASS64, EM_X86_64, true),
                                  "built for x86-64 (big-endian), this plughost is x86-64"},
                      header_case{"s390x", elf_header(ELFCLASS64, EM_S390, true),
                                  "built for s390, this plughost is x86-64"},
                      header_case{"unknown", elf_header(ELFCLASS64, 0x4242),
                                  "built for ELF machine 16962, this plughost is x86-64"},
                      header_case{"text", "this is not a shared object\n",
                                  "not a shared object (no ELF header)"},
                      header_case{"empty", "", "not a shared object (no ELF header)"},
                      header_case{"cut_short",
                                  "\x7f"
                                  "ELF\x02\x01",
                                  "not a shared object (its ELF header is cut short)"}),
    [](const auto& test_case) { return test_case.param.name; });

const fs::path test_modules = test::folder_from_environment("PLUGHOST_TEST_MODULES");

std::string kind_and_name(const module_manifest& m) {
  return fmt::format("{} {} (ABI {})", m.kind, m.name, m.abi_version);
}

TEST(module_file, the_manifest_says_what_a_module_file_holds_without_loading_it) {
  auto read = read_manifest(test_modules / "first" / "echo_first.so");
  EXPECT_EQ(read.problem, "");
  ASSERT_EQ(read.records.size(), 1u);
  EXPECT_EQ(kind_and_name(read.records[0]), "1 echo (ABI 2)");  // 1: module_kind::sink
  // How it was built, as its own compilation saw it.
  EXPECT_EQ(read.records[0].build.std_library,
            static_cast<std::uint32_t>(std_library_abi::libstdcxx));
  EXPECT_EQ(std::string(read.records[0].build.plughost), PLUGHOST_VERSION_STRING);
  EXPECT_EQ(read.records[0].descriptor_size, sizeof(module_descriptor));

  read = read_manifest(test_modules / "old_abi" / "old_string_abi.so");
  ASSERT_EQ(read.records.size(), 1u);
  EXPECT_EQ(read.records[0].build.std_library,
            static_cast<std::uint32_t>(std_library_abi::libstdcxx_old));

  read = read_manifest(test_modules / "broken" / "wrong_abi.so");
  ASSERT_EQ(read.records.size(), 1u);
  EXPECT_EQ(read.records[0].abi_version, 999u);

  // Built as before manifests, and with a descriptor that is only const.
  EXPECT_TRUE(read_manifest(test_modules / "legacy" / "no_manifest.so").records.empty());
  read = read_manifest(test_modules / "legacy" / "not_constexpr.so");
  ASSERT_EQ(read.records.size(), 1u);
  EXPECT_EQ(read.records[0].kind, module_manifest::unknown_kind);
  EXPECT_EQ(read.records[0].name[0], '\0');
}

// A copy of a real module in `dir` with one byte of its manifest changed: `offset` from the
// start of the first record.
fs::path with_manifest_byte(const temp_dir& dir, std::size_t offset, char value) {
  const auto file = dir.path() / "m.so";
  fs::copy_file(test_modules / "first" / "echo_first.so", file);
  auto bytes = test::read_file(file);
  const auto at = bytes.find(std::string("plughost\x02\0\0\0", 12));
  if (at == std::string::npos) throw std::runtime_error("no manifest in echo_first.so");
  bytes[at + offset] = value;
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
  return file;
}

TEST(module_file, a_manifest_that_is_not_what_plughost_module_writes_is_a_problem) {
  temp_dir dir;
  const auto read = read_manifest(with_manifest_byte(dir, 0, 'P'));
  EXPECT_EQ(read.problem, "its section plughost.manifest is not what PLUGHOST_MODULE writes");
  EXPECT_TRUE(read.records.empty());
}

TEST(module_file, a_manifest_naming_an_unknown_kind_is_a_problem) {
  temp_dir dir;
  const auto read = read_manifest(with_manifest_byte(dir, 12, '\x09'));  // kind: 9
  EXPECT_EQ(read.problem,
            "its section plughost.manifest names an unknown module kind (9) for echo");
  EXPECT_TRUE(read.records.empty());
}

TEST(module_file, a_manifest_section_cut_short_is_a_damaged_file) {
  // The section replaced by the first 100 bytes of its record (objcopy rewrites the headers).
  temp_dir dir;
  const auto file = dir.path() / "m.so";
  fs::copy_file(test_modules / "first" / "echo_first.so", file);
  const auto bytes = test::read_file(file);
  const auto at = bytes.find(std::string("plughost\x02\0\0\0", 12));
  ASSERT_NE(at, std::string::npos);
  dir.write("cut", bytes.substr(at, 100));
  test::child_process objcopy(
      {{"/usr/bin/objcopy", "--update-section",
        "plughost.manifest=" + (dir.path() / "cut").string(), file.string()},
       test::clean_environment(),
       dir.path() / "objcopy.out",
       dir.path() / "objcopy.out",
       {},
       {}});
  const auto status = objcopy.wait_for(std::chrono::seconds(60));
  ASSERT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << test::read_file(dir.path() / "objcopy.out");
  const auto read = read_manifest(file);
  EXPECT_EQ(read.problem,
            "its section plughost.manifest is 100 bytes, not a whole number of 128-byte records: "
            "the file is damaged");
  EXPECT_TRUE(read.records.empty());
}

TEST(module_file, a_manifest_of_another_abi_version_is_read_as_far_as_its_version) {
  // Its records may have another size: the version of the first is what refuses it.
  temp_dir dir;
  const auto read = read_manifest(with_manifest_byte(dir, 8, '\x01'));
  EXPECT_EQ(read.problem, "");
  ASSERT_EQ(read.records.size(), 1u);
  EXPECT_EQ(read.records[0].abi_version, 1u);
}

TEST(module_file, how_a_module_was_built_reads_without_padding) {
  module_build b{};
  b.std_library = static_cast<std::uint32_t>(std_library_abi::libstdcxx);
  copy_cut(b.compiler, "clang 14.0.6 ");  // as __clang_version__ spells it
  copy_cut(b.plughost, "0.1.0");
  EXPECT_EQ(describe_build(b), "plughost 0.1.0, clang 14.0.6, libstdc++ (C++11 ABI)");
}

}  // namespace
}  // namespace plughost::detail
