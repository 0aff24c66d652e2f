// Plugins that say when they are ready and that they are alive (docs/health.md), through the real
// binary: sd_notify datagrams to their own NOTIFY_SOCKET (from the plugin, from systemd-notify,
// refused from a stranger), a newline on notify_fd, a line matching ready_when.log, a watchdog
// that stops and restarts a plugin that falls silent, and /readyz waiting for required plugins.
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <thread>

#include "integration.hpp"

namespace plughost::test {
namespace {

using namespace std::chrono_literals;

// Python's two lines of sd_notify, as a plugin would write them (no library needed).
const std::string python_notify =
    "import os, socket, sys, time\n"
    "def notify(text):\n"
    "    address = os.environ['NOTIFY_SOCKET']\n"
    "    if address.startswith('@'): address = '\\0' + address[1:]\n"
    "    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
    "    s.sendto(text.encode(), address)\n"
    "    s.close()\n";

class health : public plughost_run {
 protected:
  fs::path socket() const { return dir.path() / "ctl.sock"; }

  // plughost run with `yaml` as its settings, a control socket and a metrics endpoint.
  std::unique_ptr<child_process> start_host(const std::string& yaml) {
    const auto settings = dir.write("settings.yaml", yaml);
    auto host = start({"run", "--settings", settings.string(), "--socket", socket().string(),
                       "--metrics-address", "127.0.0.1:0", "--stop-timeout", "2"});
    port_ = metrics_port_in(dir.path() / "bg.err");
    EXPECT_GT(port_, 0) << read_file(dir.path() / "bg.err");
    return host;
  }

  json plugin_status(const std::string& name) { return plugin_status_at(socket(), name); }

  std::string state_of(const std::string& name) {
    const auto p = plugin_status(name);
    return p.is_object() ? p.value("state", "") : "";
  }

  // The events named `name` of a plugin, in order.
  std::vector<json> events_named(const std::string& plugin, const std::string& name) {
    std::vector<json> out;
    for (const auto& r : events_of(records_of(plugin))) {
      if (r["event"] == name) out.push_back(r);
    }
    return out;
  }

  void stop_host(child_process& host) {
    host.signal(SIGTERM);
    ASSERT_TRUE(host.wait_for(30s));
  }

  int port_ = 0;
};

TEST_F(health, a_notify_plugin_is_starting_until_ready_and_readyz_waits_for_it) {
  const auto go = dir.path() / "go";
  plugin("all_server.py", python_notify + "while not os.path.exists('" + go.string() +
                              "'): time.sleep(0.02)\n"
                              "notify('STATUS=warming up')\n"
                              "notify('READY=1\\nSTATUS=serving')\n"
                              "while not os.path.exists('" +
                              go.string() +
                              "2'): time.sleep(0.02)\n"
                              "notify('STOPPING=1')\n"
                              "time.sleep(300)\n");
  plugin("all_other.sh", "exec sleep 300\n");
  auto host = start_host(
      "plughost:\n  plugins:\n    all_server.py:\n      notify: true\n      required: true\n");
  ASSERT_TRUE(eventually([&] { return state_of("all_other.sh") == "running"; }))
      << read_file(dir.path() / "bg.err");
  EXPECT_EQ(state_of("all_server.py"), "starting");
  const auto before = http_get(port_, "/readyz");
  EXPECT_EQ(before.first, 503);
  EXPECT_EQ(before.second, "not ready: all_server.py (starting)\n");
  EXPECT_EQ(http_get(port_, "/healthz").first, 200) << "alive, only not ready";

  dir.write("go", "");
  const auto sent = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return http_get(port_, "/readyz").first == 200; }, 10s));
  const auto took = std::chrono::steady_clock::now() - sent;
  // Only against a hang: the latency itself (a few milliseconds) is measured in make bench.
  EXPECT_LT(took, 5s);
  const auto p = plugin_status("all_server.py");
  EXPECT_EQ(p["state"], "ready");
  EXPECT_EQ(p["ready"], true);
  EXPECT_EQ(p["required"], true);
  EXPECT_EQ(p["status_text"], "serving");
  EXPECT_TRUE(p["ready_after_seconds"].is_number());
  const auto ready = events_named("all_server.py", "ready");
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0]["how"], "notify");
  const auto metrics = http_get(port_, "/metrics").second;
  EXPECT_NE(metrics.find("plughost_plugin_ready{plugin=\"all_server.py\"} 1"), std::string::npos);
  EXPECT_NE(metrics.find("plughost_plugin_state{plugin=\"all_server.py\",state=\"ready\"} 1"),
            std::string::npos);
  const auto text = run_plughost({"status", "--socket", socket().string()}, env, dir);
  EXPECT_NE(text.out.find("all_server.py: required, ready; ready after "), std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("; status: serving"), std::string::npos) << text.out;
  // STOPPING=1: on its way out, no longer ready.
  dir.write("go2", "");
  ASSERT_TRUE(eventually([&] { return state_of("all_server.py") == "unhealthy"; }));
  EXPECT_EQ(http_get(port_, "/readyz"),
            std::make_pair(503, std::string("not ready: all_server.py (unhealthy)\n")));
  stop_host(*host);
}

