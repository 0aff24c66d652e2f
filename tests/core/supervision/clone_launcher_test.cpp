// The launcher whose children are born in their cgroup (clone3 with CLONE_INTO_CGROUP): real
// processes in a real cgroup v2 folder. They need root and a cgroup v2 folder this process may
// create in, and a kernel with the flag; they say so and skip otherwise.
#include "supervision/clone_launcher.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/process/v2/process.hpp>
#include <boost/process/v2/stdio.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "supervision/cgroups.hpp"

namespace plughost::detail {
namespace {

namespace bp2 = boost::process::v2;
namespace fs = std::filesystem;

// A new cgroup v2 folder below this process's own; removed at the end.
class clone_launcher : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto layout = probe_cgroups();
    if (::geteuid() != 0 || layout.v2.empty() || !can_clone_into_cgroup()) {
      GTEST_SKIP() << "needs root, a cgroup v2 folder to create in and clone3's "
                      "CLONE_INTO_CGROUP (Linux 5.7; CI has all three)";
    }
    folder_ = layout.v2 / fmt::format("clone-launcher-test.{}", ::getpid());
    ASSERT_EQ(::mkdir(folder_.c_str(), 0755), 0) << folder_;
    fd_ = ::open(folder_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(fd_, 0);
  }
  void TearDown() override {
    if (fd_ >= 0) ::close(fd_);
    if (!folder_.empty()) ::rmdir(folder_.c_str());
  }

  struct started {
    pid_t pid = -1;
    bool in_cgroup = false;
    std::string out;  // what it wrote to its stdout
    bp2::error_code ec;
  };

  // Starts `argv` with the launcher given the folder `cgroup`, and reads all it writes.
  static started start(const std::vector<std::string>& argv, int cgroup) {
    started s;
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return s;
    boost::asio::io_context io;
    cgroup_vfork_launcher launcher;
    launcher.cgroup = cgroup;
    auto process = launcher(io.get_executor(), s.ec, bp2::filesystem::path(argv[0]),
                            std::vector<std::string>(argv.begin() + 1, argv.end()),
                            bp2::process_stdio{nullptr, out[1], {}});
    ::close(out[1]);
    s.in_cgroup = launcher.in_cgroup;
    if (!s.ec) {
      s.pid = process.id();
      char buffer[4096];
      for (ssize_t n; (n = ::read(out[0], buffer, sizeof buffer)) > 0;) s.out.append(buffer, n);
      process.wait();
    }
    ::close(out[0]);
    return s;
  }

  // The line of /proc/PID/cgroup of a process in the test's folder.
  std::string line_in_folder() const {
    std::ifstream in("/proc/self/cgroup");
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("0::", 0) != 0) continue;
      if (line == "0::/") line.pop_back();
      return line + "/" + folder_.filename().string() + "\n";
    }
    return "(no cgroup v2 line)";
  }

  fs::path folder_;
  int fd_ = -1;
};

TEST_F(clone_launcher, a_child_is_born_in_the_cgroup_folder_it_is_given) {
  const auto s = start({"/bin/cat", "/proc/self/cgroup"}, fd_);
  ASSERT_FALSE(s.ec) << s.ec.message();
  EXPECT_TRUE(s.in_cgroup);
  // Nothing but the launcher put it there: no set-up of the child joins a cgroup here.
  EXPECT_NE(s.out.find(line_in_folder()), std::string::npos) << s.out << line_in_folder();
}

TEST_F(clone_launcher, many_children_in_a_row_leave_the_callers_frame_as_it_was) {
  // The child runs on the caller's stack until exec: the caller's values must be what they were.
  std::set<pid_t> pids;
  const std::string word = "intact";
  for (int i = 0; i < 200; ++i) {
    const auto s = start({"/bin/echo", word, std::to_string(i)}, fd_);
    ASSERT_FALSE(s.ec) << i << ": " << s.ec.message();
    ASSERT_TRUE(s.in_cgroup) << i;
    ASSERT_EQ(s.out, fmt::format("{} {}\n", word, i));
    pids.insert(s.pid);
  }
  EXPECT_EQ(pids.size(), 200u);
  EXPECT_EQ(word, "intact");
}

// Records, in the caller's memory (the child shares it until exec), whether descriptor `fd` is
// open in the child when it starts and when its set-up runs.
struct descriptor_witness {
  int fd;
  bool* at_start;
  bool* at_setup;
  bp2::error_code on_child_start(const cgroup_vfork_launcher&) const {
    *at_start = ::fcntl(fd, F_GETFD) != -1;
    return {};
  }
  bp2::error_code on_exec_setup(cgroup_vfork_launcher&, const bp2::filesystem::path&,
                                const char* const*) const {
    *at_setup = ::fcntl(fd, F_GETFD) != -1;
    return {};
  }
};

TEST_F(clone_launcher, a_child_takes_a_table_of_only_the_descriptors_below_keep_below) {
  const int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int out[2];
  ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
  const int high = ::fcntl(out[1], F_DUPFD_CLOEXEC, 500);  // as the host's thousandth pipe
  ASSERT_GE(high, 500);
  bool at_start = false, at_setup = true;
  boost::asio::io_context io;
  cgroup_vfork_launcher launcher;
  launcher.cgroup = fd_;
  launcher.keep_below = std::max(devnull, out[1]) + 1;  // all its stdio is below
  bp2::error_code ec;
  auto process = launcher(
      io.get_executor(), ec, bp2::filesystem::path("/bin/echo"), std::vector<std::string>{"below"},
      bp2::process_stdio{devnull, out[1], {}}, descriptor_witness{high, &at_start, &at_setup});
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_TRUE(launcher.share_files);
  EXPECT_TRUE(at_start);                  // the caller's table, shared
  EXPECT_FALSE(at_setup);                 // its own, without it
  EXPECT_NE(::fcntl(high, F_GETFD), -1);  // the caller's own descriptors stay open
  ::close(high);
  ::close(devnull);
  ::close(out[1]);
  char buffer[64];
  const auto n = ::read(out[0], buffer, sizeof buffer);
  EXPECT_EQ(std::string(buffer, n > 0 ? n : 0), "below\n");
  ::close(out[0]);
  process.wait();
}

TEST_F(clone_launcher, a_failed_exec_is_the_callers_error_and_no_process_is_left) {
  const auto s = start({"/nonexistent/plugin"}, fd_);
  EXPECT_EQ(s.ec.value(), ENOENT) << s.ec.message();
  EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1);  // reaped by the launcher: no child left
  EXPECT_EQ(errno, ECHILD);
}

TEST_F(clone_launcher, a_folder_the_kernel_refuses_falls_back_to_vfork_outside_it) {
  const int not_a_cgroup = ::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(not_a_cgroup, 0);
  const auto s = start({"/bin/cat", "/proc/self/cgroup"}, not_a_cgroup);
  ::close(not_a_cgroup);
  ASSERT_FALSE(s.ec) << s.ec.message();
  EXPECT_FALSE(s.in_cgroup);  // the child's own set-up would join the folder then
  EXPECT_EQ(s.out.find(folder_.filename().string()), std::string::npos) << s.out;
  EXPECT_NE(s.out.find("0::"), std::string::npos) << s.out;
}

}  // namespace
}  // namespace plughost::detail
