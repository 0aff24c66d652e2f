// What each plugin may use, through the real binary and the machine's real cgroups
// (docs/isolation.md): nothing escapes a plugin's cgroup, its memory, process and CPU limits
// hold inside it while a sibling goes on, and the process settings are seen from inside the
// plugin. The cgroup tests need root and a cgroup hierarchy plughost may write to; they say so
// and skip otherwise.
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "integration.hpp"

namespace plughost::test {
namespace {

using namespace std::chrono_literals;

// Whether this machine lets plughost make a cgroup per plugin: root, and a cgroup v2 folder
// (unified or hybrid) to write to.
bool cgroups_here() {
  if (::geteuid() != 0) return false;
  for (const char* f : {"/sys/fs/cgroup/unified/cgroup.procs", "/sys/fs/cgroup/cgroup.procs"}) {
    if (::access(f, W_OK) == 0) return true;
  }
  return false;
}

// Whether a memory controller is there: v1's memory hierarchy, or v2's.
bool memory_controller_here() {
  if (::access("/sys/fs/cgroup/memory/memory.limit_in_bytes", F_OK) == 0) return true;
  std::ifstream in("/sys/fs/cgroup/cgroup.controllers");
  std::string all;
  std::getline(in, all);
  return all.find("memory") != std::string::npos;
}

#define NEEDS_CGROUPS()                                                 \
  if (!cgroups_here())                                                  \
  GTEST_SKIP() << "needs root and a writable cgroup hierarchy (CI has " \
                  "both)"

// A process is gone: no /proc entry, or a zombie nobody reaped yet.
bool gone(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string stat;
  if (!std::getline(in, stat)) return true;
  const auto close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() &&
         (stat[close + 2] == 'Z' || stat[close + 2] == 'X');
}

// Every folder named `name` in the machine's cgroup hierarchies (v1 ones may be nested below
// this container's own path), one per line.
std::string cgroup_folders_named(const std::string& name) {
  std::string found;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator("/sys/fs/cgroup", ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_directory(ec) || it->is_symlink(ec)) {
      it.disable_recursion_pending();
      continue;
    }
    if (it->path().filename() == name) found += it->path().string() + "\n";
    if (it.depth() >= 5) it.disable_recursion_pending();
  }
  return found;
}

pid_t read_pid(const fs::path& file) {
  try {
    return static_cast<pid_t>(std::stol(read_file(file)));
  } catch (...) {
    return 0;
  }
}

class isolation_base : public plughost_run {
 protected:
  fs::path settings(const std::string& yaml) { return dir.write("settings.yaml", yaml); }
  fs::path socket() const { return dir.path() / "ctl.sock"; }

  std::unique_ptr<child_process> start_host(const std::string& yaml) {
    auto host = start({"run", "--settings", settings(yaml).string(), "--socket", socket().string(),
                       "--stop-timeout", "1"});
    return host;
  }

  json plugin_status(const std::string& name) { return plugin_status_at(socket(), name); }

  // The pid of the daemon escaping_daemon() started, once it runs; 0 if it does not.
  pid_t escaped_daemon() {
    if (!eventually([&] { return read_pid(dir.path() / "daemon.pid") > 0; })) return 0;
    const pid_t daemon = read_pid(dir.path() / "daemon.pid");
    return gone(daemon) ? 0 : daemon;
  }

