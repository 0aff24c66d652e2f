// Shebang parsing as Linux does it, and interpreter fallback with real files and a real PATH.
#include "plan/interpreter.hpp"

#include <gtest/gtest.h>

#include "python/python_runner.hpp"
#include "test_support.hpp"

namespace plughost::detail {
namespace {

using test::temp_dir;
namespace fs = std::filesystem;

struct shebang_case {
  std::string head;
  std::optional<shebang> expected;
};

void PrintTo(const shebang_case& c, std::ostream* os) {
  *os << ::testing::PrintToString(c.head);
}

class shebang_parsing : public ::testing::TestWithParam<shebang_case> {};

TEST_P(shebang_parsing, reads_like_the_kernel) {
  EXPECT_EQ(parse_shebang(GetParam().head), GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(
    cases, shebang_parsing,
    ::testing::Values(shebang_case{"#!/bin/bash\necho hi\n", shebang{"/bin/bash", {}}},
                      shebang_case{"#! /bin/bash\n", shebang{"/bin/bash", {}}},
                      shebang_case{"#!/usr/bin/env python3\n", shebang{"/usr/bin/env", "python3"}},
                      // The rest of the line is one argument, as Linux passes it: env -S splits it.
                      shebang_case{"#!/usr/bin/env -S python3 -u\n",
                                   shebang{"/usr/bin/env", "-S python3 -u"}},
                      shebang_case{"#!/opt/venv/bin/python\n", shebang{"/opt/venv/bin/python", {}}},
                      shebang_case{"#!/bin/sh  -e  \n", shebang{"/bin/sh", "-e"}},
                      shebang_case{"#!\t/bin/sh\t-x\t\n", shebang{"/bin/sh", "-x"}},
                      shebang_case{"#!/bin/bash", shebang{"/bin/bash", {}}},
                      shebang_case{std::string("#!/bin/sh\0junk\n", 15), shebang{"/bin/sh", {}}},
                      // Linux keeps a carriage return: such an interpreter does not exist.
                      shebang_case{"#!/bin/bash\r\n", shebang{"/bin/bash\r", {}}},
                      shebang_case{"#!\n", std::nullopt}, shebang_case{"#!   \n", std::nullopt},
                      shebang_case{"print('no shebang')\n", std::nullopt},
                      shebang_case{" #!/bin/bash\n", std::nullopt}, shebang_case{"", std::nullopt},
                      shebang_case{"#", std::nullopt}));

TEST(shebang_parsing, argument_is_cut_at_256_bytes) {
  // The kernel overwrites the last of its 256 bytes: "#!/bin/echo " + 300 × 'a' echoes 243.
  const std::string head = "#!/bin/sh " + std::string(300, 'a');
  const auto sb = parse_shebang(head);
  ASSERT_TRUE(sb);
  EXPECT_EQ(sb->interpreter, "/bin/sh");
  EXPECT_EQ(sb->argument, std::string(shebang_limit - 11, 'a'));
}

// Without a newline, or with a NUL before it, the kernel keeps the blanks that end the line and
// may pass an empty argument. Found by tests/fuzz/shebang_fuzzer (whose model of the kernel agreed
// with Linux 6.1 on 7,000 scripts actually run); each case here was run as a script too.
TEST(shebang_parsing, a_line_ended_by_a_nul_or_the_file_keeps_its_blanks) {
  const auto parse = [](std::string_view head) { return parse_shebang(head); };
  EXPECT_EQ(parse("#!/bin/sh -e "), (shebang{"/bin/sh", "-e "}));
  EXPECT_EQ(parse("#!/bin/sh "), (shebang{"/bin/sh", ""}));
  EXPECT_EQ(parse(std::string("#!/bin/sh -e \0x\n", 16)), (shebang{"/bin/sh", "-e "}));
  EXPECT_EQ(parse(std::string("#!/bin/sh \0x\n", 13)), (shebang{"/bin/sh", ""}));
  EXPECT_EQ(parse(std::string("#!\0/bin/sh\n", 11)), std::nullopt);
  // A newline after a NUL is not seen: the line ends at the 256 bytes, less the last.
  EXPECT_EQ(parse(std::string("#!/bin/sh a\0\n", 13) + std::string(300, 'b')),
            (shebang{"/bin/sh", "a"}));
}

TEST(shebang_parsing, a_nul_ends_the_interpreter_name_in_time) {
  // 256 bytes without a newline, the name ended by a NUL: complete, not cut short.
  bool truncated = true;
  const auto head = "#!/" + std::string(100, 'n') + std::string(1, '\0') + std::string(200, 'x');
  EXPECT_EQ(parse_shebang(head, &truncated), (shebang{"/" + std::string(100, 'n'), {}}));
  EXPECT_FALSE(truncated);
  // A blank as the very last of the 256 bytes ends it in time too.
  const auto last = "#!/" + std::string(shebang_limit - 4, 'n') + " ";
  EXPECT_EQ(parse_shebang(last + "more", &truncated),
            (shebang{"/" + std::string(shebang_limit - 4, 'n'), {}}));
  EXPECT_FALSE(truncated);
}

TEST(shebang_parsing, interpreter_longer_than_256_bytes_is_refused) {
  bool truncated = false;
  EXPECT_FALSE(parse_shebang("#!/" + std::string(300, 'x'), &truncated));
  EXPECT_TRUE(truncated);
}

// A folder with fake interpreters to put on PATH.
class interpreter_fallback : public ::testing::Test {
 protected:
  fs::path fake(const std::string& name) {
    return dir.write("bin/" + name, "#!/bin/sh\nexit 0\n", fs::perms(0755));
  }
  fs::path plugin(const std::string& content) { return dir.write("plugins/p.py", content); }
  std::string path_var() const { return (dir.path() / "bin").string() + ":/nonexistent"; }

  temp_dir dir;
  runners::python_runner python;
};

TEST_F(interpreter_fallback, usable_shebang_wins) {
  fake("python3");
  const auto interp = fake("custom-python");
  const auto p = plugin("#!" + interp.string() + " -u\nprint(1)\n");
  const auto r = resolve_interpreter(python, "python", p, path_var());
  ASSERT_TRUE(r.chosen) << r.error;
  EXPECT_EQ(python.command(*r.chosen, p),
            (std::vector<std::string>{interp.string(), "-u", p.string()}));
  EXPECT_TRUE(r.warnings.empty());
}

TEST_F(interpreter_fallback, missing_shebang_interpreter_falls_back_with_a_warning) {
  const auto python3 = fake("python3");
  const auto p = plugin("#!/opt/venv/bin/python\nprint(1)\n");
  const auto r = resolve_interpreter(python, "python", p, path_var());
  ASSERT_TRUE(r.chosen) << r.error;
  EXPECT_EQ(python.command(*r.chosen, p), (std::vector<std::string>{python3.string(), p.string()}));
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0], p.string() +
                               ": shebang interpreter /opt/venv/bin/python does not exist; using "
                               "python3 (" +
                               python3.string() + ") instead");
}

TEST_F(interpreter_fallback, shebang_interpreter_that_is_not_executable_falls_back) {
  const auto python3 = fake("python3");
  const auto not_exec = dir.write("bin/not-exec", "#!/bin/sh\n", fs::perms(0644));
  const auto p = plugin("#!" + not_exec.string() + "\n");
  const auto r = resolve_interpreter(python, "python", p, path_var());
  ASSERT_TRUE(r.chosen);
  EXPECT_EQ(r.chosen->program, python3.string());
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("shebang interpreter " + not_exec.string() + " is not executable"),
            std::string::npos);
}

TEST_F(interpreter_fallback, without_shebang_python3_comes_before_python) {
  const auto python3 = fake("python3");
  fake("python");
  const auto p = plugin("print(1)\n");
  const auto r = resolve_interpreter(python, "python", p, path_var());
  ASSERT_TRUE(r.chosen);
  EXPECT_EQ(r.chosen->program, python3.string());
  EXPECT_TRUE(r.chosen->arguments.empty());
  EXPECT_TRUE(r.warnings.empty());
}

TEST_F(interpreter_fallback, python_is_used_when_python3_is_missing) {
  const auto python2 = fake("python");
  const auto r = resolve_interpreter(python, "python", plugin("print(1)\n"), path_var());
  ASSERT_TRUE(r.chosen);
  EXPECT_EQ(r.chosen->program, python2.string());
}

TEST_F(interpreter_fallback, a_non_executable_file_on_path_is_skipped) {
  dir.write("bin/python3", "not executable", fs::perms(0644));
  const auto python2 = fake("python");
  const auto r = resolve_interpreter(python, "python", plugin("print(1)\n"), path_var());
  ASSERT_TRUE(r.chosen);
  EXPECT_EQ(r.chosen->program, python2.string());
}

TEST_F(interpreter_fallback, nothing_found_is_an_error_naming_what_was_tried) {
  const auto r = resolve_interpreter(python, "python", plugin("#!/opt/none/python\n"), path_var());
  EXPECT_FALSE(r.chosen);
  EXPECT_EQ(r.error,
            "no interpreter found: shebang interpreter /opt/none/python does not exist; tried "
            "python3, python on PATH");
}

// LMCache strips the shebang line: a file saved with CRLF line endings runs there. The warning
// names the problem and its fix, and shows the line with its \r visible.
TEST_F(interpreter_fallback, a_carriage_return_ending_the_shebang_is_dropped_with_a_warning) {
  const auto interp = fake("custom-python");
  const auto p = plugin("#!" + interp.string() + "\r\nprint(1)\r\n");
  auto r = resolve_interpreter(python, "python", p, path_var());
  ASSERT_TRUE(r.chosen) << r.error;
  EXPECT_EQ(python.command(*r.chosen, p), (std::vector<std::string>{interp.string(), p.string()}));
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0], p.string() +
                               ": the shebang line ends in a carriage return (\\r): the file has "
                               "Windows line endings; convert it with dos2unix (the line reads #!" +
                               interp.string() +
                               "\\r; plughost drops the \\r, as LMCache does, but Linux would "
                               "keep it in the interpreter's name)");

  const auto with_argument = plugin("#!/usr/bin/env python3\r\nprint(1)\r\n");
  r = resolve_interpreter(python, "python", with_argument, path_var());
  ASSERT_TRUE(r.chosen) << r.error;
  EXPECT_EQ(python.command(*r.chosen, with_argument),
            (std::vector<std::string>{"/usr/bin/env", "python3", with_argument.string()}));
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0], with_argument.string() +
                               ": the shebang line ends in a carriage return (\\r): the file has "
                               "Windows line endings; convert it with dos2unix (the line reads "
                               "#!/usr/bin/env python3\\r; plughost drops the \\r, as LMCache "
                               "does, but Linux would keep it in the argument)");
}

