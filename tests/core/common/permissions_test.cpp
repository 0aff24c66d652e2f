// The owner and mode checks: the rule for one file or folder (a table), then the walk over real
// files and folders: which ones it looks at (strictly up to the top it is given, then the whole
// path from / as a secure path), symbolic links, read-only mounts.
#include "common/permissions.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_support.hpp"

namespace plughost::detail {
namespace {

using test::temp_dir;
namespace fs = std::filesystem;

TEST(permission_problem, owner_must_be_root_or_the_trusted_user_and_nobody_else_may_write) {
  struct row {
    file_status status;
    uid_t trusted;
    std::string expected;
  };
  const row rows[] = {
      {{0, S_IFREG | 0644, false}, 0, ""},
      {{0, S_IFREG | 0755, false}, 0, ""},
      {{0, S_IFDIR | 0700, false}, 0, ""},
      {{0, S_IFREG | 0666, false}, 0, "writable by others (mode 0666)"},
      {{0, S_IFREG | 0646, false}, 0, "writable by others (mode 0646)"},
      {{0, S_IFREG | 0664, false}, 0, "writable by its group (mode 0664)"},
      {{0, S_IFDIR | 0777, false}, 0, "writable by others (mode 0777)"},
      {{0, S_IFDIR | 02775, false}, 0, "writable by its group (mode 2775)"},
      // The sticky bit keeps others from replacing what is there, not from adding to it.
      {{0, S_IFDIR | 01777, false}, 0, "writable by others (mode 1777)"},
      {{65534, S_IFREG | 0644, false}, 0, "owned by uid 65534, not root"},
      {{65534, S_IFREG | 0666, false},
       0,
       "owned by uid 65534, not root, and writable by others (mode 0666)"},
      // Not root: plughost's own user may own them too.
      {{1000, S_IFREG | 0644, false}, 1000, ""},
      {{0, S_IFREG | 0644, false}, 1000, ""},
      {{1001, S_IFREG | 0644, false}, 1000, "owned by uid 1001, not root or uid 1000"},
      // Nobody writes through a read-only mount, whatever the bits say; the owner still counts.
      {{0, S_IFDIR | 0777, true}, 0, ""},
      {{65534, S_IFREG | 0644, true}, 0, "owned by uid 65534, not root"},
  };
  for (const auto& r : rows) {
    EXPECT_EQ(permission_problem(r.status, r.trusted), r.expected)
        << "owner " << r.status.owner << " mode " << std::oct << r.status.mode << std::dec
        << (r.status.read_only ? " read-only" : "") << " trusted " << r.trusted;
  }
}

// A location folder "loc" (0755) with the file "loc/sub/x.py" (0644, in a folder 0755).
class permission_walk : public ::testing::Test {
 protected:
  permission_walk() {
    file = dir.write("outer/loc/sub/x.py", "print('x')\n", fs::perms(0644));
    for (const auto& d : {outer, loc, loc / "sub"}) fs::permissions(d, fs::perms(0755));
  }
  std::string check(const fs::path& f, const fs::path& top) const {
    return check_permissions(f, top, ::geteuid());
  }
  static void require_root() {
    if (::geteuid() != 0) GTEST_SKIP() << "changing a file's owner needs root";
  }
  // What the check says of a folder on the path to `target` (above the top, or a link's).
  static std::string on_path(const fs::path& folder, const fs::path& target,
                             const std::string& what, const std::string& change,
                             const std::string& who = "may write") {
    return folder.string() + " is on the path to " + target.string() + " and is " + what +
           ": whoever " + who + " it can put anything in the place of what lies below it; " +
           change + ", or move " + target.string() + " elsewhere";
  }

