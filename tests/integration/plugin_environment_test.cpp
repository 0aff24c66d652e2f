// What a plugin gets (docs/running.md): exactly the environment promised, stdin from /dev/null, two
// separate pipes, no other descriptors, default signals, its own process group.
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <iterator>
#include <map>

#include "integration.hpp"

namespace plughost::test {
namespace {

using plugin_environment = plughost_run;

// Dumps the environment the plugin sees to <plugin>.env.json. The system's python3 itself, not
// a wrapper from PATH (pyenv's shims, for one, change PATH before starting python).
constexpr const char* dump_environment =
    "#!/usr/bin/python3\n"
    "import json, os, sys\n"
    "json.dump(dict(os.environ), open(sys.argv[0] + '.env.json', 'w'))\n";

TEST_F(plugin_environment, is_the_hosts_plus_exactly_the_lmcache_variables) {
  const auto config = dir.write("lmcache.yaml",
                                "chunk_size: 256\n"
                                "runtime_plugin_locations: [plugins]\n"
                                "extra_config:\n  custom_setting: value\n");
  plugin("worker_dump.py", dump_environment);
  plugin("team/all_dump.py", dump_environment);
  // The wheel's console script marks its exec of plughost: plughost's own, not the plugins'.
  auto host_env = env;
  env.push_back("PLUGHOST_CONSOLE_SCRIPT_EXEC=4242");
  const auto r = run({"run", "--config", config.string(), "--role", "WORKER", "--worker-id", "3",
                      "--worker-count", "8"});
  env = host_env;
  ASSERT_EQ(r.exit_code, 0) << r.err;

  const auto expected_config =
      json::parse(R"({"chunk_size": 256, "runtime_plugin_locations": [")" + plugins.string() +
                  R"("], "extra_config": {"custom_setting": "value"}})");
  for (const auto* name : {"worker_dump.py", "team/all_dump.py"}) {
    auto expected = as_map(env);
    for (const auto* prefix : {"LMCACHE_RUNTIME_PLUGIN_", "LMCACHE_PLUGIN_"}) {
      expected[std::string(prefix) + "ROLE"] = "WORKER";
      expected[std::string(prefix) + "WORKER_ID"] = "3";
      expected[std::string(prefix) + "WORKER_COUNT"] = "8";
    }
    expected["LMCACHE_RUNTIME_PLUGIN_NAME"] = name;
    expected["PYTHONUNBUFFERED"] = "1";

    auto seen = json::parse(read_file(plugins / (std::string(name) + ".env.json")))
                    .get<std::map<std::string, std::string>>();
    // The configuration is compact JSON: compare it as a document, then as the rest.
    for (const auto* key : {"LMCACHE_RUNTIME_PLUGIN_CONFIG", "LMCACHE_PLUGIN_CONFIG"}) {
      ASSERT_TRUE(seen.count(key)) << key;
      EXPECT_EQ(json::parse(seen[key]), expected_config) << key;
      EXPECT_EQ(seen[key].find(": "), std::string::npos) << "compact JSON";
      seen.erase(key);
    }
    // The pid of the plughost that started it (a plughost started from a plugin refuses to run).
    ASSERT_TRUE(seen.count("PLUGHOST_HOST_PID"));
    EXPECT_GT(std::stol(seen["PLUGHOST_HOST_PID"]), 1);
    // Its run's mark: "<that pid>:<run>", by which plughost finds what leaves the plugin's
    // process group.
    ASSERT_TRUE(seen.count("PLUGHOST_RUN"));
    EXPECT_EQ(seen["PLUGHOST_RUN"].rfind(seen["PLUGHOST_HOST_PID"] + ":", 0), 0u)
        << seen["PLUGHOST_RUN"];
    seen.erase("PLUGHOST_HOST_PID");
    seen.erase("PLUGHOST_RUN");
    EXPECT_EQ(seen, expected) << name;
  }
}