TEST_F(health, a_newline_on_notify_fd_says_ready_and_only_that_descriptor_is_open) {
  plugin("all_s6.py",
         "import os, time\n"
         "print(sorted(int(fd) for fd in os.listdir('/proc/self/fd')), flush=True)\n"
         "time.sleep(0.3)\n"
         "os.write(5, b'\\n')\n"
         "time.sleep(300)\n");
  auto host = start_host("plughost:\n  plugins:\n    all_s6.py:\n      notify_fd: 5\n");
  ASSERT_TRUE(eventually([&] { return state_of("all_s6.py") == "ready"; }))
      << read_file(dir.path() / "bg.err") << read_file(records_file);
  const auto ready = events_named("all_s6.py", "ready");
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0]["how"], "notify_fd");
  // 0, 1, 2, its notify_fd, and the one listdir() opened for the listing.
  const auto lines = lines_of("all_s6.py", "stdout");
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0], "[0, 1, 2, 3, 5]");
  stop_host(*host);
}

TEST_F(health, a_line_matching_ready_when_says_ready) {
  plugin("all_web.sh",
         "echo warming up\nsleep 0.3\necho 'listening on port 8080' >&2\nexec sleep 300\n");
  auto host = start_host(
      "plughost:\n  plugins:\n    all_web.sh:\n      ready_when: {log: 'listening on port "
      "[0-9]+'}\n");
  ASSERT_TRUE(eventually([&] { return state_of("all_web.sh") == "ready"; }))
      << read_file(dir.path() / "bg.err");
  const auto ready = events_named("all_web.sh", "ready");
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0]["how"], "log");
  // After the line that matched.
  const auto recs = records_of("all_web.sh");
  std::size_t line_at = 0, ready_at = 0;
  for (std::size_t i = 0; i < recs.size(); ++i) {
    if (recs[i].value("line", "") == "listening on port 8080") line_at = i;
    if (recs[i].value("event", "") == "ready") ready_at = i;
  }
  EXPECT_LT(line_at, ready_at);
  stop_host(*host);
}

TEST_F(health, systemd_notify_from_a_bash_plugin_says_ready) {
  if (::access("/usr/bin/systemd-notify", X_OK) != 0) GTEST_SKIP() << "no systemd-notify here";
  plugin("all_unit.sh", "sleep 0.2\nsystemd-notify --ready --status=up\nexec sleep 300\n");
  auto host = start_host("plughost:\n  plugins:\n    all_unit.sh:\n      notify: true\n");
  ASSERT_TRUE(eventually([&] { return state_of("all_unit.sh") == "ready"; }))
      << read_file(dir.path() / "bg.err");
  EXPECT_EQ(plugin_status("all_unit.sh")["status_text"], "up");
  stop_host(*host);
}

