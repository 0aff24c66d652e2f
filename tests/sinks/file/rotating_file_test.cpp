// The file sink's rotation on a real file system: nothing lost, resumable after a failure.
#include "file/rotating_file.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "file/file_sink.hpp"
#include "plughost/events.hpp"
#include "test_support.hpp"

namespace plughost::sinks {
namespace {

using test::temp_dir;
namespace fs = std::filesystem;

std::vector<std::string> lines_of_file(const fs::path& p) {
  std::vector<std::string> out;
  std::ifstream in(p);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// Every line of path.N … path.1, path: oldest first.
std::vector<std::string> all_lines(const std::string& path, int max_files) {
  std::vector<std::string> out;
  for (int i = max_files; i >= 0; --i) {
    for (auto& l : lines_of_file(rotating_file::rotated_name(path, i))) out.push_back(std::move(l));
  }
  return out;
}

TEST(rotating_file, rotated_names_follow_spdlog) {
  EXPECT_EQ(rotating_file::rotated_name("/l/plugins.log", 0), "/l/plugins.log");
  EXPECT_EQ(rotating_file::rotated_name("/l/plugins.log", 2), "/l/plugins.2.log");
  EXPECT_EQ(rotating_file::rotated_name("/l/plugins", 1), "/l/plugins.1");
}

TEST(rotating_file, rotation_keeps_every_line_in_order) {
  temp_dir dir;
  const auto path = (dir.path() / "logs" / "p.log").string();
  std::vector<std::string> written;
  {
    rotating_file f(dir.path() / "logs", "p.log", 1000, 1000);
    for (int i = 0; i < 2000; ++i) {
      written.push_back("line " + std::to_string(i));
      f.write(written.back() + "\n");
    }
    f.flush();
  }
  EXPECT_TRUE(fs::exists(rotating_file::rotated_name(path, 10)));
  EXPECT_LE(fs::file_size(rotating_file::rotated_name(path, 1)), 1000u);
  EXPECT_EQ(all_lines(path, 1000), written);
}

TEST(rotating_file, only_max_files_rotated_files_are_kept) {
  temp_dir dir;
  const auto path = (dir.path() / "p.log").string();
  {
    rotating_file f(dir.path(), "p.log", 100, 3);
    for (int i = 0; i < 100; ++i) f.write("0123456789012345678\n");  // 20 bytes: 5 per file
  }
  EXPECT_TRUE(fs::exists(rotating_file::rotated_name(path, 3)));
  EXPECT_FALSE(fs::exists(rotating_file::rotated_name(path, 4)));
}

TEST(rotating_file, a_failed_rotation_keeps_appending_and_is_retried) {
  temp_dir dir;
  const auto path = (dir.path() / "p.log").string();
  // A non-empty folder where the rotated file must go: renaming onto it fails. (With one
  // rotated file kept there is no shifting that would move the folder out of the way.)
  fs::create_directories(rotating_file::rotated_name(path, 1) + "/blocker");
  rotating_file f(dir.path(), "p.log", 100, 1);
  std::vector<std::string> written;
  int failures = 0;
  for (int i = 0; i < 20; ++i) {
    written.push_back("line " + std::to_string(i) + " of twenty bytes..");
    try {
      f.write(written.back() + "\n");
    } catch (const std::runtime_error& e) {
      ++failures;
      EXPECT_NE(std::string(e.what()).find("rotating " + path + " failed: "), std::string::npos);
      EXPECT_NE(std::string(e.what()).find("the line was written to the current file"),
                std::string::npos);
    }
  }
  f.flush();
  EXPECT_EQ(failures, 1) << "retried only after the retry interval";
  EXPECT_EQ(lines_of_file(path), written) << "nothing lost, nothing truncated";

  // Once the obstacle is gone, the next rotation (after the retry interval) goes through.
  fs::remove_all(rotating_file::rotated_name(path, 1));
  std::this_thread::sleep_for(rotating_file::retry_interval + std::chrono::milliseconds(100));
  f.write("after\n");
  f.flush();
  EXPECT_EQ(lines_of_file(rotating_file::rotated_name(path, 1)), written);
  EXPECT_EQ(lines_of_file(path), std::vector<std::string>{"after"});
}

TEST(file_sink, lines_name_time_plugin_pid_and_stream) {
  record r;
  r.plugin = "all_plugin.sh";
  r.pid = 42;
  r.stream = stream::err;
  r.line = "oops";
  EXPECT_EQ(file_sink::format_line(r, "T"), "T all_plugin.sh[42] stderr: oops\n");
  r.partial = true;
  r.stream = stream::out;
  EXPECT_EQ(file_sink::format_line(r, "T"), "T all_plugin.sh[42] stdout(partial): oops\n");
  record e;
  e.plugin = "x.py";
  e.stream = stream::event;
  e.event = events::skipped;
  const event_field reason[] = {{"reason", std::string_view("requires role WORKER")}};
  e.fields = reason;
  EXPECT_EQ(file_sink::format_line(e, "T"), "T x.py event: skipped: requires role WORKER\n");
}

TEST(file_sink, control_characters_are_made_visible) {
  record r;
  r.plugin = "odd\nname.sh";
  r.pid = 42;
  r.stream = stream::out;
  r.line = "a\rT other.sh[1] stdout: forged";
  EXPECT_EQ(file_sink::format_line(r, "T"),
            "T odd\\x0aname.sh[42] stdout: a\\rT other.sh[1] stdout: forged\n");
}

TEST(file_sink, a_plugin_placeholder_gives_each_plugin_its_file) {
  temp_dir dir;
  {
    file_sink s((dir.path() / "logs" / "{plugin}.log").string(), 0, 5);
    record r;
    r.stream = stream::out;
    r.plugin = "team/all_metrics.sh";
    r.line = "a";
    s.write(r);
    r.plugin = "b.py";
    r.line = "b";
    s.write(r);
    s.flush();
  }
  EXPECT_EQ(lines_of_file(dir.path() / "logs" / "team" / "all_metrics.sh.log").size(), 1u);
  EXPECT_EQ(lines_of_file(dir.path() / "logs" / "b.py.log").size(), 1u);
}

}  // namespace
}  // namespace plughost::sinks
