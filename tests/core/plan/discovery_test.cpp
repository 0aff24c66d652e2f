// Discovery over real folders: order, recursion, hidden names, symlinks, loops, duplicates.
#include "plan/discovery.hpp"

#include <gtest/gtest.h>

#include "test_support.hpp"

namespace plughost::detail {
namespace {

using test::temp_dir;
namespace fs = std::filesystem;

bool claims_py_sh(const fs::path& p) {
  return p.extension() == ".py" || p.extension() == ".sh";
}

// name=plugin or name!reason, in order.
std::vector<std::string> summary(const discovery_result& r) {
  std::vector<std::string> out;
  for (const auto& f : r.files) out.push_back(f.plugin ? f.name : f.name + "!" + f.ignored_reason);
  return out;
}

TEST(discovery, walks_folders_recursively_in_byte_order_skipping_hidden_names) {
  temp_dir dir;
  for (const auto* name : {"b.py", "a.sh", "Z.py", "sub/c.py", "sub/deeper/d.sh", "e.txt",
                           ".hidden.py", ".git/config.py", "sub/.secret.sh", "noext"}) {
    dir.write(fs::path("loc") / name, "");
  }
  const auto r = discover({dir.path() / "loc"}, claims_py_sh);
  EXPECT_EQ(summary(r),
            (std::vector<std::string>{"Z.py", "a.sh", "b.py", "e.txt!no runner claims '.txt' files",
                                      "noext!no runner claims files without an extension",
                                      "sub/c.py", "sub/deeper/d.sh"}));
  EXPECT_TRUE(r.warnings.empty());
  EXPECT_EQ(r.files[0].path, dir.path() / "loc" / "Z.py");
}

TEST(discovery, two_plugins_with_one_name_from_two_locations_get_distinct_names) {
  temp_dir dir;
  dir.write("one/all_x.sh", "");
  dir.write("two/all_x.sh", "");
  dir.write("three/all_x.sh", "");
  const auto r =
      discover({dir.path() / "one", dir.path() / "two", dir.path() / "three"}, claims_py_sh);
  EXPECT_EQ(summary(r), (std::vector<std::string>{"all_x.sh", "all_x.sh#2", "all_x.sh#3"}));
  EXPECT_EQ(r.files[1].path, dir.path() / "two" / "all_x.sh");
  ASSERT_EQ(r.warnings.size(), 2u);
  EXPECT_EQ(r.warnings[0],
            "two files are named all_x.sh: " + (dir.path() / "one" / "all_x.sh").string() +
                " and " + (dir.path() / "two" / "all_x.sh").string() +
                "; the second is called all_x.sh#2");
}

TEST(discovery, a_file_location_is_named_by_its_file_name) {
  temp_dir dir;
  const auto f = dir.write("x/worker_0_job.sh", "");
  const auto r = discover({f}, claims_py_sh);
  ASSERT_EQ(r.files.size(), 1u);
  EXPECT_EQ(r.files[0].name, "worker_0_job.sh");
  EXPECT_TRUE(r.files[0].plugin);
}

TEST(discovery, a_missing_location_is_a_warning_and_the_others_still_count) {
  temp_dir dir;
  dir.write("real/a.py", "");
  const auto missing = dir.path() / "missing";
  const auto r = discover({missing, dir.path() / "real"}, claims_py_sh);
  EXPECT_EQ(summary(r), std::vector<std::string>{"a.py"});
  EXPECT_EQ(r.warnings,
            std::vector<std::string>{"plugin location " + missing.string() + " does not exist"});
}

TEST(discovery, a_file_reached_twice_is_listed_once_as_a_plugin) {
  temp_dir dir;
  const auto a = dir.write("loc/a.py", "");
  fs::create_symlink(a, dir.path() / "loc" / "b_link.py");
  const auto r = discover({dir.path() / "loc", a}, claims_py_sh);
  EXPECT_EQ(summary(r), (std::vector<std::string>{"a.py", "b_link.py!same file as " + a.string(),
                                                  "a.py!same file as " + a.string()}));
}

TEST(discovery, symlinked_folders_are_followed_and_loops_end) {
  temp_dir dir;
  dir.write("loc/real/x.py", "");
  fs::create_directory_symlink(dir.path() / "loc", dir.path() / "loc" / "real" / "loop");
  fs::create_directory_symlink(dir.path() / "other", dir.path() / "loc" / "elsewhere");
  dir.write("other/y.sh", "");
  const auto r = discover({dir.path() / "loc"}, claims_py_sh);
  EXPECT_EQ(summary(r), (std::vector<std::string>{"elsewhere/y.sh", "real/x.py"}));
}

TEST(discovery, broken_links_and_special_files_are_ignored_with_a_reason) {
  temp_dir dir;
  dir.write("loc/ok.py", "");
  fs::create_symlink(dir.path() / "nowhere.py", dir.path() / "loc" / "broken.py");
  ASSERT_EQ(::mkfifo((dir.path() / "loc" / "fifo.py").c_str(), 0644), 0);
  const auto r = discover({dir.path() / "loc"}, claims_py_sh);
  EXPECT_EQ(summary(r), (std::vector<std::string>{"broken.py!broken symbolic link",
                                                  "fifo.py!not a regular file", "ok.py"}));
}

}  // namespace
}  // namespace plughost::detail