  // A plugin that starts a daemon which leaves everything plughost could find it by: its
  // session (setsid), its parent (a double fork) and the run's mark in its environment. It
  // ignores SIGTERM and writes its pid to daemon.pid.
  void escaping_daemon() {
    plugin("escapes.sh",
           "#!/bin/bash\n"
           "env -u PLUGHOST_RUN setsid bash -c '(trap \"\" TERM; echo $BASHPID > " +
               (dir.path() / "daemon.pid").string() +
               "; exec sleep 1000) &' </dev/null >/dev/null 2>&1\n"
               "echo started\nexec sleep 1000\n");
  }
};

using isolation = isolation_base;

TEST_F(isolation, a_daemon_that_left_its_session_parent_and_mark_is_stopped_with_plughost) {
  NEEDS_CGROUPS();
  escaping_daemon();
  auto host = start_host("plughost: {}\n");
  const pid_t daemon = escaped_daemon();
  ASSERT_GT(daemon, 0) << read_file(dir.path() / "bg.err");
  host->signal(SIGTERM);
  ASSERT_TRUE(host->wait_for(30s));
  EXPECT_TRUE(eventually([&] { return gone(daemon); }, 10s)) << "the daemon outlived the stop";
  if (!gone(daemon)) ::kill(daemon, SIGKILL);
}

TEST_F(isolation, a_daemon_that_left_everything_is_stopped_when_plughost_is_killed) {
  NEEDS_CGROUPS();
  escaping_daemon();
  auto host = start_host("plughost: {}\n");
  const pid_t daemon = escaped_daemon();
  ASSERT_GT(daemon, 0) << read_file(dir.path() / "bg.err");
  const auto host_pid = host->pid();
  host->signal(SIGKILL);
  ASSERT_TRUE(host->wait_for(30s));
  EXPECT_TRUE(eventually([&] { return gone(daemon); }, 10s))
      << "the daemon outlived a killed plughost";
  if (!gone(daemon)) ::kill(daemon, SIGKILL);
  // The guardian removes plughost's cgroup folders too.
  EXPECT_TRUE(eventually(
      [&] {
        return !fs::exists(fmt::format("/sys/fs/cgroup/unified/plughost.{}", host_pid)) &&
               !fs::exists(fmt::format("/sys/fs/cgroup/plughost.{}", host_pid));
      },
      10s));
}

// The sinks may take seconds to drain after the last run ended, with the guardian already gone:
// plughost killed then (here while its one sink, a FIFO nobody reads, is full) leaves none of
// its cgroup folders behind, since they went before the guardian did.
TEST_F(isolation, plughost_killed_while_its_sink_drains_leaves_no_cgroup_folder) {
  NEEDS_CGROUPS();
  const auto go = dir.path() / "go";
  plugin("loud.sh", "head -c 1048576 /dev/zero | tr '\\0' 'x' | fold -w 1000\nuntil [ -e " +
                        go.string() + " ]; do sleep 0.05; done\n");
  const auto fifo = dir.path() / "sink.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(reader, 0);
  auto host = start({"run", "--settings", settings("plughost: {}\n").string(), "--sink",
                     "file:" + fifo.string()});
  const auto host_pid = host->pid();
  const auto children = [&] {
    return read_file(fmt::format("/proc/{}/task/{}/children", host_pid, host_pid));
  };
  const auto v2_root = [&] {
    return fs::exists(fmt::format("/sys/fs/cgroup/unified/plughost.{}", host_pid)) ||
           fs::exists(fmt::format("/sys/fs/cgroup/plughost.{}", host_pid));
  };
  ASSERT_TRUE(eventually(v2_root, 20s)) << read_file(dir.path() / "bg.err");
  dir.write("go", "");
  // The plugin has ended and the guardian is dismissed: plughost only drains its sink now.
  ASSERT_TRUE(
      eventually([&] { return children().find_first_not_of(" \n") == std::string::npos; }, 20s))
      << read_file(dir.path() / "bg.err");
  EXPECT_FALSE(host->wait_for(100ms)) << "the sink should still be draining";
  host->signal(SIGKILL);
  ASSERT_TRUE(host->wait_for(30s));
  ::close(reader);
  EXPECT_EQ(cgroup_folders_named(fmt::format("plughost.{}", host_pid)), "");
}

TEST_F(isolation, memory_max_kills_inside_the_plugins_cgroup_and_the_rest_goes_on) {
  NEEDS_CGROUPS();
  if (!memory_controller_here()) GTEST_SKIP() << "no memory controller on this machine";
  plugin("greedy.py",
         "import time\ntime.sleep(0.5)\nx = b'x' * (512 << 20)\nprint('allocated')\n"
         "time.sleep(1000)\n");
  plugin("sibling.sh",
         "echo $$ > " + (dir.path() / "sibling.pid").string() + "\nexec sleep 1000\n");
  auto host = start_host("plughost:\n  plugins:\n    greedy.py:\n      memory_max: 128MiB\n");
  ASSERT_TRUE(eventually([&] {
    for (const auto& r : records_of("greedy.py")) {
      if (r["stream"] == "event" && r["event"] == "exited") return true;
    }
    return false;
  })) << read_file(dir.path() / "bg.err");
  json exited;
  for (const auto& r : records_of("greedy.py")) {
    if (r["stream"] == "event" && r["event"] == "exited") exited = r;
  }
  EXPECT_EQ(exited["signal"], "SIGKILL");
  EXPECT_EQ(exited["reason"], "oom_killed");
  EXPECT_TRUE(lines_of("greedy.py", "stdout").empty());
  const auto p = plugin_status("greedy.py");
  ASSERT_FALSE(p.is_null());
  EXPECT_EQ(p["oom_kills"], 1);
  EXPECT_EQ(p["last_oom_killed"], true);
  EXPECT_EQ(p["limits"]["memory_max"], "128MiB");
  // plughost and the sibling are the same processes as before.
  const pid_t sibling = read_pid(dir.path() / "sibling.pid");
  EXPECT_GT(sibling, 0);
  EXPECT_FALSE(gone(sibling));
  EXPECT_EQ(plugin_status("sibling.sh")["pid"], sibling);
  EXPECT_FALSE(host->wait_for(0ms)) << "plughost ended";
  host->signal(SIGTERM);
  ASSERT_TRUE(host->wait_for(30s));
}

TEST_F(isolation, pids_max_stops_a_fork_loop_at_its_limit_while_a_sibling_forks_freely) {
  NEEDS_CGROUPS();
  // Each fork that fails says so at once (bash would retry it for half a minute).
  const std::string forks =
      "import os, time\nn = 0\nfor i in range(40):\n    try:\n        pid = os.fork()\n"
      "    except OSError:\n        continue\n    if pid == 0:\n        time.sleep(1000)\n"
      "        os._exit(0)\n    n += 1\nprint(f'running {n}', flush=True)\ntime.sleep(1000)\n";
  plugin("limited.py", forks);
  plugin("free.py", forks);
  auto host = start_host("plughost:\n  plugins:\n    limited.py:\n      pids_max: 20\n");
  ASSERT_TRUE(eventually([&] {
    return !lines_of("limited.py", "stdout").empty() && !lines_of("free.py", "stdout").empty();
  })) << read_file(dir.path() / "bg.err");
  // The plugin itself and 19 children: 20 processes.
  EXPECT_EQ(lines_of("limited.py", "stdout").front(), "running 19");
  EXPECT_EQ(lines_of("free.py", "stdout").front(), "running 40");
  EXPECT_EQ(plugin_status("limited.py")["processes"], 20);
  EXPECT_EQ(plugin_status("free.py")["processes"], 41);
  host->signal(SIGTERM);
  ASSERT_TRUE(host->wait_for(30s));
}

TEST_F(isolation, cpu_max_holds_a_busy_loop_to_its_share) {
  NEEDS_CGROUPS();
  plugin("busy.sh", "#!/bin/bash\nwhile :; do :; done\n");
  auto host = start_host("plughost:\n  plugins:\n    busy.sh:\n      cpu_max: 10%\n");
  ASSERT_TRUE(eventually([&] { return plugin_status("busy.sh")["pid"].is_number(); }));
  const auto before = plugin_status("busy.sh")["cpu_seconds"];
  std::this_thread::sleep_for(3s);
  const auto after = plugin_status("busy.sh")["cpu_seconds"];
  ASSERT_TRUE(before.is_number() && after.is_number()) << plugin_status("busy.sh").dump();
  // 10 % of 3 s is 0.3 s; unlimited, the loop takes a whole core (3 s). A generous bound: the
  // figure itself is make bench's.
  EXPECT_LT(after.get<double>() - before.get<double>(), 1.0);
  host->signal(SIGTERM);
  ASSERT_TRUE(host->wait_for(30s));
}

TEST_F(isolation, process_settings_are_seen_from_inside_the_plugin) {
  NEEDS_CGROUPS();
  const auto work = dir.path() / "work";
  fs::create_directories(work);
  fs::permissions(dir.path(), fs::perms(0755));
  plugin("inside.sh",
         "#!/bin/bash\n"
         "grep Cpus_allowed_list /proc/self/status | tr -d '\\t'\n"
         "echo \"nice $(cut -d' ' -f19 /proc/$$/stat)\"\n"
         "echo \"oom $(cat /proc/self/oom_score_adj)\"\n"
         "grep 'Max open files' /proc/self/limits | tr -s ' '\n"
         "grep 'Max core file size' /proc/self/limits | tr -s ' '\n"
         "echo \"pwd $(pwd)\"\n"
         "echo \"uid $(id -u)\"\n");
  const auto r = run({"run", "--settings",
                      settings("plughost:\n"
                               "  plugins:\n"
                               "    inside.sh:\n"
                               "      cpus: \"0\"\n"
                               "      nice: 7\n"
                               "      oom_score_adj: 900\n"
                               "      limits: {nofile: 256, core: 0}\n"
                               "      working_dir: " +
                               work.string() +
                               "\n"
                               "      user: nobody\n")
                          .string(),
                      "--allow-insecure-permissions"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto lines = lines_of("inside.sh", "stdout");
  const std::vector<std::string> expected = {"Cpus_allowed_list:0",
                                             "nice 7",
                                             "oom 900",
                                             "Max open files 256 256 files ",
                                             "Max core file size 0 0 bytes ",
                                             "pwd " + work.string(),
                                             "uid 65534"};
  EXPECT_EQ(lines, expected) << r.err;
}

TEST_F(isolation, credentials_reach_only_their_plugin_and_go_with_its_run) {
  NEEDS_CGROUPS();
  const std::string token = "tok-8f3a1c9e5b7d";
  const auto secret = dir.write("secret/token", token, fs::perms(0600));
  plugin("a.sh",
         "#!/bin/bash\n"
         "echo \"dir $CREDENTIALS_DIRECTORY\"\n"
         "echo \"mode $(stat -c %a \"$CREDENTIALS_DIRECTORY/token\")\"\n"
         "echo \"token $(cat \"$CREDENTIALS_DIRECTORY/token\")\"\n");
  plugin("b.sh",
         "#!/bin/bash\n"
         "tr '\\0' '\\n' < /proc/$$/environ > " +
             (dir.path() / "b.environ").string() +
             "\n"
             "printf '%s' \"$LMCACHE_RUNTIME_PLUGIN_CONFIG$LMCACHE_PLUGIN_CONFIG\" > " +
             (dir.path() / "b.config").string() + "\n");
  const auto config = dir.write("config.yaml",
                                "runtime_plugin_locations: [plugins]\n"
                                "extra_config:\n  upload_token: " +
                                    token +
                                    "\n  region: eu\n"
                                    "plughost:\n"
                                    "  sinks: [{type: jsonl, path: " +
                                    records_file.string() +
                                    "}]\n"
                                    "  plugins:\n"
                                    "    a.sh:\n"
                                    "      credentials: {token: " +
                                    secret.string() +
                                    "}\n"
                                    "      redact: ['extra_config.*token*']\n"
                                    "    b.sh:\n"
                                    "      redact: ['extra_config.*token*']\n");
  // LMCache's environment spelling of extra_config, which plugins inherit, is redacted too.
  env.push_back("LMCACHE_EXTRA_CONFIG={\"hf_token\": \"" + token + "-env\", \"zone\": 1}");
  const auto r = run({"run", "--config", config.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto a = lines_of("a.sh", "stdout");
  ASSERT_EQ(a.size(), 3u) << r.err;
  const auto folder = a[0].substr(4);
  EXPECT_FALSE(folder.empty());
  EXPECT_EQ(a[1], "mode 400");
  EXPECT_EQ(a[2], "token " + token);
  EXPECT_FALSE(fs::exists(folder)) << "the credentials folder outlived its run";
  const auto b_environ = read_file(dir.path() / "b.environ");
  const auto b_config = read_file(dir.path() / "b.config");
  ASSERT_NE(b_environ.find("\nPATH="), std::string::npos) << "b.sh's environment was not read";
  EXPECT_EQ(b_environ.find(token), std::string::npos);
  EXPECT_EQ(b_config.find(token), std::string::npos);
  // The rest is there (extra_config from the environment replaces the file's, as in LMCache).
  EXPECT_NE(b_config.find("\"zone\":1"), std::string::npos) << b_config;
  const auto extra = b_environ.find("LMCACHE_EXTRA_CONFIG=");
  ASSERT_NE(extra, std::string::npos) << b_environ << r.err;
  EXPECT_EQ(b_environ.substr(extra, b_environ.find('\n', extra) - extra),
            "LMCACHE_EXTRA_CONFIG={\"zone\": 1}");
}

TEST_F(isolation, without_cgroups_one_warning_and_the_rlimits_still_apply) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to hide the cgroups in a mount namespace";
  if (::access("/usr/bin/unshare", X_OK) != 0) GTEST_SKIP() << "no unshare";
  plugin("limited.sh", "#!/bin/bash\ngrep 'Max open files' /proc/self/limits | tr -s ' '\n");
  const auto s = settings(
      "plughost:\n  plugins:\n    limited.sh:\n      limits: {nofile: 300}\n      memory_max: "
      "64MiB\n");
  // The cgroup hierarchies made unreachable: an empty, read-only folder over /sys/fs/cgroup.
  run_result r;
  {
    child_process p({{"/usr/bin/unshare", "--mount", "--propagation", "private", "--", "/bin/sh",
                      "-c", "mount -t tmpfs -o ro none /sys/fs/cgroup && exec \"$0\" \"$@\"",
                      plughost_binary().string(), "run", "--settings", s.string(), "--location",
                      plugins.string(), "--sink", "jsonl:" + records_file.string()},
                     env,
                     dir.path() / "hidden.out",
                     dir.path() / "hidden.err",
                     {},
                     {}});
    const auto status = p.wait_for(60s);
    if (status && WIFEXITED(*status)) r.exit_code = WEXITSTATUS(*status);
  }
  r.err = read_file(dir.path() / "hidden.err");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lines_of("limited.sh", "stdout"),
            std::vector<std::string>{"Max open files 300 300 files "});
  std::size_t warnings = 0;
  for (std::size_t at = 0;
       (at = r.err.find("plughost: warning: no cgroup per plugin", at)) != std::string::npos;
       ++at) {
    ++warnings;
  }
  EXPECT_EQ(warnings, 1u) << r.err;
  EXPECT_NE(r.err.find("memory_max"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace plughost::test

namespace plughost::test {
namespace {

using namespace std::chrono_literals;

class isolation_attacks : public isolation_base {};

TEST_F(isolation_attacks, a_credential_replaced_by_a_fifo_fails_that_run_and_holds_nothing_else) {
  NEEDS_CGROUPS();
  const auto secret = dir.write("secret/tok", "t0k", fs::perms(0600));
  plugin("cred.sh", "#!/bin/bash\necho \"got $(cat \"$CREDENTIALS_DIRECTORY/tok\")\"\n");
  plugin("tick.sh", "#!/bin/bash\nwhile :; do echo tick; sleep 0.1; done\n");
  auto host = start_host(
      "plughost:\n  plugins:\n    cred.sh:\n      restart: always\n      restart_delay: 0.3s\n"
      "      restart_delay_max: 0.3s\n      max_restarts: 1000\n      credentials: {tok: " +
      secret.string() + "}\n");
  ASSERT_TRUE(eventually([&] { return !lines_of("cred.sh", "stdout").empty(); }))
      << read_file(dir.path() / "bg.err");
  fs::remove(secret);
  ASSERT_EQ(::mkfifo(secret.c_str(), 0600), 0);
  // The next run cannot start, and says why; the loop goes on (the ticks keep coming).
  ASSERT_TRUE(eventually(
      [&] {
        for (const auto& r : records_of("cred.sh")) {
          if (r["stream"] == "event" && r["event"] == "error" &&
              r["message"].get<std::string>().find("not a regular file") != std::string::npos) {
            return true;
          }
        }
        return false;
      },
      10s))
      << read_file(dir.path() / "bg.err");
  const auto ticks = lines_of("tick.sh", "stdout").size();
  EXPECT_TRUE(eventually([&] { return lines_of("tick.sh", "stdout").size() > ticks + 3; }, 10s));
  host->signal(SIGTERM);
  ASSERT_TRUE(host->wait_for(30s));
}

TEST_F(isolation_attacks, a_credential_another_user_could_replace_is_refused_at_its_line) {
  NEEDS_CGROUPS();
  const auto folder = dir.path() / "theirs";
  fs::create_directories(folder);
  ASSERT_EQ(::chown(folder.c_str(), 65534, 65534), 0);
  const auto secret = dir.write("theirs/tok", "t0k", fs::perms(0600));
  ASSERT_EQ(::chown(secret.c_str(), 65534, 65534), 0);
  fs::create_symlink("/etc/hostname", dir.path() / "link");
  plugin("cred.sh", "#!/bin/bash\ncat \"$CREDENTIALS_DIRECTORY/tok\"\n");
  for (const auto& [file, why] :
       {std::pair{secret.string(), "belongs to uid 65534"},
        std::pair{(dir.path() / "link").string(), "is a symbolic link"}}) {
    const auto r = run(
        {"run", "--settings",
         settings("plughost:\n  plugins:\n    cred.sh:\n      credentials: {tok: " + file + "}\n")
             .string()});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("settings.yaml:4:"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(why), std::string::npos) << r.err;
  }
}

TEST_F(isolation_attacks, a_reload_that_raises_memory_max_restarts_the_plugin_under_the_new_one) {
  NEEDS_CGROUPS();
  if (!memory_controller_here()) GTEST_SKIP() << "no memory controller on this machine";
  plugin("held.sh", "#!/bin/bash\nexec sleep 1000\n");
  auto host = start_host("plughost:\n  plugins:\n    held.sh:\n      memory_max: 64MiB\n");
  ASSERT_TRUE(eventually([&] { return plugin_status("held.sh")["pid"].is_number(); }));
  const auto first = plugin_status("held.sh")["pid"];
  settings("plughost:\n  plugins:\n    held.sh:\n      memory_max: 256MiB\n");
  host->signal(SIGHUP);
  ASSERT_TRUE(eventually([&] {
    const auto p = plugin_status("held.sh");
    return p["pid"].is_number() && p["pid"] != first && p["limits"]["memory_max"] == "256MiB";
  })) << read_file(dir.path() / "bg.err")
      << plugin_status("held.sh").dump();
  EXPECT_EQ(plugin_status("held.sh")["state"], "running");
  host->signal(SIGTERM);
  ASSERT_TRUE(host->wait_for(30s));
}

TEST_F(isolation_attacks,
       a_cgroup_folder_an_earlier_process_left_under_plughosts_name_is_not_used) {
  NEEDS_CGROUPS();
  const fs::path v2 = fs::exists("/sys/fs/cgroup/unified/cgroup.procs") ? "/sys/fs/cgroup/unified"
                                                                        : "/sys/fs/cgroup";
  plugin("once.sh", "#!/bin/bash\necho ran\n");
  // A wrapper leaves a folder named as plughost's will be, with a process in it, then becomes
  // plughost (same pid).
  const auto stale_pid = dir.path() / "stale.pid";
  const auto script =
      dir.write("wrapper.sh",
                "#!/bin/bash\nmkdir -p " + v2.string() +
                    "/plughost.$$/once_sh.0\n(exec sleep 1000) &\n"
                    "echo $! > " +
                    stale_pid.string() + "\necho $! > " + v2.string() +
                    "/plughost.$$/once_sh.0/cgroup.procs\nexec " + plughost_binary().string() +
                    " run --location " + plugins.string() +
                    " --sink jsonl:" + records_file.string() + " --socket none\n",
                fs::perms(0755));
  int exit_code = -1;
  pid_t wrapper = 0;  // then plughost: the folder's pid
  {
    child_process p({{script.string()}, env, dir.path() / "w.out", dir.path() / "w.err", {}, {}});
    wrapper = p.pid();
    const auto status = p.wait_for(30s);
    if (status && WIFEXITED(*status)) exit_code = WEXITSTATUS(*status);
  }
  const pid_t stale = read_pid(stale_pid);
  EXPECT_EQ(exit_code, 0) << read_file(dir.path() / "w.err");
  EXPECT_EQ(lines_of("once.sh", "stdout"), std::vector<std::string>{"ran"});
  EXPECT_GT(stale, 0);
  EXPECT_FALSE(gone(stale)) << "a process of the earlier folder was stopped as the plugin's";
  if (stale > 0) ::kill(stale, SIGKILL);
  eventually([&] { return gone(stale); }, 5s);
  // The earlier folders are the test's to remove (plughost left them alone).
  const auto earlier = v2 / fmt::format("plughost.{}", wrapper);
  eventually([&] { return ::rmdir((earlier / "once_sh.0").c_str()) == 0 || errno == ENOENT; }, 5s);
  ::rmdir(earlier.c_str());
  EXPECT_FALSE(fs::exists(earlier));
}

TEST_F(isolation_attacks, the_guardian_removes_a_credentials_folder_with_folders_in_it) {
  NEEDS_CGROUPS();
  const auto secret = dir.write("secret/tok", "t0k", fs::perms(0600));
  plugin("nest.sh",
         "#!/bin/bash\nd=\"$CREDENTIALS_DIRECTORY\"\nchmod 700 \"$d\"\nmkdir -p \"$d/a/b\"\n"
         "cp \"$d/tok\" \"$d/a/b/copy\"\necho \"$d\"\nexec sleep 1000\n");
  auto host = start_host(
      "plughost:\n  plugins:\n    nest.sh:\n      credentials: {tok: " + secret.string() + "}\n");
  ASSERT_TRUE(eventually([&] { return !lines_of("nest.sh", "stdout").empty(); }))
      << read_file(dir.path() / "bg.err");
  const fs::path folder = lines_of("nest.sh", "stdout").front();
  ASSERT_TRUE(fs::exists(folder / "a" / "b" / "copy"));
  host->signal(SIGKILL);
  ASSERT_TRUE(host->wait_for(30s));
  EXPECT_TRUE(eventually([&] { return !fs::exists(folder); }, 10s));
}

}  // namespace
}  // namespace plughost::test