// A process that is not the plugin's, sending READY=1 to the plugin's socket, changes nothing.
TEST_F(health, a_message_from_a_process_outside_the_run_is_refused) {
  const auto address_file = dir.path() / "address";
  plugin("all_quiet.sh",
         "echo \"$NOTIFY_SOCKET\" > " + address_file.string() + "\nexec sleep 300\n");
  auto host = start_host("plughost:\n  plugins:\n    all_quiet.sh:\n      notify: true\n");
  ASSERT_TRUE(eventually([&] { return read_file(address_file).size() > 1; }));
  auto address = read_file(address_file);
  address.pop_back();  // its newline
  // A name the kernel chose (autobind): "@" and five hex digits, which nobody can take first.
  ASSERT_EQ(address.size(), 6u) << address;
  ASSERT_EQ(address.find_first_not_of("0123456789abcdef", 1), std::string::npos) << address;
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path + 1, address.data() + 1, address.size() - 1);
  const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size());
  const std::string ready = "READY=1";
  EXPECT_EQ(::sendto(fd, ready.data(), ready.size(), 0, reinterpret_cast<sockaddr*>(&a), length),
            static_cast<ssize_t>(ready.size()))
      << std::strerror(errno);
  ::close(fd);
  ASSERT_TRUE(eventually([&] {
    return read_file(dir.path() / "bg.err").find("which is not one of its processes") !=
           std::string::npos;
  })) << read_file(dir.path() / "bg.err");
  EXPECT_EQ(state_of("all_quiet.sh"), "starting");
  EXPECT_TRUE(events_named("all_quiet.sh", "ready").empty());
  stop_host(*host);
}

// A process of another plugin cannot pass for one of the run's: it cannot join the run's
// process group (each plugin is a session of its own), and from its own group it is refused.
TEST_F(health, another_plugin_cannot_join_the_runs_group_to_say_it_is_ready) {
  const auto address_file = dir.path() / "address";
  plugin("all_victim.sh", "echo \"$$ $NOTIFY_SOCKET\" > " + address_file.string() + ".tmp\nmv " +
                              address_file.string() + ".tmp " + address_file.string() +
                              "\nexec sleep 300\n");
  plugin("all_evil.py",
         "import os, socket, time\n"
         "while not os.path.exists('" +
             address_file.string() +
             "'): time.sleep(0.02)\n"
             "group, address = open('" +
             address_file.string() +
             "').read().split()\n"
             "try:\n"
             "    os.setpgid(0, int(group))\n"
             "    print('joined', flush=True)\n"
             "except OSError as e:\n"
             "    print('refused', e.errno, flush=True)\n"
             "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
             "s.sendto(b'READY=1', '\\0' + address[1:])\n"
             "time.sleep(300)\n");
  auto host =
      start_host("plughost:\n  cgroups: off\n  plugins:\n    all_victim.sh:\n      notify: true\n");
  ASSERT_TRUE(eventually([&] { return !lines_of("all_evil.py", "stdout").empty(); }))
      << read_file(dir.path() / "bg.err");
  EXPECT_EQ(lines_of("all_evil.py", "stdout")[0], "refused 1") << "EPERM: another session";
  ASSERT_TRUE(eventually([&] {
    return read_file(dir.path() / "bg.err").find("which is not one of its processes") !=
           std::string::npos;
  })) << read_file(dir.path() / "bg.err");
  EXPECT_EQ(state_of("all_victim.sh"), "starting");
  stop_host(*host);
}