// LMCache sets PYTHONUNBUFFERED=1 for every plugin, over an inherited value: a .sh plugin that
// runs python gets it too. plughost.environment sets it otherwise, or leaves it inherited (~).
TEST_F(plugin_environment, every_plugin_gets_pythonunbuffered_unless_configured_otherwise) {
  plugin("all_show.sh", "#!/bin/sh\necho \"${PYTHONUNBUFFERED-unset} ${TEAM-unset}\"\n");
  env.push_back("PYTHONUNBUFFERED=0");
  const std::pair<std::string, std::string> cases[] = {
      {"", "1 unset"},                           // the default: LMCache's value
      {"    TEAM: cache\n", "1 cache"},          // another variable keeps the default one
      {"    PYTHONUNBUFFERED: ~\n", "0 unset"},  // left as inherited
      {"    PYTHONUNBUFFERED: 2\n", "2 unset"}};
  for (const auto& [variables, seen] : cases) {
    fs::remove(records_file);
    const auto settings =
        dir.write("settings.yaml", variables.empty() ? std::string("plughost: {}\n")
                                                     : "plughost:\n  environment:\n" + variables);
    const auto r = run({"run", "--settings", settings.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(lines_of("all_show.sh", "stdout"), std::vector<std::string>{seen}) << variables;
  }
  const auto settings =
      dir.write("settings.yaml", "plughost:\n  environment:\n    PLUGHOST_RUN: x\n");
  const auto r = run({"run", "--settings", settings.string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "plughost: error: " + settings.string() +
                       ":3:5: environment in plughost: PLUGHOST_RUN is set by plughost for every "
                       "plugin (docs/running.md) and cannot be configured\n");
}

TEST_F(plugin_environment, without_a_role_the_role_variables_are_empty) {
  plugin("dump.py", dump_environment);
  ASSERT_EQ(run({"run"}).exit_code, 0);
  const auto seen = json::parse(read_file(plugins / "dump.py.env.json"));
  EXPECT_EQ(seen["LMCACHE_RUNTIME_PLUGIN_ROLE"], "");
  EXPECT_EQ(seen["LMCACHE_PLUGIN_ROLE"], "");
  EXPECT_EQ(seen["LMCACHE_RUNTIME_PLUGIN_WORKER_ID"], "0");
  EXPECT_EQ(seen["LMCACHE_RUNTIME_PLUGIN_WORKER_COUNT"], "1");
}

TEST_F(plugin_environment, process_state_is_clean_even_when_the_host_was_not) {
  // The host starts with an inherited descriptor, ignored and blocked signals and a low
  // descriptor limit; none of that may reach a plugin.
  const auto leak = dir.write("leak.txt", "secret");
  plugin("state.py",
         "import json, os, resource, stat, sys\n"
         "st = {}\n"
         "st['stdin_is_devnull'] = os.path.samestat(os.fstat(0), os.stat('/dev/null'))\n"
         "st['stdout_pipe'] = stat.S_ISFIFO(os.fstat(1).st_mode)\n"
         "st['stderr_pipe'] = stat.S_ISFIFO(os.fstat(2).st_mode)\n"
         "st['separate_pipes'] = os.fstat(1).st_ino != os.fstat(2).st_ino\n"
         "extra = []\n"
         "for fd in range(3, 4096):\n"
         "    try:\n"
         "        os.fstat(fd); extra.append(fd)\n"
         "    except OSError:\n"
         "        pass\n"
         "st['extra_fds'] = extra\n"
         "st['own_group'] = os.getpgid(0) == os.getpid()\n"
         "st['nofile_soft'] = resource.getrlimit(resource.RLIMIT_NOFILE)[0]\n"
         "st['cwd'] = os.getcwd()\n"
         "json.dump(st, open(sys.argv[0] + '.state.json', 'w'))\n");
  // cat prints its own /proc status as it was at exec: the dispositions and mask the plugin got
  // (python and bash change their own at start-up, cat does not).
  plugin("signals.sh", "#!/bin/cat /proc/self/status\n");
  auto host = start({"run"}, [leak] {
    const int fd = ::open(leak.c_str(), O_RDONLY);  // no O_CLOEXEC: inherited by plughost
    ::dup2(fd, 9);
    ::signal(SIGUSR1, SIG_IGN);
    ::signal(SIGHUP, SIG_IGN);
    // glibc's own signal 33, ignored as GNU make leaves it (only the raw call can set it).
    const unsigned long ignore[4] = {reinterpret_cast<unsigned long>(SIG_IGN), 0, 0, 0};
    ::syscall(SYS_rt_sigaction, 33, ignore, nullptr, 64 / 8);
    sigset_t block;
    ::sigemptyset(&block);
    ::sigaddset(&block, SIGUSR2);
    ::sigprocmask(SIG_BLOCK, &block, nullptr);
    struct rlimit lim {};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = 512;
    ::setrlimit(RLIMIT_NOFILE, &lim);
  });
  const auto status = host->wait_for(std::chrono::seconds(60));
  ASSERT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << read_file(dir.path() / "bg.err");

  const auto st = json::parse(read_file(plugins / "state.py.state.json"));
  EXPECT_EQ(st["stdin_is_devnull"], true);
  EXPECT_EQ(st["stdout_pipe"], true);
  EXPECT_EQ(st["stderr_pipe"], true);
  EXPECT_EQ(st["separate_pipes"], true);
  EXPECT_EQ(st["extra_fds"], json::array()) << "descriptors leaked into the plugin";
  EXPECT_EQ(st["own_group"], true);
  EXPECT_EQ(st["nofile_soft"], 512) << "the host's raised limit is its own";
  EXPECT_EQ(st["cwd"], fs::current_path().string());
  std::vector<std::string> signal_state;
  for (const auto& line : lines_of("signals.sh", "stdout")) {
    if (line.rfind("SigBlk:", 0) == 0 || line.rfind("SigIgn:", 0) == 0)
      signal_state.push_back(line);
  }
  EXPECT_EQ(signal_state,
            (std::vector<std::string>{"SigBlk:\t0000000000000000", "SigIgn:\t0000000000000000"}));
}

// Refuses close_range() (ENOSYS, as a kernel before 5.9 or a seccomp profile that does not know
// it) and unshare() (EPERM, as container profiles do) to this process and what it starts.
void refuse_close_range() {
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_close_range, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_unshare, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog program{static_cast<unsigned short>(std::size(filter)), filter};
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0) {
    ::_exit(90);
  }
}

TEST_F(plugin_environment, without_close_range_no_descriptor_reaches_a_plugin_or_the_guardian) {
  const auto leak = dir.write("leak.txt", "secret");
  // The plugin's own descriptors, and the guardian's (a child of plughost named so).
  plugin("fds.py",
         "import json, os, sys, time\n"
         "mine = sorted(int(f) for f in os.listdir('/proc/self/fd'))\n"
         "host, theirs = os.getppid(), None\n"
         // until the guardian has named itself and closed what it does not keep
         "for _ in range(1000):\n"
         "    for c in open(f'/proc/{host}/task/{host}/children').read().split():\n"
         "        if open(f'/proc/{c}/cmdline').read().startswith('plughost guardian'):\n"
         "            theirs = sorted(int(f) for f in os.listdir(f'/proc/{c}/fd'))\n"
         "    if theirs == [0, 1, 2, 3]: break\n"
         "    time.sleep(0.01)\n"
         "json.dump({'mine': mine, 'guardian': theirs}, open(sys.argv[0] + '.json', 'w'))\n");
  auto host = start({"run", "--sink", "jsonl:" + (dir.path() / "sink.jsonl").string()}, [leak] {
    const int fd = ::open(leak.c_str(), O_RDONLY);  // no O_CLOEXEC: inherited by plughost
    ::dup2(fd, 9);
    refuse_close_range();
  });
  const auto status = host->wait_for(std::chrono::seconds(60));
  ASSERT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << read_file(dir.path() / "bg.err");
  const auto seen = json::parse(read_file(plugins / "fds.py.json"));
  // Python's listdir holds one descriptor of its own while it lists.
  ASSERT_EQ(seen["mine"].size(), 4u) << seen.dump();
  EXPECT_EQ(seen["mine"][3], seen["mine"][2].get<int>() + 1);
  EXPECT_EQ(seen["mine"][2], 2);
  // The guardian keeps 0, 1, 2 and its socket to plughost (3): not fd 9, not the sink's file.
  EXPECT_EQ(seen["guardian"], json::parse("[0, 1, 2, 3]")) << seen.dump();
}

// Linux's limit for the whole of a program's environment and command line is a quarter of the
// stack limit, at least 128 KiB: plughost under `ulimit -s 512` can give its plugins 128 KiB.
void small_stack() {
  struct rlimit stack {
    512 * 1024, 512 * 1024
  };
  ::setrlimit(RLIMIT_STACK, &stack);
}

// A configuration whose JSON is about `bytes` long: plugins receive it twice
// (LMCACHE_RUNTIME_PLUGIN_CONFIG and LMCACHE_PLUGIN_CONFIG).
std::string config_of(std::size_t bytes) {
  return "runtime_plugin_locations: [plugins]\nfiller: " + std::string(bytes, 'x') + "\n";
}

TEST_F(plugin_environment, more_than_exec_accepts_at_the_start_is_one_configuration_error) {
  // Each plugin failed alone with a bare "Argument list too long", and run went on.
  plugin("all_a.sh", "echo ran\n");
  plugin("all_b.sh", "echo ran\n");
  const auto config = dir.write("lmcache.yaml", config_of(70000));
  auto host =
      start({"run", "--config", config.string(), "--sink", "jsonl:" + records_file.string()},
            small_stack);
  const auto status = host->wait_for(std::chrono::seconds(30));
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 2);
  const auto err = read_file(dir.path() / "bg.err");
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  const std::string start =
      "plughost: error: plugin environment: plugin all_a.sh cannot be started: its environment "
      "and command line take ";
  EXPECT_EQ(err.substr(0, start.size()), start) << err;
  EXPECT_NE(err.find(" bytes, more than the 131072 bytes Linux accepts when starting a program "
                     "(ARG_MAX: a quarter of the stack limit, ulimit -s, at least 128 KiB and at "
                     "most 6 MiB); the largest parts: LMCACHE_RUNTIME_PLUGIN_CONFIG ("),
            std::string::npos)
      << err;
  EXPECT_NE(err.find(" KiB), LMCACHE_PLUGIN_CONFIG ("), std::string::npos) << err;
  EXPECT_NE(err.find("; make them smaller, or raise the stack limit (and 1 other plugin)\n"),
            std::string::npos)
      << err;
  for (const auto& r : records()) EXPECT_NE(r.value("event", ""), "started") << r.dump();
}

TEST_F(plugin_environment, a_reload_to_more_than_exec_accepts_is_refused_and_all_keeps_running) {
  plugin("all_a.sh", "echo ready\nexec sleep 300\n");
  const auto config = dir.write("lmcache.yaml", config_of(1000));
  auto host =
      start({"run", "--config", config.string(), "--sink", "jsonl:" + records_file.string()},
            small_stack);
  ASSERT_TRUE(wait_for_line("all_a.sh", "ready"));
  const auto pid = records_of("all_a.sh").front()["pid"].get<pid_t>();
  dir.write("lmcache.yaml", config_of(70000));
  plugin("all_b.sh", "echo ready\nexec sleep 300\n");  // would start, if the reload applied
  host->signal(SIGHUP);
  const std::string refused =
      "plughost: error: reload failed, everything keeps running as it was: plugin environment: "
      "plugin all_a.sh cannot be started: its environment and command line take ";
  ASSERT_TRUE(eventually([&] {
    return read_file(dir.path() / "bg.err").find(refused) != std::string::npos;
  })) << read_file(dir.path() / "bg.err");
  EXPECT_NE(read_file(dir.path() / "bg.err").find("(and 1 other plugin)"), std::string::npos);
  EXPECT_TRUE(process_alive(pid));
  EXPECT_TRUE(records_of("all_b.sh").empty());
  for (const auto& e : events_of(records_of("all_a.sh"))) EXPECT_NE(e["event"], "stopping");
  // Smaller again: the reload applies.
  dir.write("lmcache.yaml", config_of(1000));
  host->signal(SIGHUP);
  EXPECT_TRUE(wait_for_line("all_b.sh", "ready"));
  host->signal(SIGTERM);
  ASSERT_TRUE(host->wait_for(std::chrono::seconds(30)));
}

}  // namespace
}  // namespace plughost::test
