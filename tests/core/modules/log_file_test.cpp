// open_log_file(): a link planted in a shared log folder does not redirect plughost's output, a
// file planted there is not written to, and the path to the folder is one only root controls.
// Runs as root (the owner and mode rules apply to root); skipped otherwise.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "plughost/sink.hpp"
#include "plughost/sink_helpers.hpp"
#include "test_support.hpp"

namespace plughost {
namespace {

namespace fs = std::filesystem;
using test::as_nobody;
using test::create_as_nobody;
using test::temp_dir;

class log_file : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "the rules are for root";
    fs::create_directories(shared);
    fs::permissions(shared, fs::perms(01777));  // as /tmp: others may add, not replace
  }
  std::string refusal(const fs::path& folder, const fs::path& below) {
    try {
      ::close(open_log_file(folder, below, true));
    } catch (const std::exception& e) {
      return e.what();
    }
    return "";
  }
  temp_dir dir;
  fs::path shared = dir.path() / "shared";
  fs::path target = dir.path() / "precious";
};

TEST_F(log_file, a_link_planted_in_a_folder_others_may_write_is_not_followed) {
  dir.write("precious", "do not touch\n");
  fs::create_symlink(target, shared / "plugins.jsonl");
  EXPECT_EQ(refusal(shared, "plugins.jsonl"),
            (shared / "plugins.jsonl").string() +
                " is a symbolic link in a folder others can write; refusing to follow it");
  EXPECT_EQ(test::read_file(target), "do not touch\n");
}

TEST_F(log_file, a_per_plugin_folder_that_is_a_planted_link_is_not_entered) {
  fs::create_directories(dir.path() / "elsewhere");
  fs::create_symlink(dir.path() / "elsewhere", shared / "team");
  EXPECT_EQ(refusal(shared, "team/a.sh.log"),
            (shared / "team").string() +
                " is a symbolic link in a folder others can write; refusing to follow it");
  EXPECT_TRUE(fs::is_empty(dir.path() / "elsewhere"));
  // Not planted: created, and written.
  const int fd = open_log_file(shared, "crew/b.sh.log", true);
  EXPECT_GE(fd, 0);
  ::close(fd);
  EXPECT_TRUE(fs::is_regular_file(shared / "crew" / "b.sh.log"));
}

TEST_F(log_file, folders_others_may_write_without_the_sticky_bit_or_owned_by_others_are_refused) {
  fs::create_directories(dir.path() / "open");
  fs::permissions(dir.path() / "open", fs::perms(0777));
  EXPECT_EQ(refusal(dir.path() / "open", "p.jsonl"),
            "refused: " + (dir.path() / "open").string() +
                " is writable by others without the sticky bit (a log folder must not be)");
  fs::create_directories(dir.path() / "theirs");
  ASSERT_EQ(::chown((dir.path() / "theirs").c_str(), 65534, 65534), 0);
  EXPECT_EQ(refusal(dir.path() / "theirs", "p.jsonl"),
            "refused: " + (dir.path() / "theirs").string() +
                " is owned by uid 65534, not root (a log folder must be)");
  EXPECT_EQ(refusal(dir.path() / "mine", "p.jsonl"), "") << "root's own folder is fine";
}

TEST_F(log_file, a_link_in_a_folder_only_root_writes_is_the_operators_and_followed) {
  dir.write("real.jsonl", "");
  fs::create_directories(dir.path() / "logs");
  fs::create_symlink(dir.path() / "real.jsonl", dir.path() / "logs" / "p.jsonl");
  EXPECT_EQ(refusal(dir.path() / "logs", "p.jsonl"), "");
  EXPECT_EQ(refusal(dir.path() / "logs", "../p.jsonl"),
            "not a plain path: ../p.jsonl: Invalid argument");
}

// A FIFO made by `nobody` in `folder`, with a reader of the test's own (so that an open that
// is not refused does not wait for one). Returns the reader's descriptor.
int fifo_of_nobody(const fs::path& fifo) {
  if (!as_nobody(
          [&] { return ::mkfifo(fifo.c_str(), 0666) == 0 && ::chmod(fifo.c_str(), 0666) == 0; })) {
    return -1;
  }
  return ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
}

