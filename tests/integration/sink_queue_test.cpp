// Sinks behind bounded queues: a sink that stops writing never stalls the loop, signals or the
// other sinks; `block` holds plugins back without losing or buffering without bound; the drop
// policies count what they drop. The stuck sink is the stdout sink writing into a FIFO that the
// test stops reading, as a consumer of plughost's output that hangs would.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "integration.hpp"
#include "stalled_reader.hpp"

namespace plughost::test {
namespace {

using namespace std::chrono_literals;

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

class sink_queue : public plughost_run {
 protected:
  // plughost with its stdout on the stalled FIFO, and `sinks` (YAML flow list) configured.
  std::unique_ptr<child_process> start_with_sinks(const std::string& sinks,
                                                  const std::string& extra = "") {
    const auto config = dir.write("c.yaml",
                                  "runtime_plugin_locations: [plugins]\nplughost:\n"
                                  "  stop_timeout: 1s\n  sinks: " +
                                      sinks + "\n" + extra);
    std::vector<std::string> argv{plughost_binary().string(), "run", "--config", config.string()};
    return std::make_unique<child_process>(
        child_process::options{argv, env, consumer.path(), dir.path() / "bg.err", {}, {}});
  }
  std::string jsonl() const { return "\"jsonl:" + records_file.string() + "\""; }

  bool has_event(const std::string& plugin, const std::string& event) const {
    const auto events = events_of(records_of(plugin));
    return std::any_of(events.begin(), events.end(),
                       [&](const json& e) { return e.value("event", "") == event; });
  }

  // The end of a plugin that waits for the test (written_all_then_wait()) before it exits:
  // plughost ends with its last plugin, and gives a stalled sink only seconds then.
  std::string written_all_then_wait() const {
    return "echo written-all >&2\nwhile [ ! -e '" + (dir.path() / "go").string() +
           "' ]; do sleep 0.05; done\n";
  }
  bool wait_for_written_all(const std::string& plugin) const {
    return eventually(
        [&] {
          const auto err = lines_of(plugin, "stderr");
          return std::find(err.begin(), err.end(), "written-all") != err.end();
        },
        60s);
  }
  // The consumer reads from now on; then the waiting plugin ends.
  void drain_then_go() {
    consumer.drain();
    dir.write("go", "");
  }

  std::int64_t reported(const std::string& event, const std::string& plugin,
                        const std::string& sink) const {
    std::int64_t n = 0;
    for (const auto& e : events_of(records_of(plugin))) {
      if (e.value("event", "") == event && e.value("sink", "") == sink) {
        n += e.value("records", std::int64_t{0});
      }
    }
    return n;
  }

