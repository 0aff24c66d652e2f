// What a stalled sink costs plughost: each sink's queue holds at most its queue_size of memory,
// counted as what its batches really hold, whatever the policy, the sink or the line rate; and
// under `block` nothing else piles up beside it: the events and leftovers of runs that end and
// restart wait for room like the lines do.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <thread>

#include "integration.hpp"
#include "stalled_reader.hpp"

namespace plughost::test {
namespace {

using namespace std::chrono_literals;
constexpr std::size_t mib = 1024 * 1024;

// A TCP port on 127.0.0.1 where nothing listens (bound once, then closed).
int closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), size);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &size);
  ::close(fd);
  return ntohs(a.sin_port);
}

// Resident memory says what plughost holds only without a sanitizer: AddressSanitizer keeps
// freed memory in quarantine, ThreadSanitizer adds shadow memory in proportion to what is used.
// The queues' own accounting is checked everywhere.
#if defined(__SANITIZE_THREAD__)
constexpr bool resident_is_measurable = false;
#else
constexpr bool resident_is_measurable = memory_is_measurable;
#endif

std::size_t resident_bytes(pid_t pid) {
  const auto kib = status_field(pid, "VmRSS");
  return kib < 0 ? 0 : static_cast<std::size_t>(kib) * 1024;
}

class sink_memory : public plughost_run {
 protected:
  // A plughost whose stdout and jsonl sinks write into FIFOs nobody reads and whose syslog sink
  // sends over TCP to a port where nothing listens: all three stalled, with `overflow`.
  struct stalled_host {
    std::string overflow;
    std::size_t queue = 0;
    std::unique_ptr<stalled_reader> out, jsonl;
    std::unique_ptr<child_process> process;
    fs::path err, socket;
    std::size_t peak = 0, peak_queued = 0;
  };

  void start(stalled_host& h) {
    h.out = std::make_unique<stalled_reader>(dir.path() / (h.overflow + ".out.fifo"));
    h.jsonl = std::make_unique<stalled_reader>(dir.path() / (h.overflow + ".jsonl.fifo"));
    const auto queue = fmt_queue(h);
    h.socket = dir.path() / (h.overflow + ".sock");
    const auto config =
        dir.write(h.overflow + ".yaml",
                  "runtime_plugin_locations: [plugins]\nplughost:\n  stop_timeout: 1s\n"
                  "  control_socket: '" +
                      h.socket.string() +
                      "'\n  sinks:\n"
                      "    - {type: stdout, " +
                      queue +
                      "}\n"
                      "    - {type: jsonl, path: '" +
                      h.jsonl->path().string() + "', " + queue +
                      "}\n"
                      "    - {type: syslog, transport: tcp, address: '127.0.0.1:" +
                      std::to_string(closed_port()) + "', retry_delay_max: 1s, " + queue + "}\n");
    h.err = dir.path() / (h.overflow + ".err");
    h.process = std::make_unique<child_process>(
        child_process::options{{plughost_binary().string(), "run", "--config", config.string()},
                               env,
                               h.out->path(),
                               h.err,
                               {},
                               {}});
  }

  // The most any of its sinks' queues held, as its status says.
  std::size_t queued(const stalled_host& h) const {
    const auto r = run_plughost({"status", "--json", "--socket", h.socket.string()}, env, dir, 30s);
    std::size_t most = 0;
    if (r.exit_code != 0) return most;
    for (const auto& k : json::parse(r.out).value("sinks", json::array())) {
      most = std::max(most, k.value("queued_bytes", std::size_t{0}));
    }
    return most;
  }

  static std::string fmt_queue(const stalled_host& h) {
    return "queue_size: " + std::to_string(h.queue) + ", overflow: " + h.overflow;
  }
};