// Its first run pings three times and falls silent: stopped one watchdog time after its last
// ping, as a failure, and restarted; its second run pings on. One watchdog stop in all.
TEST_F(health, a_plugin_that_stops_pinging_its_watchdog_is_stopped_and_restarted) {
  const auto marker = dir.path() / "second";
  const auto last = dir.path() / "last_ping";
  plugin("all_pinger.py", python_notify + "second = os.path.exists('" + marker.string() + "')\n" +
                              "open('" + marker.string() + "', 'w').close()\n" +
                              "notify('READY=1')\n"
                              "for i in range(1000000 if second else 3):\n"
                              "    notify('WATCHDOG=1')\n"
                              "    open('" +
                              last.string() +
                              "', 'w').write(repr(time.time()))\n"
                              "    time.sleep(0.2)\n"
                              "time.sleep(300)\n");
  auto host = start_host(
      "plughost:\n  plugins:\n    all_pinger.py:\n      notify: true\n      watchdog: 1s\n"
      "      restart: on-failure\n      restart_delay: 0.1s\n");
  ASSERT_TRUE(eventually([&] { return events_named("all_pinger.py", "started").size() == 2; }, 20s))
      << read_file(dir.path() / "bg.err");
  const auto watchdog = events_named("all_pinger.py", "watchdog");
  ASSERT_EQ(watchdog.size(), 1u);
  EXPECT_EQ(watchdog[0]["watchdog"], 1.0);
  const auto stopping = events_named("all_pinger.py", "stopping");
  ASSERT_GE(stopping.size(), 1u);
  EXPECT_EQ(stopping[0]["reason"], "watchdog");
  // One watchdog time after the last ping (the plugin wrote its time just after sending it).
  // A generous bound, only against a stop that came at another moment: make bench measures it.
  const double last_ping = std::stod(read_file(last));
  const double stopped = record_seconds(stopping[0]["ts"].get<std::string>());
  EXPECT_GT(stopped - last_ping, 0.8);
  EXPECT_LT(stopped - last_ping, 2.0);
  // The second run pings on: it is ready, and the counter stays at 1.
  ASSERT_TRUE(eventually([&] { return state_of("all_pinger.py") == "ready"; }));
  std::this_thread::sleep_for(1500ms);
  const auto p = plugin_status("all_pinger.py");
  EXPECT_EQ(p["health_failures"], json({{"watchdog", 1}}));
  EXPECT_EQ(p["restarts"], 1);
  EXPECT_EQ(events_named("all_pinger.py", "watchdog").size(), 1u);
  const auto metrics = http_get(port_, "/metrics").second;
  EXPECT_NE(metrics.find("plughost_plugin_health_failures_total{plugin=\"all_pinger.py\","
                         "reason=\"watchdog\"} 1"),
            std::string::npos);
  stop_host(*host);
}

// A Python plugin that listens on 127.0.0.1:`port` after `delay` seconds and does `then` with
// each connection it accepts (`held.append(c)`: keeps it, never answering).
std::string python_server(int port, double delay, const std::string& then) {
  return fmt::format(
      "import socket, time\n"
      "time.sleep({})\n"
      "s = socket.socket()\n"
      "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
      "s.bind(('127.0.0.1', {}))\n"
      "s.listen(16)\n"
      "held = []\n"
      "while True:\n"
      "    c, _ = s.accept()\n"
      "    {}\n",
      delay, port, then);
}

// A server that accepts and never answers: its HTTP liveness probe fails by its timeout, and
// after failure_threshold of them (initial_delay + (failure_threshold - 1) × period + timeout,
// Kubernetes' period × failure_threshold + timeout with initial_delay = period) it is stopped as
// a failure and restarted.
TEST_F(health, an_http_liveness_probe_that_gets_no_answer_restarts_the_plugin) {
  const int port = free_port(SOCK_STREAM);
  plugin("all_mute.py", python_server(port, 0, "held.append(c)"));
  auto host = start_host(fmt::format(
      "plughost:\n  plugins:\n    all_mute.py:\n      restart: on-failure\n"
      "      restart_delay: 0.2s\n      liveness: {{http: 'http://127.0.0.1:{}/health', "
      "initial_delay: 0.5s, period: 0.5s, timeout: 0.3s, failure_threshold: 2}}\n",
      port));
  ASSERT_TRUE(eventually([&] { return events_named("all_mute.py", "started").size() >= 2; }, 20s))
      << read_file(dir.path() / "bg.err");
  const auto started = record_seconds(events_named("all_mute.py", "started")[0]["ts"]);
  const auto stopping = events_named("all_mute.py", "stopping");
  ASSERT_GE(stopping.size(), 1u);
  EXPECT_EQ(stopping[0]["reason"], "liveness probe");
  const double after = record_seconds(stopping[0]["ts"]) - started;
  EXPECT_GT(after, 1.3 * 0.9);
  EXPECT_LT(after, 1.3 * 1.5) << "only against a stop at another moment: make bench measures it";
  const auto failed = events_named("all_mute.py", "probe");
  ASSERT_GE(failed.size(), 1u);
  EXPECT_EQ(failed[0]["probe"], "liveness");
  EXPECT_EQ(failed[0]["result"], "failed");
  EXPECT_EQ(failed[0]["message"], "no answer within 0.3s");
  const auto p = plugin_status("all_mute.py");
  EXPECT_GE(p["health_failures"].value("liveness", 0), 1);
  stop_host(*host);
}