  stalled_reader consumer{dir.path() / "consumer.fifo"};
};

TEST_F(sink_queue, a_stuck_sink_stalls_neither_signals_nor_the_other_sinks) {
  // Without queues, the loop itself would block in the stdout sink's write: SIGTERM unheard,
  // the jsonl sink frozen, plughost alive until SIGKILL.
  plugin("flood.sh", "yes 'a line of plugin output that fills the pipe'\n");
  plugin("quiet.sh", "sleep 1\necho hello\nexec sleep 300\n");
  auto host = start_with_sinks("[stdout, " + jsonl() + "]");
  ASSERT_TRUE(wait_for_line("quiet.sh", "hello")) << "the jsonl sink stalled with stdout";
  host->signal(SIGTERM);
  // stop_timeout 1 s, then 5 s for the sinks to finish: the bound only catches a hang.
  const auto status = host->wait_for(30s);
  ASSERT_TRUE(status) << "plughost did not stop while a sink was stuck";
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 3) << "records were lost: " << read_file(dir.path() / "bg.err");
  for (const std::string p : {"flood.sh", "quiet.sh"}) {
    EXPECT_TRUE(has_event(p, "stopping")) << p;
    EXPECT_TRUE(has_event(p, "exited")) << p;
  }
  const auto err = read_file(dir.path() / "bg.err");
  // Left behind after 4 of its 5 s: the last second is the healthy sink's, which gets the last
  // `lost` event, with the whole count (the one on stderr), and is never left behind itself.
  EXPECT_NE(err.find("plughost: error: sink stdout was still busy 4000 ms after the plugins "
                     "stopped: left behind"),
            std::string::npos)
      << err;
  EXPECT_EQ(err.find("sink jsonl"), std::string::npos) << err;
  const auto at = err.find("plughost: error: sink stdout: ");
  ASSERT_NE(at, std::string::npos) << err;
  const auto lost_on_stderr = std::stoll(err.substr(at + 30));
  std::int64_t last_total = -1;
  for (const auto& e : events_of(records_of(""))) {
    if (e.value("event", "") == "lost" && e.value("sink", "") == "stdout") {
      last_total = e.value("total", std::int64_t{-1});
    }
  }
  EXPECT_EQ(last_total, lost_on_stderr);
}

TEST_F(sink_queue, block_holds_plugins_back_within_the_queue_size_and_loses_nothing) {
  // 1,000,000 lines of 100 bytes: 100 MB that the stalled sink cannot take. Held back, the
  // plugin waits in write(); buffered without bound, plughost would grow by about 160 MB.
  plugin("big.sh", "yes \"$(printf '%099d' 0)\" | head -n 1000000\n");
  auto host = start_with_sinks("[{type: stdout, queue_size: 1MiB}, " + jsonl() + "]");
  // Held back: the jsonl sink stops growing well short of the end.
  std::size_t seen = 0;
  ASSERT_TRUE(eventually([&] {
    const auto before = lines_of("big.sh", "stdout").size();
    std::this_thread::sleep_for(300ms);
    seen = lines_of("big.sh", "stdout").size();
    return seen > 0 && seen == before;
  }));
  EXPECT_LT(seen, 100'000u) << "not held back";
  const auto rss_kib = status_field(host->pid(), "VmRSS");
  EXPECT_LT(rss_kib, 64 * 1024) << "plughost buffers beyond its queue";
  consumer.drain();
  const auto status = host->wait_for(120s);
  ASSERT_TRUE(status);
  EXPECT_EQ(WEXITSTATUS(*status), 0) << read_file(dir.path() / "bg.err");
  EXPECT_EQ(lines_of("big.sh", "stdout").size(), 1'000'000u);
  ASSERT_TRUE(eventually([&] { return consumer.done(); }, 30s));
  EXPECT_EQ(count_of(consumer.text(), "[big.sh] 000"), 1'000'000u);
}

TEST_F(sink_queue, drop_new_lets_the_other_sinks_flow_and_counts_what_it_drops) {
  plugin("many.sh",
         "i=0; while [ $i -lt 20 ]; do seq 1 5000 | sed 's/^/line /'; "
         "i=$((i + 1)); done\n" +
             written_all_then_wait());
  auto host =
      start_with_sinks("[{type: stdout, queue_size: 64KiB, overflow: drop_new}, " + jsonl() + "]");
  // The plugin is not held back: it writes everything although stdout takes nothing.
  ASSERT_TRUE(wait_for_written_all("many.sh")) << read_file(dir.path() / "bg.err");
  EXPECT_EQ(lines_of("many.sh", "stdout").size(), 100'000u);
  drain_then_go();
  const auto status = host->wait_for(30s);
  ASSERT_TRUE(status);
  EXPECT_EQ(WEXITSTATUS(*status), 0) << read_file(dir.path() / "bg.err");
  ASSERT_TRUE(eventually([&] { return consumer.done(); }, 30s));
  const auto delivered = count_of(consumer.text(), "[many.sh] line ");
  const auto dropped = reported("dropped", "many.sh", "stdout");
  EXPECT_GT(dropped, 0);
  // Lines only: the events that were dropped count too, so the sum may pass the lines.
  EXPECT_GE(static_cast<std::int64_t>(delivered) + dropped, 100'000);
  EXPECT_LT(delivered, 100'000u);
  EXPECT_NE(consumer.text().find("[many.sh] line 1\n"), std::string::npos) << "the oldest stay";
  const auto err = read_file(dir.path() / "bg.err");
  // At exit, in all: the events' counts and what was dropped after the last event (the events
  // about dropping are records too).
  EXPECT_NE(err.find("plughost: warning: sink stdout: "), std::string::npos) << err;
  EXPECT_NE(err.find(" records dropped because its queue was full (many.sh "), std::string::npos)
      << err;
}

TEST_F(sink_queue, a_full_drop_new_sink_does_not_report_its_own_reports_for_ever) {
  // The `dropped` events go to the full sink too and are dropped there: counted as drops, they
  // would make one more event every second while the plugin is quiet.
  plugin("burst.sh", "seq 1 50000 | sed 's/^/line /'\necho burst-done\nexec sleep 300\n");
  auto host =
      start_with_sinks("[{type: stdout, queue_size: 64KiB, overflow: drop_new}, " + jsonl() + "]");
  ASSERT_TRUE(wait_for_line("burst.sh", "burst-done")) << read_file(dir.path() / "bg.err");
  const auto dropped_events = [&] {
    std::vector<json> found;
    for (const auto& e : events_of(records_of("burst.sh"))) {
      if (e.value("event", "") == "dropped" && e.value("sink", "") == "stdout") found.push_back(e);
    }
    return found;
  };
  std::this_thread::sleep_for(3s);  // the reports of the burst are out by now (once a second)
  const auto settled = dropped_events();
  std::this_thread::sleep_for(3s);  // the plugin is quiet: nothing more to report
  const auto later = dropped_events();
  host->signal(SIGTERM);
  consumer.drain();
  ASSERT_TRUE(host->wait_for(30s));
  ASSERT_FALSE(settled.empty());
  EXPECT_EQ(later.size(), settled.size()) << "events about events, every second";
  std::int64_t sum = 0;
  for (const auto& e : later) sum += e.value("records", std::int64_t{0});
  EXPECT_EQ(later.back().value("total", std::int64_t{-1}), sum);
  EXPECT_LE(sum, 50'000 + 2) << "lines, started, and the line after the burst at most";
}

TEST_F(sink_queue, drop_oldest_keeps_the_newest_records) {
  plugin("many.sh", "seq 1 100000 | sed 's/^/line /'\n" + written_all_then_wait());
  auto host = start_with_sinks("[{type: stdout, queue_size: 64KiB, overflow: drop_oldest}, " +
                               jsonl() + "]");
  ASSERT_TRUE(wait_for_written_all("many.sh")) << read_file(dir.path() / "bg.err");
  drain_then_go();
  const auto status = host->wait_for(30s);
  ASSERT_TRUE(status);
  EXPECT_EQ(WEXITSTATUS(*status), 0) << read_file(dir.path() / "bg.err");
  ASSERT_TRUE(eventually([&] { return consumer.done(); }, 30s));
  const auto text = consumer.text();
  EXPECT_NE(text.find("[many.sh] line 100000\n"), std::string::npos)
      << "the newest stay" << text.substr(text.size() > 300 ? text.size() - 300 : 0)
      << read_file(dir.path() / "bg.err");
  EXPECT_NE(text.find("exited with code 0"), std::string::npos);
  EXPECT_GT(reported("dropped", "many.sh", "stdout"), 0);
}

}  // namespace
}  // namespace plughost::test
