// The command line: version, help, usage errors (exit 2), list and list --json, and data found
// relative to the binary.
#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <thread>
#include <utility>

#include "integration.hpp"

namespace plughost::test {
namespace {

using cli = plughost_run;

TEST_F(cli, started_with_descriptors_0_to_2_closed_it_uses_dev_null_for_them) {
  // Otherwise the first descriptors it opens (pipes, its event loop's) become its stdin, stdout
  // and stderr: its messages and the stdout sink write into them, and a plugin's pipes can be
  // crossed when they are set up as the child's 1 and 2.
  plugin("both.sh", "echo out\necho err >&2\nexec sleep 300\n");
  auto host = start({"run"}, [] {
    ::close(0);
    ::close(1);
    ::close(2);
  });
  ASSERT_TRUE(wait_for_line("both.sh", "out"));
  ASSERT_TRUE(eventually([&] { return !lines_of("both.sh", "stderr").empty(); }));
  EXPECT_EQ(lines_of("both.sh", "stdout"), (std::vector<std::string>{"out"}));
  EXPECT_EQ(lines_of("both.sh", "stderr"), (std::vector<std::string>{"err"}));
  for (int fd = 0; fd <= 2; ++fd) {
    const auto link =
        fs::read_symlink("/proc/" + std::to_string(host->pid()) + "/fd/" + std::to_string(fd));
    EXPECT_EQ(link, "/dev/null") << "descriptor " << fd;
  }
  host->signal(SIGTERM);
  ASSERT_TRUE(host->wait_for(std::chrono::seconds(30)));
}

TEST_F(cli, a_plugin_entry_that_names_no_plugin_found_is_a_warning_with_the_nearest_name) {
  plugin("all_report.py", "print('x')\n");
  const auto config = dir.write("lmcache.yaml",
                                "runtime_plugin_locations: [plugins]\n"
                                "plughost:\n"
                                "  plugins:\n"
                                "    all_reprot.py: {restart: always}\n");
  const auto r = run({"list", "--config", config.string()});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.err.find("plughost: warning: " + config.string() +
                       ":4:5: plughost.plugins.all_reprot.py names no plugin found (did you mean "
                       "all_report.py?)\n"),
            std::string::npos)
      << r.err;
}

TEST_F(cli, list_shows_control_characters_in_file_names_visibly) {
  plugin("all_x\nrun      all_forged.sh.sh", "true\n");
  const auto r = run({"list"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("all_x\\x0arun      all_forged.sh.sh"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("\nrun      all_forged"), std::string::npos) << "a forged line:\n" << r.out;
}

TEST_F(cli, plughost_s_own_messages_show_control_characters_in_names_visibly) {
  // A plugin's file name is anyone's text: on stderr it must neither forge a line of plughost's
  // own nor send an escape sequence to the operator's terminal.
  plugin("all_x\x1b[2J\nplughost: error: forged.sh", "#!/nonexistent/interpreter\necho hi\n");
  auto r = run({"list"});
  EXPECT_NE(r.err.find("all_x\\e[2J\\x0aplughost: error: forged.sh: shebang interpreter"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("\nplughost: error: forged"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << r.err;

  r = run({"run", "--config", (dir.path() / "no\x1b[2Jsuch.yaml").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no\\e[2Jsuch.yaml: cannot read"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << r.err;

  r = run({"run", "--worker-id", "1\x1b[2J"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "plughost: error: --worker-id: expected an integer, got '1\\e[2J'\n");
}

TEST_F(cli, version_and_help) {
  auto r = run({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "plughost 0.1.0\n");
  r = run({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("run"), std::string::npos);
  EXPECT_NE(r.out.find("list"), std::string::npos);
  r = run({"run", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--stop-timeout"), std::string::npos);
}

TEST_F(cli, a_mistyped_command_is_named_with_the_nearest_one) {
  auto r = run_plughost({"lst"}, env, dir);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err,
            "plughost: error: unknown command 'lst' (did you mean 'list'?); the commands are run, "
            "list, modules, status, start, stop, restart, reload, reopen, logs, completion and "
            "help\n");
  r = run_plughost({"help", "moduels"}, env, dir);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(
      r.err,
      "plughost: error: unknown command 'moduels' (did you mean 'modules'?); the commands "
      "are run, list, modules, status, start, stop, restart, reload, reopen, logs, completion "
      "and help\n");
  r = run_plughost({"xyzzy"}, env, dir);
  EXPECT_EQ(
      r.err,
      "plughost: error: unknown command 'xyzzy'; the commands are run, list, modules, status, "
      "start, stop, restart, reload, reopen, logs, completion and help\n");
}

TEST_F(cli, help_names_every_value_and_ends_each_command_with_an_example) {
  auto r = run_plughost({"help"}, env, dir);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("modules"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("plughost help COMMAND"), std::string::npos) << r.out;
  for (const auto* command : {"run", "list", "modules"}) {
    r = run_plughost({"help", command}, env, dir);
    EXPECT_EQ(r.exit_code, 0) << command;
    EXPECT_EQ(r.out, run_plughost({command, "--help"}, env, dir).out) << command;
    EXPECT_EQ(r.out.find(" TEXT"), std::string::npos) << r.out;  // CLI11's name for any value
    EXPECT_NE(r.out.find("Example: plughost " + std::string(command)), std::string::npos) << r.out;
  }
  r = run_plughost({"help", "run"}, env, dir);
  for (const auto* shown : {"--config FILE", "--role ROLE", "--worker-id ID", "--location PATH",
                            "--sink SINK", "--stop-timeout DURATION", "--module-path FOLDER"}) {
    EXPECT_NE(r.out.find(shown), std::string::npos) << shown << "\n" << r.out;
  }
}

TEST_F(cli, completion_scripts_offer_every_command_and_option) {
  auto r = run_plughost({"completion", "bash"}, env, dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto bash = dir.write("plughost.bash", r.out);
  const auto offered = [&](const std::string& words) {
    child_process shell({{"/bin/bash", "-c",
                          "source " + bash.string() + " && COMP_WORDS=(" + words +
                              ") && COMP_CWORD=$((${#COMP_WORDS[@]} - 1)) && _plughost; "
                              "printf '%s\\n' \"${COMPREPLY[@]}\" | sort | tr '\\n' ' '"},
                         env,
                         dir.path() / "bash.out",
                         dir.path() / "bash.err",
                         dir.path()});
    EXPECT_TRUE(shell.wait_for(std::chrono::seconds(30)));
    EXPECT_EQ(read_file(dir.path() / "bash.err"), "");
    auto shown = read_file(dir.path() / "bash.out");
    while (!shown.empty() && shown.back() == ' ') shown.pop_back();
    return shown;
  };
  EXPECT_EQ(offered("plughost ru"), "run");
  EXPECT_EQ(offered("plughost st"), "start status stop");
  EXPECT_EQ(offered("plughost run --conf"), "--config --config-json");
  EXPECT_EQ(offered("plughost logs --fo"), "--follow");
  EXPECT_EQ(offered("plughost completion z"), "zsh");
  EXPECT_EQ(offered("plughost run --role W"), "") << "a value of the user's: nothing to offer";
  EXPECT_EQ(offered("plughost logs -"),
            "--config --follow --help --json --lines --pid --role --settings "
            "--socket --worker-id -f -h -n");
  EXPECT_EQ(offered("plughost man"), "") << "the build's hidden command is not offered";
  dir.write("lmcache-config.yaml", "");
  EXPECT_EQ(offered("plughost run --config lmcache-c"), "lmcache-config.yaml");

  r = run_plughost({"completion", "zsh"}, env, dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("#compdef plughost\n", 0), 0u);
  for (const auto* shown :
       {"'run:", "'status:", "'--config[", "'--follow[", ":file:_files'", "'1:argument:(bash zsh)'",
        "'--json[print one JSON object instead of a table]' \\"}) {
    EXPECT_NE(r.out.find(shown), std::string::npos) << shown;
  }
  if (fs::exists("/usr/bin/zsh")) {  // scripts/install-deps.sh installs it for the tests
    const auto zsh = dir.write("_plughost", r.out);
    child_process check({{"/usr/bin/zsh", "-n", zsh.string()},
                         env,
                         dir.path() / "zsh.out",
                         dir.path() / "zsh.err"});
    const auto status = check.wait_for(std::chrono::seconds(30));
    ASSERT_TRUE(status);
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
        << read_file(dir.path() / "zsh.err");
  }
  EXPECT_EQ(run_plughost({"completion", "fish"}, env, dir).exit_code, 2);
}

TEST_F(cli, role_none_turns_role_filtering_off_whatever_the_environment_says) {
  plugin("scheduler_a.sh", "exit 0\n");
  env.push_back("LMCACHE_RUNTIME_PLUGIN_ROLE=WORKER");
  auto plan = json::parse(run({"list", "--json"}).out);
  EXPECT_EQ(plan["identity"]["role"], "WORKER");
  EXPECT_EQ(plan["plugins"][0]["decision"], "skip");
  plan = json::parse(run({"list", "--json", "--role", "none"}).out);
  EXPECT_EQ(plan["identity"]["role"], nullptr);
  EXPECT_EQ(plan["plugins"][0]["decision"], "run");
}

TEST_F(cli, list_exits_1_when_a_selected_plugin_cannot_run) {
  plugin("all_fine.sh", "exit 0\n");
  auto r = run({"list"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  plugin("all_broken.py", "print(1)\n");
  const auto config = dir.write("plughost.yaml",
                                "plughost:\n  runners:\n    python:\n      interpreter: "
                                "/nonexistent/python3\n");
  r = run({"list", "--config", config.string(), "--location", plugins.string()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("error   all_broken.py"), std::string::npos) << r.out;
  EXPECT_EQ(run({"list", "--json", "--config", config.string(), "--location", plugins.string()})
                .exit_code,
            1);
}

TEST_F(cli, a_file_named_as_a_location_that_no_runner_claims_is_an_error) {
  // LMCache logs "Failed to launch plugin <file>: Plugin type .txt not supported"; plughost
  // ignored such a file quietly ("no plugins to start", exit 0). In a folder it is still only
  // ignored, and a file the naming rules would not run here is skipped as before.
  plugin("fine.sh", "echo fine\n");
  plugin("notes.txt", "print('x')\n");
  plugin("scheduler_only.txt", "print('x')\n");
  const std::vector<std::string> locations{"--location", (plugins / "notes.txt").string(),
                                           "--location", (plugins / "scheduler_only.txt").string(),
                                           "--location", (plugins / "fine.sh").string()};
  const auto with = [&](std::vector<std::string> args) {
    args.insert(args.end(), locations.begin(), locations.end());
    return args;
  };
  const std::string reason =
      "no runner claims '.txt' files: it is named as a location, so it was meant to run";
  auto r = run(with({"list", "--json", "--role", "worker"}));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  std::map<std::string, std::pair<std::string, std::string>> decided;
  const auto listed = json::parse(r.out);
  for (const auto& p : listed["plugins"]) {
    decided[p["name"].get<std::string>()] = {p["decision"].get<std::string>(),
                                             p["reason"].get<std::string>()};
  }
  EXPECT_EQ(decided["notes.txt"], std::make_pair(std::string("error"), reason)) << r.out;
  EXPECT_EQ(decided["scheduler_only.txt"].first, "skip") << r.out;

  r = run(with({"run", "--role", "worker"}));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find(reason), std::string::npos) << r.err;
  EXPECT_EQ(lines_of("fine.sh", "stdout"), std::vector<std::string>{"fine"});

  // The folder that holds them: ignored, and the run is clean.
  r = run({"list", "--json", "--role", "worker", "--location", plugins.string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  const auto in_folder = json::parse(r.out);
  for (const auto& p : in_folder["plugins"]) {
    if (p["name"] == "notes.txt") {
      EXPECT_EQ(p["decision"], "ignored") << r.out;
    }
  }
}

TEST_F(cli, a_plugin_whose_path_is_longer_than_linux_accepts_is_an_error) {
  // Folders nested until the plugin's path is over PATH_MAX (4096 bytes), made one level at a
  // time (mkdir of the whole path fails with ENAMETOOLONG). It was ignored: "no plugins to
  // start", exit 0.
  plugin("fine.sh", "echo fine\n");
  const std::string level(200, 'd');
  // Removed level by level at the end (fs::remove_all cannot reach that deep).
  struct deep_tree {
    std::vector<int> folders;
    ~deep_tree() {
      if (folders.empty()) return;
      ::unlinkat(folders.back(), "deep.sh", 0);
      for (std::size_t i = folders.size() - 1; i > 0; --i) {
        ::close(folders[i]);
        ::unlinkat(folders[i - 1], std::string(200, 'd').c_str(), AT_REMOVEDIR);
      }
      ::close(folders[0]);
    }
  } tree;
  tree.folders.push_back(::open(plugins.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_GE(tree.folders.back(), 0);
  std::string name;
  while (plugins.native().size() + name.size() < 4200) {
    ASSERT_EQ(::mkdirat(tree.folders.back(), level.c_str(), 0755), 0) << std::strerror(errno);
    const int next =
        ::openat(tree.folders.back(), level.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(next, 0);
    tree.folders.push_back(next);
    name += level + "/";
  }
  const int file = ::openat(tree.folders.back(), "deep.sh", O_WRONLY | O_CREAT | O_CLOEXEC, 0755);
  ASSERT_GE(file, 0);
  ASSERT_EQ(::write(file, "echo deep\n", 10), 10);
  ::close(file);
  name += "deep.sh";
  const auto path = (plugins / name).native();
  ASSERT_GT(path.size(), 4096u);
  // What is reported is the first path on the way that is too long (with its NUL, over 4096
  // bytes): a folder the file is in, or the file.
  std::size_t too_long = path.size();
  for (auto slash = name.find('/'); slash != std::string::npos; slash = name.find('/', slash + 1)) {
    const auto folder = (plugins / name.substr(0, slash)).native().size();
    if (folder >= 4096) {
      too_long = folder;
      break;
    }
  }
  const auto reason = fmt::format(
      "its path is {} bytes long, longer than Linux accepts (4096 bytes, PATH_MAX): it can be "
      "neither read nor run; move it to a shorter path",
      too_long);
  auto r = run({"list", "--json"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  const auto j = json::parse(r.out);
  bool found = false;
  for (const auto& p : j["plugins"]) {
    if (p["decision"] != "error") continue;
    found = true;
    EXPECT_EQ(p["reason"], reason);
  }
  EXPECT_TRUE(found) << r.out;

  r = run({"run"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find(reason), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("no plugins to start"), std::string::npos) << r.err;
  EXPECT_EQ(lines_of("fine.sh", "stdout"), std::vector<std::string>{"fine"});

  // The same file given as a location of its own: an error too (it was a warning, exit 0),
  // saying how long the whole path is.
  const auto whole = fmt::format(
      "its path is {} bytes long, longer than Linux accepts (4096 bytes, PATH_MAX): it can be "
      "neither read nor run; move it to a shorter path",
      path.size());
  r = run({"list", "--json", "--location", path});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  ASSERT_EQ(json::parse(r.out)["plugins"].size(), 1u) << r.out;
  EXPECT_EQ(json::parse(r.out)["plugins"][0]["decision"], "error");
  EXPECT_EQ(json::parse(r.out)["plugins"][0]["reason"], whole);
  r = run({"run", "--location", path});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find(whole), std::string::npos) << r.err;
}

TEST_F(cli, the_guardian_shows_as_such_in_ps) {
  plugin("stay.sh", "echo ready\nexec sleep 300\n");
  auto host = start({"run"});
  ASSERT_TRUE(wait_for_line("stay.sh", "ready"));
  // The host's children: the plugin and the guardian; the guardian's command line is its own
  // (set by the guardian once it runs, which under load may be after the plugin printed).
  std::vector<std::string> command_lines;
  std::string ignored;  // the guardian's ignored signals, a hexadecimal mask
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (ignored.empty() && std::chrono::steady_clock::now() < deadline) {
    command_lines.clear();
    std::istringstream children(read_file("/proc/" + std::to_string(host->pid()) + "/task/" +
                                          std::to_string(host->pid()) + "/children"));
    for (pid_t child; children >> child;) {
      auto line = read_file("/proc/" + std::to_string(child) + "/cmdline");
      std::replace(line.begin(), line.end(), '\0', ' ');
      command_lines.push_back(line.substr(0, line.find_last_not_of(' ') + 1));
      if (command_lines.back() == "plughost guardian") {
        std::istringstream status(read_file("/proc/" + std::to_string(child) + "/status"));
        for (std::string l; std::getline(status, l);) {
          if (l.rfind("SigIgn:", 0) == 0) ignored = l.substr(7);
        }
      }
    }
    if (ignored.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_FALSE(ignored.empty()) << fmt::format("{}", fmt::join(command_lines, " | "));
  // A SIGUSR1 meant for plughost (an operator's signal by name) may reach it too: it must not end
  // it.
  const auto mask = std::stoull(ignored, nullptr, 16);
  EXPECT_TRUE(mask & (1ull << (SIGUSR1 - 1))) << ignored;
  EXPECT_TRUE(mask & (1ull << (SIGUSR2 - 1))) << ignored;
  host->signal(SIGTERM);
  ASSERT_TRUE(host->wait_for(std::chrono::seconds(60)));
  EXPECT_NE(std::find(command_lines.begin(), command_lines.end(), "plughost guardian"),
            command_lines.end())
      << fmt::format("{}", fmt::join(command_lines, " | "));
}

TEST_F(cli, usage_errors_exit_with_2_and_start_nothing) {
  plugin("a.sh", "touch \"$0.ran\"\n");
  EXPECT_EQ(run({}).exit_code, 2);
  EXPECT_EQ(run({"dance"}).exit_code, 2);
  EXPECT_EQ(run({"run", "--no-such-flag"}).exit_code, 2);

  auto r = run({"run", "--worker-id", "1.5"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "plughost: error: --worker-id: expected an integer, got '1.5'\n");

  env.push_back("LMCACHE_RUNTIME_PLUGIN_WORKER_COUNT=many");
  r = run({"run"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err,
            "plughost: error: LMCACHE_RUNTIME_PLUGIN_WORKER_COUNT: expected a positive "
            "integer, got 'many'\n");
  env.pop_back();

  r = run({"run", "--worker-count", "0"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "plughost: error: --worker-count: expected a positive integer, got '0'\n");

  r = run({"run", "--config", "x.yaml", "--config-json", "{}"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--config excludes --config-json"), std::string::npos) << r.err;

  // "--role=" is an empty role (no role), not a flag that takes the next argument.
  r = run({"list", "--json", "--role=", "--worker-id=3", "--worker-count=4"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["identity"],
            json::parse(R"({"role": null, "worker_id": 3, "worker_count": 4})"));

  r = run({"run", "--location="});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "plughost: error: --location: expected a file or folder, got ''\n");

  r = run({"run", "--runner", "cobol"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err,
            "plughost: error: --runner: unknown runner 'cobol' (expected one of: bash, node, "
            "perl, python)\n");

  r = run({"run", "--sink", "xml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err,
            "plughost: error: --sink: unknown sink 'xml' (expected one of: file, jsonl, stdout, "
            "syslog)\n");

  r = run({"run", "--sink", "jsonl:" + (dir.path() / "no" / "such" / "dir.jsonl").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("plughost: error: sink jsonl ("), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("No such file or directory"), std::string::npos) << r.err;

  EXPECT_FALSE(fs::exists(plugins / "a.sh.ran")) << "a plugin started despite a usage error";
}

TEST_F(cli, configuration_errors_name_file_line_and_column) {
  const auto config = dir.write("lmcache.yaml",
                                "chunk_size: 256\nlocal_cpu: true\nruntime_plugin_locations:\n"
                                "  foo: bar\n");
  const auto r = run({"run", "--config", config.string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "plughost: error: " + config.string() +
                       ":4:3: runtime_plugin_locations must be a list of paths, got a mapping\n");

  const auto missing = run({"list", "--config", (dir.path() / "missing.yaml").string()});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_EQ(missing.err, "plughost: error: " + (dir.path() / "missing.yaml").string() +
                             ": cannot read configuration file: No such file or directory\n");
}

TEST_F(cli, list_json_explains_every_decision) {
  plugin("scheduler_foo_plugin.py", "#!/usr/bin/env python3\nprint(1)\n");
  plugin("worker_0_test.sh", "echo\n");
  plugin("worker_1_test.sh", "echo\n");
  plugin("notes.txt", "");
  plugin(".hidden.sh", "");
  plugin("sub/all_metrics.sh", "#!/bin/sh -e\necho\n");
  fs::create_symlink(plugins / "worker_0_test.sh", plugins / "worker_0_alias.sh");
  const auto r =
      run({"list", "--json", "--role", "WORKER", "--worker-id", "0", "--worker-count", "2",
           "--location", plugins.string(), "--location", (dir.path() / "missing").string()});
  ASSERT_EQ(r.exit_code, 1) << "run would refuse the missing location: " << r.err;
  const auto j = json::parse(r.out);
  EXPECT_EQ(j["identity"], json::parse(R"({"role": "WORKER", "worker_id": 0, "worker_count": 2})"));
  EXPECT_EQ(j["locations"], json::array({plugins.string(), (dir.path() / "missing").string()}));
  EXPECT_EQ(j["locations_from"], "--location");
  ASSERT_EQ(j["runners"].size(), 4u) << j["runners"].dump();
  for (const auto& runner : j["runners"]) EXPECT_EQ(runner["enabled"], true) << runner.dump();

  const auto p = [&](const std::string& name) { return (plugins / name).string(); };
  const auto& list = j["plugins"];
  ASSERT_EQ(list.size(), 6u) << list.dump(2);
  EXPECT_EQ(list[0]["name"], "notes.txt");
  EXPECT_EQ(list[0]["decision"], "ignored");
  EXPECT_EQ(list[0]["reason"], "no runner claims '.txt' files");
  EXPECT_TRUE(list[0]["runner"].is_null());

  EXPECT_EQ(list[1]["name"], "scheduler_foo_plugin.py");
  EXPECT_EQ(list[1]["decision"], "skip");
  EXPECT_EQ(list[1]["reason"], "requires role SCHEDULER");
  EXPECT_EQ(list[1]["runner"], "python");
  EXPECT_EQ(list[1]["argv"], json::array());

  EXPECT_EQ(list[2]["name"], "sub/all_metrics.sh");
  EXPECT_EQ(list[2]["path"], p("sub/all_metrics.sh"));
  EXPECT_EQ(list[2]["decision"], "run");
  EXPECT_EQ(list[2]["reason"], "runs on every role (ALL); runner bash claims '.sh' files");
  EXPECT_EQ(list[2]["location"], plugins.string());
  EXPECT_EQ(list[2]["runner"], "bash");
  EXPECT_EQ(list[2]["argv"], json::array({"/bin/sh", "-e", p("sub/all_metrics.sh")}));

  EXPECT_EQ(list[3]["name"], "worker_0_alias.sh");
  EXPECT_EQ(list[3]["decision"], "run");
  EXPECT_EQ(list[3]["reason"], "runs on role WORKER, worker 0; runner bash claims '.sh' files");
  EXPECT_EQ(list[3]["argv"].size(), 2u);
  EXPECT_EQ(list[3]["argv"][1], p("worker_0_alias.sh"));

  EXPECT_EQ(list[4]["name"], "worker_0_test.sh");
  EXPECT_EQ(list[4]["decision"], "ignored");
  EXPECT_EQ(list[4]["reason"], "same file as " + p("worker_0_alias.sh"));

  EXPECT_EQ(list[5]["name"], "worker_1_test.sh");
  EXPECT_EQ(list[5]["decision"], "skip");
  EXPECT_EQ(list[5]["reason"], "only for worker 1");

  EXPECT_EQ(j["warnings"], json::array({"plugin location " + (dir.path() / "missing").string() +
                                        " does not exist"}));
  ASSERT_EQ(j["location_errors"].size(), 1u);
  EXPECT_EQ(r.err, "plughost: error: " + j["location_errors"][0].get<std::string>() + "\n");
}

TEST_F(cli, list_prints_a_table) {
  plugin("all_x.sh", "#!/bin/bash\necho\n");
  plugin("scheduler_y.py", "print()\n");
  const auto r = run({"list", "--role", "WORKER"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto all_x = (plugins / "all_x.sh").string();
  EXPECT_EQ(r.out,
            "identity: role WORKER, worker 0 of 1\n"
            "locations: " +
                plugins.string() +
                " (from --location)\n"
                "runners: node (.js .mjs .cjs), perl (.pl), bash (.sh), python (.py)\n"
                "run     all_x.sh        runs on every role (ALL); runner bash claims '.sh' "
                "files\n"
                "                        bash: /bin/bash " +
                all_x +
                "\n"
                "skip    scheduler_y.py  requires role SCHEDULER\n");
}

TEST_F(cli, data_is_found_next_to_the_binary) {
  // A copy of the binary with its own share/plughost/defaults.yaml: the defaults there (a jsonl
  // sink) must be the ones used, as in an install tree.
  const auto prefix = dir.path() / "prefix";
  fs::create_directories(prefix / "bin");
  fs::copy_file(plughost_binary(), prefix / "bin" / "plughost");
  const auto defaults_records = dir.path() / "from-defaults.jsonl";
  dir.write(
      "prefix/share/plughost/defaults.yaml",
      "plughost:\n  stop_timeout: 1s\n  sinks:\n    - jsonl:" + defaults_records.string() + "\n");
  plugin("hello.sh", "echo hello\n");
  child_process p({{(prefix / "bin" / "plughost").string(), "run", "--location", plugins.string()},
                   env,
                   {},
                   dir.path() / "copy.err",
                   {},
                   {}});
  const auto status = p.wait_for(std::chrono::seconds(60));
  ASSERT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << read_file(dir.path() / "copy.err");
  const auto recs = read_jsonl(defaults_records);
  ASSERT_FALSE(recs.empty());
  bool hello = false;
  for (const auto& rec : recs) hello = hello || rec.value("line", "") == "hello";
  EXPECT_TRUE(hello);
}

// ---- a location that does not exist ---------------------------------------------------------

TEST_F(cli, run_with_a_location_that_does_not_exist_is_an_error_naming_it) {
  plugin("all_a.sh", "echo ran\n");
  const auto missing = dir.path() / "not-there";
  auto r = run({"run", "--location", plugins.string(), "--location", missing.string()});
  EXPECT_EQ(r.exit_code, 2);
  const auto said = "plughost: error: --location: plugin location " + missing.string() +
                    " does not exist; create it, or run without it "
                    "(--allow-missing-locations, plughost.allow_missing_locations: true), or "
                    "wait for it (--wait-for-locations 30s, plughost.wait_for_locations)\n";
  EXPECT_EQ(r.err, said) << "one message, not a warning before it";
  EXPECT_FALSE(fs::exists(records_file)) << "nothing started";

  // list says the same, and fails: a deployment can gate on it.
  r = run({"list", "--location", plugins.string(), "--location", missing.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, said);
  for (const auto& allowed : {"--allow-missing-locations", "--wait-for-locations=30s"}) {
    r = run({"list", allowed, "--location", plugins.string(), "--location", missing.string()});
    EXPECT_EQ(r.exit_code, 0) << allowed;
    EXPECT_EQ(r.err,
              "plughost: warning: plugin location " + missing.string() + " does not exist\n");
  }
}

TEST_F(cli, allowed_a_missing_location_is_a_warning_and_the_others_run) {
  plugin("all_a.sh", "echo ran\n");
  const auto missing = dir.path() / "not-there";
  const auto config = dir.write("lmcache.yaml",
                                "runtime_plugin_locations: [plugins, not-there]\n"
                                "plughost:\n  allow_missing_locations: true\n"
                                "  sinks: [\"jsonl:" +
                                    records_file.string() + "\"]\n");
  auto r = run({"run", "--config", config.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "plughost: warning: plugin location " + missing.string() + " does not exist\n");
  EXPECT_TRUE(wait_for_line("all_a.sh", "ran"));
  r = run({"run", "--allow-missing-locations", "--location", missing.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(cli, a_location_waited_for_is_used_once_it_appears) {
  const auto later = dir.path() / "later";
  auto host = start({"run", "--location", later.string(), "--wait-for-locations", "60s"});
  ASSERT_TRUE(eventually([&] {
    return read_file(dir.path() / "bg.err").find("waiting up to 60s for " + later.string()) !=
           std::string::npos;
  }));
  dir.write("later/all_late.sh", "echo late\n", fs::perms(0755));
  ASSERT_TRUE(wait_for_line("all_late.sh", "late"));
  const auto status = host->wait_for(std::chrono::seconds(60));
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << read_file(dir.path() / "bg.err");
}

TEST_F(cli, restart_interval_runs_a_periodic_job_and_needs_an_interval) {
  plugin("all_job.sh", "echo tick\n");
  auto config = dir.write("lmcache.yaml",
                          "runtime_plugin_locations: [plugins]\nplughost:\n"
                          "  restart: interval\n");
  auto r = run({"run", "--config", config.string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "plughost: error: " + config.string() +
                       ":3:12: restart: interval needs an interval (e.g. interval: 5m)\n");
  config = dir.write("lmcache.yaml",
                     "runtime_plugin_locations: [plugins]\nplughost:\n"
                     "  restart: interval\n  interval: 100ms\n  sinks: [\"jsonl:" +
                         records_file.string() + "\"]\n");
  auto host = start({"run", "--config", config.string()});
  ASSERT_TRUE(eventually([&] { return lines_of("all_job.sh", "stdout").size() >= 3; }));
  EXPECT_EQ(events_of(records_of("all_job.sh"))[2]["event"], "next_run");
  host->signal(SIGTERM);
  ASSERT_TRUE(host->wait_for(std::chrono::seconds(30)));
}

TEST_F(cli, sighup_or_sigusr1_while_waiting_for_a_location_does_not_end_plughost) {
  const auto later = dir.path() / "later";
  auto host = start({"run", "--location", later.string(), "--wait-for-locations", "60s"});
  ASSERT_TRUE(eventually([&] {
    return read_file(dir.path() / "bg.err").find("waiting up to 60s") != std::string::npos;
  }));
  host->signal(SIGHUP);   // systemctl reload
  host->signal(SIGUSR1);  // logrotate's postrotate
  // The folder appears with its plugin in it (renamed into place): plughost must not find it
  // empty, half-written.
  dir.write("later.tmp/all_late.sh", "echo late\n", fs::perms(0755));
  fs::rename(dir.path() / "later.tmp", later);
  ASSERT_TRUE(wait_for_line("all_late.sh", "late")) << read_file(dir.path() / "bg.err");
  const auto status = host->wait_for(std::chrono::seconds(60));
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
}

}  // namespace
}  // namespace plughost::test