// An exec probe that ignores SIGTERM and leaves a child: at its timeout its whole group gets
// SIGKILL, and its failure is the liveness probe's.
TEST_F(health, an_exec_probe_is_killed_with_its_group_at_its_timeout) {
  const auto child = dir.path() / "probe_child";
  plugin("all_fine.sh", "exec sleep 300\n");
  plugin("all_other.sh", "exec sleep 300\n");  // plughost runs on once all_fine.sh failed
  auto host = start_host(
      "plughost:\n  plugins:\n    all_fine.sh:\n      liveness: {exec: [bash, -c, 'trap \"\" "
      "TERM; sleep 300 & echo $! > " +
      child.string() + "; wait'], timeout: 0.5s, failure_threshold: 1}\n");
  ASSERT_TRUE(eventually([&] { return !events_named("all_fine.sh", "probe").empty(); }, 20s))
      << read_file(dir.path() / "bg.err");
  const auto failed = events_named("all_fine.sh", "probe");
  EXPECT_EQ(failed[0]["message"], "no end within 0.5s");
  const pid_t sleeper = std::stoi(read_file(child));
  EXPECT_TRUE(eventually([&] { return ::kill(sleeper, 0) != 0; }, 10s))
      << "the probe's child outlived its timeout";
  ASSERT_TRUE(eventually([&] { return state_of("all_fine.sh") == "failed"; }));
  EXPECT_EQ(events_named("all_fine.sh", "stopping")[0]["reason"], "liveness probe");
  stop_host(*host);
}

// A run that ends while its exec probe runs: the probe goes with it, killed and reaped (no
// zombie of plughost's is left, nor a process of the probe's).
TEST_F(health, an_exec_probe_under_way_goes_with_its_run) {
  const auto probe_pid = dir.path() / "probe_pid";
  plugin("all_short.sh", "sleep 1\n");
  plugin("all_other.sh", "exec sleep 300\n");
  auto host = start_host(
      "plughost:\n  plugins:\n    all_short.sh:\n      liveness: {exec: [bash, -c, 'echo $$ > " +
      probe_pid.string() + "; exec sleep 30'], timeout: 20s}\n");
  ASSERT_TRUE(eventually([&] { return read_file(probe_pid).size() > 1; }))
      << read_file(dir.path() / "bg.err");
  const pid_t probe = std::stoi(read_file(probe_pid));
  ASSERT_TRUE(eventually([&] { return !events_named("all_short.sh", "exited").empty(); }));
  EXPECT_TRUE(eventually([&] { return !fs::exists(fmt::format("/proc/{}", probe)); }, 10s))
      << "the probe of a run that ended is left (or a zombie)";
  stop_host(*host);
}

// An exec probe that writes more than a pipe holds (1 MiB to stdout and to stderr) ends and
// passes: its output goes nowhere, and nothing makes it wait for a reader.
TEST_F(health, an_exec_probe_that_writes_much_is_not_held_up_by_its_output) {
  plugin("all_loud.sh", "exec sleep 300\n");
  auto host = start_host(
      "plughost:\n  plugins:\n    all_loud.sh:\n      readiness: {exec: [bash, -c, 'head -c "
      "1048576 /dev/zero; head -c 1048576 /dev/zero >&2'], timeout: 5s, period: 0.2s}\n");
  ASSERT_TRUE(eventually([&] { return state_of("all_loud.sh") == "ready"; }, 20s))
      << read_file(dir.path() / "bg.err") << plugin_status("all_loud.sh").dump();
  EXPECT_TRUE(events_named("all_loud.sh", "probe").empty());
  stop_host(*host);
}