  temp_dir dir;
  fs::path outer = dir.path() / "outer";
  fs::path loc = outer / "loc";
  fs::path file;
};

TEST_F(permission_walk, a_file_and_folders_only_their_owner_may_write_pass) {
  EXPECT_EQ(check(file, loc), "");
}

TEST_F(permission_walk, a_file_others_or_its_group_may_write_is_named) {
  fs::permissions(file, fs::perms(0666));
  EXPECT_EQ(check(file, loc), file.string() + " is writable by others (mode 0666)");
  fs::permissions(file, fs::perms(0664));
  EXPECT_EQ(check(file, loc), file.string() + " is writable by its group (mode 0664)");
}

TEST_F(permission_walk, every_folder_up_to_and_including_the_top_is_checked) {
  fs::permissions(loc / "sub", fs::perms(0777));
  EXPECT_EQ(check(file, loc), (loc / "sub").string() + " is writable by others (mode 0777)");
  fs::permissions(loc / "sub", fs::perms(01777));  // sticky, like /tmp: refused all the same
  EXPECT_EQ(check(file, loc), (loc / "sub").string() + " is writable by others (mode 1777)");
  fs::permissions(loc / "sub", fs::perms(0755));
  fs::permissions(loc, fs::perms(0775));
  EXPECT_EQ(check(file, loc), loc.string() + " is writable by its group (mode 0775)");
  EXPECT_EQ(check(file, loc.string() + "/"),
            loc.string() + " is writable by its group (mode 0775)");
}

TEST_F(permission_walk, the_folders_above_the_top_are_checked_as_a_secure_path) {
  fs::permissions(outer, fs::perms(0777));
  EXPECT_EQ(check(file, loc),
            on_path(outer, file, "writable by others (mode 0777)", "chmod go-w " + outer.string()));
  // Sticky, as /tmp: others may add to it, not move loc away; loc itself is checked.
  fs::permissions(outer, fs::perms(01777));
  EXPECT_EQ(check(file, loc), "");
  fs::permissions(outer, fs::perms(0755));
  // A top that is not above the file (a file location is the file): its own folder strictly,
  // the rest as a path.
  EXPECT_EQ(check(file, file), "");
  EXPECT_EQ(check(file, file.parent_path()), "");
  EXPECT_EQ(check(file, dir.path() / "elsewhere"), "");
  fs::permissions(loc, fs::perms(0777));
  fs::permissions(loc / "sub", fs::perms(0777));
  for (const auto& top : {file, file.parent_path(), dir.path() / "elsewhere"}) {
    EXPECT_EQ(check(file, top), (loc / "sub").string() + " is writable by others (mode 0777); " +
                                    on_path(loc, file, "writable by others (mode 0777)",
                                            "chmod go-w " + loc.string()))
        << top;
  }
}

TEST_F(permission_walk, a_parent_another_user_owns_is_refused_even_when_it_leads_to_root_files) {
  require_root();
  // The attack: the owner of a folder above the location swaps the location for a link to a
  // tree of root's; everything there passes the owner and mode check.
  ASSERT_EQ(::chown(outer.c_str(), 65534, 65534), 0);
  fs::rename(loc, outer / "old");
  const auto tree = dir.write("roots/x.py", "print('root')\n", fs::perms(0644));
  fs::create_symlink(tree.parent_path(), loc);
  const auto reached = loc / "x.py";
  EXPECT_EQ(check(reached, loc),
            on_path(outer, reached, "owned by uid 65534 (nobody), not root (mode 0755)",
                    "chown root " + outer.string(), "owns"));
  // Its owner also passes for the trusted user: plughost's own.
  EXPECT_EQ(check_permissions(reached, loc, 65534), "");
}

TEST_F(permission_walk, a_link_on_the_path_in_a_sticky_folder_must_be_roots) {
  require_root();
  // A sticky folder others write (as /tmp), holding a link that another user owns: they can
  // point it elsewhere at any time.
  const auto shared = dir.path() / "shared";
  fs::create_directories(shared);
  fs::permissions(shared, fs::perms(01777));
  const auto link = shared / "plugins";
  fs::create_symlink(loc, link);
  EXPECT_EQ(check(link / "sub" / "x.py", link), "");
  ASSERT_EQ(::lchown(link.c_str(), 65534, 65534), 0);
  EXPECT_EQ(check(link / "sub" / "x.py", link),
            link.string() + " is on the path to " + (link / "sub" / "x.py").string() +
                " and is a symbolic link owned by uid 65534 (nobody) in " + shared.string() +
                ", which others may write (mode 1777): its owner can point it anywhere; replace "
                "it with a link of root's, or name its target instead");
  // The same, for a folder alone (a sink's log folder, a module folder).
  EXPECT_EQ(check_path_to(link, 0),
            link.string() + " is on the path to " + link.string() +
                " and is a symbolic link owned by uid 65534 (nobody) in " + shared.string() +
                ", which others may write (mode 1777): its owner can point it anywhere; replace "
                "it with a link of root's, or name its target instead");
}

TEST_F(permission_walk, every_problem_is_named_from_the_file_up) {
  fs::permissions(file, fs::perms(0646));
  fs::permissions(loc, fs::perms(0777));
  EXPECT_EQ(check(file, loc), file.string() + " is writable by others (mode 0646); " +
                                  loc.string() + " is writable by others (mode 0777)");
}

TEST_F(permission_walk, a_link_out_of_the_top_is_checked_where_it_leads) {
  // The target's own folder counts (whoever writes it replaces the file), its parents as a
  // secure path.
  const auto target = dir.write("shared/team/y.py", "print('y')\n", fs::perms(0644));
  fs::permissions(dir.path() / "shared", fs::perms(01777));  // sticky: team cannot be moved
  fs::permissions(dir.path() / "shared" / "team", fs::perms(0755));
  const auto link = loc / "y.py";
  fs::create_symlink(target, link);
  EXPECT_EQ(check(link, loc), "");

  fs::permissions(dir.path() / "shared" / "team", fs::perms(0777));
  EXPECT_EQ(check(link, loc),
            (dir.path() / "shared" / "team").string() + " is writable by others (mode 0777)");
  fs::permissions(dir.path() / "shared" / "team", fs::perms(0755));
  fs::permissions(target, fs::perms(0666));
  // What runs is the target: named by the link it was reached through.
  EXPECT_EQ(check(link, loc), link.string() + " is writable by others (mode 0666)");
}

TEST_F(permission_walk, a_linked_folder_is_checked_as_the_folder_it_leads_to) {
  fs::create_directories(dir.path() / "other");
  fs::permissions(dir.path() / "other", fs::perms(0777));
  dir.write("other/z.py", "", fs::perms(0644));
  fs::create_symlink(dir.path() / "other", loc / "linked");
  // Reached as loc/linked and, resolved, as other: one folder, named once.
  EXPECT_EQ(check(loc / "linked" / "z.py", loc),
            (loc / "linked").string() + " is writable by others (mode 0777)");
}

TEST_F(permission_walk, a_file_or_folder_owned_by_another_user_is_named) {
  require_root();
  ASSERT_EQ(::chown(file.c_str(), 65534, 65534), 0);
  EXPECT_EQ(check(file, loc), file.string() + " is owned by uid 65534, not root");
  ASSERT_EQ(::chown(file.c_str(), 0, 0), 0);
  ASSERT_EQ(::chown((loc / "sub").c_str(), 65534, 0), 0);
  EXPECT_EQ(check(file, loc), (loc / "sub").string() + " is owned by uid 65534, not root");
}

TEST_F(permission_walk, nothing_mounted_read_only_counts_as_writable) {
  require_root();
  // In a mount namespace of its own, so that the mount goes with the child whatever happens.
  const auto mount_point = loc / "ro";
  fs::create_directories(mount_point);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    std::string out = "(could not mount)";
    if (::unshare(CLONE_NEWNS) == 0 &&
        ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0 &&
        ::mount("tmpfs", mount_point.c_str(), "tmpfs", 0, "mode=0777") == 0) {
      const auto f = mount_point / "x.py";
      const int fd = ::open(f.c_str(), O_WRONLY | O_CREAT, 0666);  // 0666 & ~umask: made below
      ::fchmod(fd, 0666);
      ::close(fd);
      out = check_permissions(f, loc, 0) + "|";
      ::mount(nullptr, mount_point.c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr);
      out += check_permissions(f, loc, 0);
    }
    (void)!::write(fds[1], out.data(), out.size());
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string got;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) got.append(buf, n);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (got == "(could not mount)") GTEST_SKIP() << "no mount namespace here";
  const auto f = (mount_point / "x.py").string();
  EXPECT_EQ(got, f + " is writable by others (mode 0666); " + mount_point.string() +
                     " is writable by others (mode 0777)|");
}

}  // namespace
}  // namespace plughost::detail
