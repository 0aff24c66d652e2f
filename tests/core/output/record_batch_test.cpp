// The owned copies the sinks' writer threads read: every record comes back as it went in, in
// order, to the sinks of its route only, and each sink's weight and count add up.
#include "output/record_batch.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "plughost/events.hpp"

namespace plughost::detail {
namespace {

struct seen {
  std::string plugin, line, event;
  int pid;
  stream from;
  bool partial;
  bool operator==(const seen&) const = default;
};

void PrintTo(const seen& s, std::ostream* os) {
  *os << s.plugin << "[" << s.pid << "] " << to_string(s.from) << (s.partial ? " partial" : "")
      << ": " << s.line << s.event;
}

std::vector<seen> read_back(const record_batch& b, std::size_t sink) {
  std::vector<seen> out;
  b.for_each_for(sink, [&](const record& r) {
    out.push_back({std::string(r.plugin), std::string(r.line), std::string(r.event), r.pid,
                   r.stream, r.partial});
  });
  return out;
}

record line(std::string_view plugin, int pid, std::string_view text,
            std::chrono::system_clock::time_point t, stream s = stream::out) {
  record r;
  r.time = t;
  r.plugin = plugin;
  r.pid = pid;
  r.stream = s;
  r.line = text;
  return r;
}

TEST(record_batch, lines_read_at_once_by_different_plugins_keep_their_own_plugin_and_pid) {
  // Same time, same route, names of the same length: only the plugin and pid tell them apart.
  const auto t = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
  const std::string a = "alpha", b = "bravo";
  const route both{0, 1};
  record_batch batch(2);
  batch.add(line(a, 10, "a1", t), both);
  batch.add(line(a, 10, "a2", t), both);
  batch.add(line(b, 10, "b1", t), both);  // another plugin, pid reused
  batch.add(line(b, 11, "b2", t), both);
  batch.add(line(b, 11, "b3", t, stream::err), both);
  auto cut = line(b, 11, "b4-cut", t, stream::err);
  cut.partial = true;
  batch.add(cut, both);
  batch.add(line(b, 11, "b5", t, stream::err), both);
  batch.seal();
  const std::vector<seen> want{
      {"alpha", "a1", "", 10, stream::out, false}, {"alpha", "a2", "", 10, stream::out, false},
      {"bravo", "b1", "", 10, stream::out, false}, {"bravo", "b2", "", 11, stream::out, false},
      {"bravo", "b3", "", 11, stream::err, false}, {"bravo", "b4-cut", "", 11, stream::err, true},
      {"bravo", "b5", "", 11, stream::err, false},
  };
  EXPECT_EQ(read_back(batch, 0), want);
  EXPECT_EQ(read_back(batch, 1), want);
  EXPECT_EQ(batch.records_for(0), 7u);
}

TEST(record_batch, each_sink_gets_only_its_routes_and_its_own_weight) {
  const auto t = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
  const std::string p = "p";
  const route first{0}, second{1}, both{0, 1};
  record_batch batch(2);
  batch.add(line(p, 1, "to first", t), first);
  batch.add(line(p, 1, "to both", t), both);  // same plugin and time, other route
  batch.add(line(p, 1, "to second", t), second);
  std::vector<event_field> fields{{"code", std::int64_t{3}}};
  record e;
  e.time = t;
  e.plugin = p;
  e.pid = 1;
  e.stream = stream::event;
  e.event = events::exited;
  e.fields = fields;
  batch.add(e, both);
  batch.seal();
  const auto first_seen = read_back(batch, 0);
  const auto second_seen = read_back(batch, 1);
  ASSERT_EQ(first_seen.size(), 3u);
  EXPECT_EQ(first_seen[0].line, "to first");
  EXPECT_EQ(first_seen[1].line, "to both");
  EXPECT_EQ(first_seen[2].event, "exited");
  ASSERT_EQ(second_seen.size(), 3u);
  EXPECT_EQ(second_seen[0].line, "to both");
  EXPECT_EQ(second_seen[1].line, "to second");
  EXPECT_EQ(second_seen[2].event, "exited");
  EXPECT_EQ(batch.records_for(0), 3u);
  EXPECT_EQ(batch.records_for(1), 3u);
  std::map<std::string, std::uint64_t, std::less<>> counts;
  batch.count_per_plugin(1, counts);
  EXPECT_EQ(counts["p"], 3u);
}

TEST(record_batch, an_event_owns_its_fields_once_the_caller_s_strings_are_gone) {
  const route only{0};  // a route outlives the batch
  record_batch batch(1);
  {
    std::string plugin = "gone", name = "started", key = "command", value = "python3 x.py";
    std::vector<std::string> list{"a", "b"};
    std::string list_key = "args";
    std::vector<event_field> fields{{key, std::string_view(value)},
                                    {list_key, std::span<const std::string>(list)}};
    record e;
    e.plugin = plugin;
    e.stream = stream::event;
    e.event = name;
    e.fields = fields;
    batch.add(e, only);
    std::fill(plugin.begin(), plugin.end(), 'x');
    std::fill(value.begin(), value.end(), 'x');
    list[0] = "changed";
  }
  batch.seal();
  int n = 0;
  batch.for_each_for(0, [&](const record& r) {
    ++n;
    EXPECT_EQ(r.plugin, "gone");
    EXPECT_EQ(r.event, "started");
    ASSERT_EQ(r.fields.size(), 2u);
    EXPECT_EQ(r.fields[0].key, "command");
    EXPECT_EQ(std::get<std::string_view>(r.fields[0].value), "python3 x.py");
    const auto args = std::get<std::span<const std::string>>(r.fields[1].value);
    ASSERT_EQ(args.size(), 2u);
    EXPECT_EQ(args[0], "a");
  });
  EXPECT_EQ(n, 1);
}

}  // namespace
}  // namespace plughost::detail