// A TCP readiness probe: starting until the plugin listens, then ready.
TEST_F(health, a_tcp_readiness_probe_says_ready_once_the_plugin_listens) {
  const int port = free_port(SOCK_STREAM);
  plugin("all_late.py", python_server(port, 0.5, "c.close()"));
  auto host =
      start_host(fmt::format("plughost:\n  plugins:\n    all_late.py:\n      readiness: "
                             "{{tcp: '127.0.0.1:{}', period: 0.2s}}\n",
                             port));
  ASSERT_TRUE(eventually([&] { return state_of("all_late.py") == "starting"; }));
  ASSERT_TRUE(eventually([&] { return state_of("all_late.py") == "ready"; }, 10s))
      << read_file(dir.path() / "bg.err");
  EXPECT_EQ(events_named("all_late.py", "ready")[0]["how"], "readiness probe");
  stop_host(*host);
}

TEST_F(health, readiness_settings_that_cannot_work_are_refused_at_their_line) {
  plugin("all_a.sh", "exit 0\n");
  const auto refused = [&](const std::string& entry) {
    const auto settings = dir.write("bad.yaml", "plughost:\n  plugins:\n    all_a.sh:\n" + entry);
    const auto r = run({"run", "--settings", settings.string()});
    EXPECT_EQ(r.exit_code, 2) << entry;
    return r.err;
  };
  const auto bad = (dir.path() / "bad.yaml").string();
  EXPECT_EQ(refused("      watchdog: 5s\n"),
            fmt::format("plughost: error: {}:4:17: plughost.plugins.all_a.sh: watchdog needs "
                        "notify: true (the plugin sends WATCHDOG=1 to its NOTIFY_SOCKET)\n",
                        bad));
  EXPECT_EQ(refused("      notify_fd: 2\n"),
            fmt::format("plughost: error: {}:4:18: plughost.plugins.all_a.sh: notify_fd must be 3 "
                        "or more, or 0 for none (1 and 2 are the plugin's stdout and stderr), got "
                        "2\n",
                        bad));
  EXPECT_EQ(refused("      notify: true\n      watchdog: 10ms\n"),
            fmt::format("plughost: error: {}:5:17: plughost.plugins.all_a.sh: watchdog must be at "
                        "least 100ms (0: none): a shorter one stops a plugin before it can "
                        "answer\n",
                        bad));
  EXPECT_EQ(refused("      notify_fd: 20\n      limits: {nofile: 20}\n"),
            fmt::format("plughost: error: {}:4:18: plughost.plugins.all_a.sh: notify_fd 20 is not "
                        "below its limits.nofile (20): the plugin could not have it open\n",
                        bad));
  EXPECT_EQ(refused("      ready_when: {log: '(a+)+\\1'}\n"),
            fmt::format("plughost: error: {}:4:25: plughost.plugins.all_a.sh.ready_when.log is "
                        "not a valid regular expression (POSIX extended, as grep -E): "
                        "backreferences (\\1 to \\9) are not allowed: their matching time has "
                        "no bound\n",
                        bad));
  EXPECT_EQ(refused("      ready_when: {log: 'a(b'}\n"),
            fmt::format("plughost: error: {}:4:25: plughost.plugins.all_a.sh.ready_when.log is "
                        "not a valid regular expression (POSIX extended, as grep -E): Unmatched "
                        "( or \\(\n",
                        bad));
  EXPECT_EQ(refused("      liveness: {exec: [true]}\n"),
            fmt::format("plughost: error: {}:4:24: exec in plughost.plugins.all_a.sh.liveness: "
                        "expected a list of strings, got a list holding the boolean true (quote "
                        "it to make it a string)\n",
                        bad));
  EXPECT_EQ(refused("      liveness: {tcp: 'localhost:http'}\n"),
            fmt::format("plughost: error: {}:4:23: plughost.plugins.all_a.sh.liveness.tcp must be "
                        "HOST:PORT such as 127.0.0.1:8080 (a port from 1 to 65535), got "
                        "localhost:http\n",
                        bad));
  EXPECT_EQ(refused("      ready_when: {line: x}\n"),
            fmt::format("plughost: error: {}:4:26: plughost.plugins.all_a.sh.ready_when: unknown "
                        "key 'line' (valid: log)\n",
                        bad));
}

}  // namespace
}  // namespace plughost::test