TEST_F(sink_memory,
       resident_memory_stays_within_the_queue_sizes_under_a_stall_whatever_the_policy) {
  // Eight plugins, a line per millisecond each: one-line batches, the case where a batch's
  // buffers weigh far more than its text.
  for (int i = 0; i < 8; ++i) {
    plugin("chatty_" + std::to_string(i) + ".py",
           "import time\nn = 0\nwhile True:\n"
           "    print(f'chatty " +
               std::to_string(i) +
               " {n}: a line of plugin output written once a millisecond', flush=True)\n"
               "    n += 1\n    time.sleep(0.001)\n");
  }
  std::vector<stalled_host> hosts(3);
  hosts[0].overflow = "block";
  hosts[0].queue = 8 * mib;  // the default
  hosts[1].overflow = "drop_new";
  hosts[1].queue = 1 * mib;
  hosts[2].overflow = "drop_oldest";
  hosts[2].queue = 1 * mib;
  for (auto& h : hosts) start(h);
  // Held for 16 s: the queues fill within seconds; what grows with time shows after.
  const auto until = std::chrono::steady_clock::now() + 16s;
  while (std::chrono::steady_clock::now() < until) {
    for (auto& h : hosts) {
      h.peak = std::max(h.peak, resident_bytes(h.process->pid()));
      h.peak_queued = std::max(h.peak_queued, queued(h));
    }
    std::this_thread::sleep_for(250ms);
  }
  for (auto& h : hosts) h.process->signal(SIGTERM);
  for (auto& h : hosts) ASSERT_TRUE(h.process->wait_for(60s)) << h.overflow;
  for (const auto& h : hosts) {
    // Three queues of `queue` each, and what plughost needs besides (its code, its libraries,
    // eight plugins' pumps): about 10 MiB on this machine.
    const auto bound = 3 * h.queue + 16 * mib;
    std::printf(
        "[ figure ] %s, 3 stalled sinks of %zu MiB: peak resident %.1f MiB (bound %zu), "
        "fullest queue %.2f MiB\n",
        h.overflow.c_str(), h.queue / mib, static_cast<double>(h.peak) / mib, bound / mib,
        static_cast<double>(h.peak_queued) / mib);
    if (resident_is_measurable) {
      EXPECT_LE(h.peak, bound) << h.overflow << ": " << h.peak / mib << " MiB resident";
    }
    // A queue passes its size by one read at most (an eighth of it) and a few events.
    EXPECT_LE(h.peak_queued, h.queue + h.queue / 8 + 64 * 1024) << h.overflow;
    EXPECT_GE(h.peak_queued, h.queue / 2) << h.overflow << ": the queue never filled";
    const auto err = read_file(h.err);
    // The stall was real: the queues filled.
    if (h.overflow == "block") {
      EXPECT_NE(err.find("left behind"), std::string::npos) << err;
    } else {
      EXPECT_NE(err.find("dropped because its queue was full"), std::string::npos) << err;
    }
  }
}

