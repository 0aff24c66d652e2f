// A disk that fills up and is freed again, on a real (tmpfs) file system of 1 MiB: the jsonl and
// file sinks write whole records only (no torn line, no record twice), count what they lose, go
// on once there is room again, and plughost exits with status 3.
#include <sys/mount.h>

#include <cstring>
#include <regex>

#include "integration.hpp"

namespace plughost::test {
namespace {

using namespace std::chrono_literals;

class disk_full : public plughost_run {
 protected:
  void SetUp() override {
    fs::create_directories(disk);
    if (::mount("plughost-test", disk.c_str(), "tmpfs", 0, "size=1m") != 0) {
      GTEST_SKIP() << "cannot mount a tmpfs (needs root): " << std::strerror(errno);
    }
    mounted = true;
  }
  void TearDown() override {
    if (mounted) ::umount2(disk.c_str(), MNT_DETACH);
  }

  fs::path disk = dir.path() / "disk";
  bool mounted = false;
};

// The numbers of the "line N" records of one sink's output; every line must match `shape`.
std::vector<int> numbers(const std::string& text, const std::regex& shape) {
  std::vector<int> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    EXPECT_TRUE(std::regex_match(line, m, shape)) << "a torn or garbled line: " << line;
    if (m.size() > 1 && m[1].matched) out.push_back(std::stoi(m[1].str()));
  }
  return out;
}

void expect_each_once_in_order(const std::vector<int>& n, const char* sink) {
  for (std::size_t i = 1; i < n.size(); ++i) {
    ASSERT_LT(n[i - 1], n[i]) << sink << ": a record written twice or out of order";
  }
}

TEST_F(disk_full, records_are_written_whole_or_not_at_all_and_the_lost_ones_are_counted) {
  // Phase 1 fills the disk (with the filler, 3,000 lines do); phase 2 comes after the filler
  // is gone and must arrive.
  dir.write("disk/filler", std::string(900 * 1024, 'f'));
  plugin("talker.sh",
         "i=0; while [ $i -lt 3000 ]; do echo \"line $i\"; i=$((i + 1)); done\n"
         "touch \"$0.waiting\"\n"
         "while [ ! -e \"$0.go\" ]; do sleep 0.05; done\n"
         "while [ $i -lt 4000 ]; do echo \"line $i\"; i=$((i + 1)); done\n");
  auto host =
      start({"run", "--sink", "jsonl:" + (disk / "r.jsonl").string(), "--sink",
             "file:" + (disk / "r.log").string(), "--sink", "jsonl:" + records_file.string()});
  ASSERT_TRUE(eventually([&] { return fs::exists(plugins / "talker.sh.waiting"); }, 30s));
  ASSERT_TRUE(eventually([&] { return lines_of("talker.sh", "stdout").size() == 3000; }, 30s));
  fs::remove(disk / "filler");
  dir.write("plugins/talker.sh.go", "");
  const auto status = host->wait_for(60s);
  ASSERT_TRUE(status);
  const auto err = read_file(dir.path() / "bg.err");
  EXPECT_EQ(WEXITSTATUS(*status), 3) << err;
  EXPECT_EQ(lines_of("talker.sh", "stdout").size(), 4000u) << "the sink off the full disk";

  const std::regex jsonl_shape(
      R"re(\{"ts":"[^"]+","plugin":"talker.sh","pid":\d+,"stream":"stdout","line":"line (\d+)"\}|\{.*"stream":"event".*\})re");
  const std::regex file_shape(
      R"re(\S+ talker.sh\[\d+\] stdout: line (\d+)|\S+ (talker.sh\[\d+\]|\(plughost\)) event: .*)re");
  const auto jsonl = numbers(read_file(disk / "r.jsonl"), jsonl_shape);
  const auto file = numbers(read_file(disk / "r.log"), file_shape);
  expect_each_once_in_order(jsonl, "jsonl");
  expect_each_once_in_order(file, "file");
  for (const auto* n : {&jsonl, &file}) {
    EXPECT_LT(n->size(), 4000u) << "the disk was full: some were lost";
    ASSERT_FALSE(n->empty());
    EXPECT_EQ(n->back(), 3999) << "once there was room again, records were written again";
  }

  // What each lost is counted, on stderr and in `lost` events (in the sink off the disk).
  const std::regex summary(
      R"re(plughost: error: sink (jsonl|file) \([^)]*disk/r\.(?:jsonl|log)\): (\d+) records lost)re");
  std::map<std::string, long> lost;
  for (std::sregex_iterator it(err.begin(), err.end(), summary), end; it != end; ++it) {
    lost[(*it)[1].str()] = std::stol((*it)[2].str());
  }
  ASSERT_EQ(lost.size(), 2u) << err;
  // Lost records are lines, and maybe a few events (a `lost` event about the other sink).
  const auto missing_jsonl = static_cast<long>(4000 - jsonl.size());
  const auto missing_file = static_cast<long>(4000 - file.size());
  EXPECT_GE(lost["jsonl"], missing_jsonl);
  EXPECT_LE(lost["jsonl"], missing_jsonl + 10);
  EXPECT_GE(lost["file"], missing_file);
  EXPECT_LE(lost["file"], missing_file + 10);
  std::map<std::string, std::int64_t> reported;
  for (const auto& e : events_of(records_of(""))) {
    if (e.value("event", "") == "lost") reported[e.value("sink", "")] += e.value("records", 0);
  }
  EXPECT_EQ(reported["jsonl"], lost["jsonl"]);
  EXPECT_EQ(reported["file"], lost["file"]);
}

}  // namespace
}  // namespace plughost::test
