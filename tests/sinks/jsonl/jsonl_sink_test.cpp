// The jsonl sink writes exactly the record objects to a real file.
#include "jsonl/jsonl_sink.hpp"

#include <gtest/gtest.h>

#include "plughost/events.hpp"
#include "test_support.hpp"

namespace plughost::sinks {
namespace {

using namespace std::chrono;
using test::temp_dir;

record output(stream s, std::string_view text, bool partial = false) {
  record r;
  r.time = system_clock::time_point(seconds(1795953600) + microseconds(123456));
  r.plugin = "all_plugin.sh";
  r.pid = 4242;
  r.stream = s;
  r.line = text;
  r.partial = partial;
  return r;
}

TEST(jsonl_sink, writes_one_object_per_record_in_spec_order) {
  temp_dir dir;
  const auto file = dir.path() / "out.jsonl";
  {
    jsonl_sink s(file.string());
    s.write(output(stream::out, "hello"));
    s.write(output(stream::err, "piece", true));
    record e = output(stream::event, "");
    const std::vector<std::string> argv{"/bin/bash", "/p/all_plugin.sh"};
    const event_field started[] = {{"argv", std::span<const std::string>(argv)}};
    e.event = events::started;
    e.fields = started;
    s.write(e);
    record skipped = output(stream::event, "");
    skipped.pid = 0;
    const event_field reason[] = {{"reason", std::string_view("requires role WORKER")}};
    skipped.event = events::skipped;
    skipped.fields = reason;
    s.write(skipped);
    s.flush();
  }
  EXPECT_EQ(
      test::read_file(file),
      R"({"ts":"2026-11-29T12:00:00.123456Z","plugin":"all_plugin.sh","pid":4242,"stream":"stdout","line":"hello"})"
      "\n"
      R"({"ts":"2026-11-29T12:00:00.123456Z","plugin":"all_plugin.sh","pid":4242,"stream":"stderr","line":"piece","partial":true})"
      "\n"
      R"({"ts":"2026-11-29T12:00:00.123456Z","plugin":"all_plugin.sh","pid":4242,"stream":"event","event":"started","argv":["/bin/bash","/p/all_plugin.sh"]})"
      "\n"
      R"({"ts":"2026-11-29T12:00:00.123456Z","plugin":"all_plugin.sh","pid":null,"stream":"event","event":"skipped","reason":"requires role WORKER"})"
      "\n");
}

TEST(jsonl_sink, bytes_that_are_not_utf8_become_replacement_characters) {
  EXPECT_EQ(jsonl_sink::to_json_line(output(stream::out,
                                            "a\xff"
                                            "b\"\n"),
                                     "T"),
            R"({"ts":"T","plugin":"all_plugin.sh","pid":4242,"stream":"stdout","line":"a)"
            "\xef\xbf\xbd"
            R"(b\"\n"})");
}

TEST(jsonl_sink, appends_to_an_existing_file) {
  temp_dir dir;
  const auto file = dir.write("out.jsonl", "{\"earlier\":true}\n");
  {
    jsonl_sink s(file.string());
    s.write(output(stream::out, "x"));
  }
  const auto lines = test::read_jsonl(file);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1]["line"], "x");
}

TEST(jsonl_sink, cannot_open_is_an_error_and_a_full_disk_an_exception) {
  EXPECT_THROW(jsonl_sink("/nonexistent-dir/x.jsonl"), std::system_error);
  jsonl_sink full("/dev/full");
  full.write(output(stream::out, "x"));
  full.write(output(stream::out, "y"));
  try {
    full.flush();
    ADD_FAILURE() << "no exception";
  } catch (const sink_error& e) {
    EXPECT_EQ(e.lost(), 2u);
    EXPECT_STREQ(e.what(), "write: No space left on device (2 records not written)");
  }
  EXPECT_NO_THROW(full.flush()) << "what failed is not written again";
}

}  // namespace
}  // namespace plughost::sinks