// "#!\r" names no interpreter once the \r is dropped: the runner's defaults, after the warning.
TEST_F(interpreter_fallback, a_shebang_of_a_carriage_return_alone_is_no_shebang) {
  const auto python3 = fake("python3");
  const auto p = plugin("#!\r\nprint(1)\r\n");
  const auto r = resolve_interpreter(python, "python", p, path_var());
  ASSERT_TRUE(r.chosen) << r.error;
  EXPECT_EQ(r.chosen->program, python3.string());
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("(the line reads #!\\r;"), std::string::npos) << r.warnings[0];
}

// LMCache looks a bare shebang name up on PATH (shutil.which); plugins written for it rely on it.
TEST_F(interpreter_fallback, a_bare_shebang_name_is_looked_up_on_path_with_a_warning) {
  fake("python");
  const auto python3 = fake("python3");
  const auto p = plugin("#!python3 -u\nprint(1)\n");
  const auto r = resolve_interpreter(python, "python", p, path_var());
  ASSERT_TRUE(r.chosen) << r.error;
  EXPECT_EQ(python.command(*r.chosen, p),
            (std::vector<std::string>{python3.string(), "-u", p.string()}));
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0], p.string() +
                               ": shebang interpreter 'python3' is a bare name, which Linux would "
                               "not look up on PATH; using " +
                               python3.string() +
                               " found on PATH (write #!/usr/bin/env python3 to run it anywhere)");
}

TEST_F(interpreter_fallback, a_bare_shebang_name_not_on_path_falls_back) {
  const auto python3 = fake("python3");
  const auto p = plugin("#!python9\nprint(1)\n");
  const auto r = resolve_interpreter(python, "python", p, path_var());
  ASSERT_TRUE(r.chosen) << r.error;
  EXPECT_EQ(r.chosen->program, python3.string());
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0], p.string() +
                               ": shebang interpreter 'python9' is not on PATH; using python3 (" +
                               python3.string() + ") instead");
}

TEST_F(interpreter_fallback, unreadable_plugin_is_an_error) {
  fake("python3");
  fs::create_directories(dir.path() / "plugins" / "folder.py");
  const auto r =
      resolve_interpreter(python, "python", dir.path() / "plugins" / "folder.py", path_var());
  EXPECT_FALSE(r.chosen);
  EXPECT_EQ(r.error, "cannot read the plugin: Is a directory");
}

}  // namespace
}  // namespace plughost::detail