TEST_F(sink_memory, under_block_runs_that_end_wait_for_room_with_their_leftovers_and_events) {
  // Each run leaves 60,000 bytes in its pipe (less than a pipe holds: it never waits in
  // write()) and exits at once: a crash loop, and a periodic job, on a stalled 64 KiB queue.
  const std::string burst =
      "i=0; while [ $i -lt 600 ]; do printf '%s %099d\n' \"$$\" $i; i=$((i+1)); done\n";
  plugin("crash.sh", "echo begins $$ >&2\n" + burst + "exit 1\n");
  plugin("periodic.sh", burst);
  plugin("silent.sh", "exit 1\n");  // a crash loop of events only
  stalled_reader consumer(dir.path() / "out.fifo");
  const auto config =
      dir.write("c.yaml",
                "runtime_plugin_locations: [plugins]\nplughost:\n  stop_timeout: 1s\n"
                "  sinks:\n    - {type: stdout, queue_size: 64KiB, overflow: block}\n"
                "    - {type: jsonl, path: '" +
                    records_file.string() +
                    "'}\n"
                    "  plugins:\n"
                    "    crash.sh: {restart: always, restart_delay: 0, max_restarts: 1000000}\n"
                    "    periodic.sh: {restart: interval, interval: 0.2s}\n"
                    "    silent.sh: {restart: always, restart_delay: 0, max_restarts: 1000000}\n");
  child_process host(
      {{plughost_binary().string(), "run", "--role", "none", "--config", config.string()},
       env,
       consumer.path(),
       dir.path() / "host.err",
       {},
       {}});
  const auto status = [&] {
    const auto r = run_plughost({"status", "--role", "none", "--json"}, env, dir, 30s);
    return r.exit_code == 0 ? json::parse(r.out) : json();
  };
  const auto restarts = [](const json& st, const std::string& name) -> std::uint64_t {
    for (const auto& p : st.value("plugins", json::array())) {
      if (p["name"] == name) return p.value("restarts", std::uint64_t{0});
    }
    return 0;
  };
  ASSERT_TRUE(eventually([&] { return status().is_object(); }))
      << read_file(dir.path() / "host.err");
  std::size_t peak_queue = 0, peak_resident = 0;
  json last, halfway;
  const auto begun = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() < begun + 8s) {
    if (halfway.is_null() && std::chrono::steady_clock::now() >= begun + 4s) halfway = status();
    last = status();
    for (const auto& k : last.value("sinks", json::array())) {
      if (k["name"] == "stdout")
        peak_queue = std::max(peak_queue, k["queued_bytes"].get<std::size_t>());
    }
    peak_resident = std::max(peak_resident, resident_bytes(host.pid()));
    std::this_thread::sleep_for(250ms);
  }
  std::printf(
      "[ figure ] stalled 64 KiB queue, 8 s: peak queued %zu bytes, resident %.1f MiB, "
      "restarts crash %llu periodic %llu silent %llu\n",
      peak_queue, static_cast<double>(peak_resident) / mib,
      static_cast<unsigned long long>(restarts(last, "crash.sh")),
      static_cast<unsigned long long>(restarts(last, "periodic.sh")),
      static_cast<unsigned long long>(restarts(last, "silent.sh")));
  // The queue's size, one read past it (an eighth of it, as it grows in memory), and the events
  // of the runs that ended as it filled (about 1.5 KiB a run): never the leftovers of runs.
  EXPECT_LE(peak_queue, 64u * 1024 + 32 * 1024) << last.dump();
  // The queue is full within a second or two: from then on no run starts until there is room.
  for (const auto* name : {"crash.sh", "periodic.sh", "silent.sh"}) {
    EXPECT_EQ(restarts(last, name), restarts(halfway, name)) << name << " waits for room";
  }
  if (resident_is_measurable) {
    EXPECT_LE(peak_resident, 32 * mib);
  }

  // A run whose exit waits for room says so, and stopping it by hand has nothing left to stop.
  const auto state = [](const json& st, const std::string& name) {
    for (const auto& p : st.value("plugins", json::array())) {
      if (p["name"] == name) return p.value("state", "");
    }
    return std::string();
  };
  // Which runs ended with output still in their pipes depends on whose lines filled the queue:
  // one of the two bursts at least (the other's exit may have been read, its restart held).
  std::string draining;
  for (const auto* name : {"crash.sh", "periodic.sh"}) {
    if (draining.empty() && state(last, name) == "draining") draining = name;
  }
  ASSERT_FALSE(draining.empty()) << last.dump();
  const auto restarted = run_plughost({"restart", "--role", "none", draining}, env, dir, 30s);
  EXPECT_EQ(restarted.exit_code, 0) << restarted.err;
  std::this_thread::sleep_for(1500ms);  // past the 1 s stop timeout
  EXPECT_EQ(read_file(dir.path() / "host.err").find("did not stop in time"), std::string::npos)
      << read_file(dir.path() / "host.err");

  // The consumer reads again: the runs go on, and nothing of what they wrote was lost.
  consumer.drain();
  // A few runs are enough to show they go on (a sanitizer build beside other tests is slow).
  ASSERT_TRUE(eventually([&] { return restarts(status(), "crash.sh") >= 5; }, 120s));
  host.signal(SIGTERM);
  ASSERT_TRUE(host.wait_for(60s));
  std::map<long, std::size_t> lines_per_run;
  std::map<long, bool> exited;
  for (const auto& r : records_of("crash.sh")) {
    const auto pid = r["pid"].is_number() ? r["pid"].get<long>() : 0;
    if (r["stream"] == "stdout") {
      EXPECT_FALSE(exited[pid]) << "a line after its run's exit event";
      ++lines_per_run[pid];
    }
    if (r["stream"] == "event" && r.value("event", "") == "exited") exited[pid] = true;
  }
  std::size_t complete = 0;
  for (const auto& [pid, n] : lines_per_run) {
    if (exited[pid] && n == 600) ++complete;
    // The last run may have been stopped while it wrote; every other run wrote all 600.
  }
  EXPECT_GE(complete + 1, lines_per_run.size());
  EXPECT_GE(complete, 5u);
}

}  // namespace
}  // namespace plughost::test
