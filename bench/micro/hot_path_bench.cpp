// Where the time per line goes: splitting pipe bytes into lines, and each sink's formatting of
// an output record (written to /dev/null, so that only formatting and buffering are measured).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "file/file_sink.hpp"
#include "jsonl/jsonl_sink.hpp"
#include "output/line_splitter.hpp"
#include "stdout/stdout_sink.hpp"

namespace {

// 64 KiB of "line <n>\n", like `seq` output read in one go.
std::string chunk_of_lines() {
  std::string s;
  for (int i = 0; s.size() < 64 * 1024; ++i) s += "line " + std::to_string(i) + "\n";
  return s;
}

void BM_split_lines(benchmark::State& state) {
  const auto chunk = chunk_of_lines();
  plughost::detail::line_splitter splitter;
  std::size_t lines = 0;
  for (auto _ : state) {
    splitter.feed(chunk, [&](std::string_view line, bool) {
      benchmark::DoNotOptimize(line.data());
      ++lines;
    });
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(lines));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * chunk.size()));
}
BENCHMARK(BM_split_lines);

plughost::record output_record(std::string_view text) {
  plughost::record r;
  r.time = std::chrono::system_clock::now();
  r.plugin = "all_metrics.sh";
  r.pid = 4242;
  r.stream = plughost::stream::out;
  r.line = text;
  return r;
}

// One record per iteration, as the pump hands them over (same batch time), flushed per 1000.
template <typename Sink>
void run_sink(benchmark::State& state, Sink& sink, std::string_view text) {
  const auto r = output_record(text);
  std::int64_t n = 0;
  for (auto _ : state) {
    sink.write(r);
    if (++n % 1000 == 0) sink.flush();
  }
  sink.flush();
  state.SetItemsProcessed(n);
}

void BM_jsonl_plain_line(benchmark::State& state) {
  plughost::sinks::jsonl_sink sink("/dev/null");
  run_sink(state, sink, "metric plugin_loop_count=123456 latency_ms=12.5");
}
BENCHMARK(BM_jsonl_plain_line);

void BM_jsonl_line_needing_escapes(benchmark::State& state) {
  plughost::sinks::jsonl_sink sink("/dev/null");
  run_sink(state, sink, "path \"C:\\\\temp\" caf\xc3\xa9 \t tab");
}
BENCHMARK(BM_jsonl_line_needing_escapes);

void BM_file_line(benchmark::State& state) {
  plughost::sinks::file_sink sink("/dev/null", 0, 5);
  run_sink(state, sink, "metric plugin_loop_count=123456 latency_ms=12.5");
}
BENCHMARK(BM_file_line);

void BM_stdout_line(benchmark::State& state) {
  const int fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  plughost::sinks::stdout_sink sink(fd, false);
  run_sink(state, sink, "metric plugin_loop_count=123456 latency_ms=12.5");
  ::close(fd);
}
BENCHMARK(BM_stdout_line);

}  // namespace

BENCHMARK_MAIN();