TEST_F(log_file, a_fifo_another_user_planted_in_a_shared_folder_is_refused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (the check is root's)";
  fs::permissions(dir.path(), fs::perms(0755));  // nobody reaches the shared folder, as /tmp
  const auto planted = shared / "plugins.jsonl";
  const int reader = fifo_of_nobody(planted);
  ASSERT_GE(reader, 0) << "could not make the FIFO as nobody";
  EXPECT_EQ(refusal(shared, "plugins.jsonl"),
            "refused: log FIFO " + planted.string() +
                " is owned by uid 65534 (nobody), not by root: its owner could read every "
                "record; remove it or chown it to root");
  ::close(reader);
  // In a folder only root writes, root put it there: a log shipper's FIFO, whoever owns it.
  fs::create_directories(dir.path() / "logs");
  const auto shippers = dir.path() / "logs" / "ship.fifo";
  fs::permissions(dir.path() / "logs", fs::perms(0777));
  const int reader2 = fifo_of_nobody(shippers);
  fs::permissions(dir.path() / "logs", fs::perms(0755));
  ASSERT_GE(reader2, 0);
  EXPECT_EQ(refusal(dir.path() / "logs", "ship.fifo"), "");
  ::close(reader2);
}

TEST_F(log_file, a_log_file_another_user_planted_in_a_shared_folder_is_refused) {
  const auto planted = shared / "plugins.jsonl";
  fs::permissions(dir.path(), fs::perms(0755));  // nobody reaches the shared folder, as /tmp
  ASSERT_TRUE(create_as_nobody(planted, 0666)) << "could not create it as nobody";
  EXPECT_EQ(refusal(shared, "plugins.jsonl"),
            "refused: log file " + planted.string() +
                " is owned by uid 65534 (nobody), not by root: its owner could read every "
                "record; remove it or chown it to root");
  EXPECT_EQ(fs::file_size(planted), 0u) << "nothing was written to it";
  // Made root's, it is still open to every writer.
  ASSERT_EQ(::chown(planted.c_str(), 0, 0), 0);
  EXPECT_EQ(refusal(shared, "plugins.jsonl"),
            "refused: log file " + planted.string() +
                " has mode 0666: others may rewrite the records; chmod go-w it");
  fs::permissions(planted, fs::perms(0664));
  EXPECT_EQ(refusal(shared, "plugins.jsonl"),
            "refused: log file " + planted.string() +
                " has mode 0664: its group may rewrite the records; chmod go-w it");
  // Private enough: 0640 (root:adm, as much of /var/log), 0644 (the mode plughost creates).
  for (const auto mode : {fs::perms(0640), fs::perms(0644)}) {
    fs::permissions(planted, mode);
    EXPECT_EQ(refusal(shared, "plugins.jsonl"), "");
  }
  // One plughost creates itself passes next time too, whatever the umask.
  const auto before = ::umask(002);
  EXPECT_EQ(refusal(shared, "fresh.jsonl"), "");
  ::umask(before);
  EXPECT_EQ(fs::status(shared / "fresh.jsonl").permissions(), fs::perms(0644));
  EXPECT_EQ(refusal(shared, "fresh.jsonl"), "");
}

TEST_F(log_file, a_log_folder_below_a_folder_another_user_owns_is_refused) {
  // The attack on the path: the owner of a folder above the log folder swaps the log folder for
  // a link to any folder of root's, and plughost appends there.
  const auto theirs = dir.path() / "theirs";
  fs::create_directories(theirs / "logs");
  ASSERT_EQ(::chown(theirs.c_str(), 65534, 65534), 0);
  const auto expected = "refused: " + theirs.string() + " is on the path to " +
                        (theirs / "logs").string() +
                        " and is owned by uid 65534 (nobody), not root (mode 0755): whoever owns "
                        "it can put anything in the place of what lies below it; chown root " +
                        theirs.string() + ", or move " + (theirs / "logs").string() + " elsewhere";
  EXPECT_EQ(refusal(theirs / "logs", "p.jsonl"), expected);
  fs::rename(theirs / "logs", theirs / "old");
  fs::create_directories(dir.path() / "roots");
  fs::create_symlink(dir.path() / "roots", theirs / "logs");
  EXPECT_EQ(refusal(theirs / "logs", "p.jsonl"), expected);
  EXPECT_TRUE(fs::is_empty(dir.path() / "roots"));
}

TEST(log_file_fifo, a_fifo_nobody_reads_is_said_before_it_is_waited_for) {
  // Opening a FIFO for writing waits for a reader: plughost says so instead of hanging mutely,
  // then waits, and writes once someone reads.
  temp_dir dir;
  const auto fifo = dir.path() / "out.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  testing::internal::CaptureStderr();
  int fd = -1;
  std::thread opener([&] { fd = open_log_file(dir.path(), "out.fifo", false); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the opener waits by now
  const int reader = ::open(fifo.c_str(), O_RDONLY | O_CLOEXEC);
  opener.join();
  const auto err = testing::internal::GetCapturedStderr();
  ASSERT_GE(fd, 0);
  EXPECT_EQ(err, "plughost: warning: " + fifo.string() +
                     " is a FIFO that nobody reads yet: waiting for a reader\n");
  ASSERT_EQ(::write(fd, "x\n", 2), 2);
  char got[2] = {};
  EXPECT_EQ(::read(reader, got, 2), 2);
  EXPECT_EQ(::fcntl(fd, F_GETFL) & O_NONBLOCK, 0) << "writes wait as they did";
  ::close(fd);
  ::close(reader);
}

}  // namespace
}  // namespace plughost
