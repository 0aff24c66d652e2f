// Record helpers shared by every sink: stream names, timestamps, human event descriptions.
#include "plughost/record.hpp"

#include <fmt/format.h>
#include <time.h>

#include <algorithm>
#include <iterator>
#include <type_traits>

namespace plughost {

std::string_view to_string(stream s) noexcept {
  switch (s) {
    case stream::out:
      return "stdout";
    case stream::err:
      return "stderr";
    case stream::event:
      return "event";
  }
  return "event";
}

bool batch_tracker::same_batch(const record& r) {
  // The plugin's name is compared by address first: cheaper than comparing its bytes per line.
  const bool same = any_ && r.time == time_ && r.pid == pid_ && r.stream == stream_ &&
                    r.partial == partial_ &&
                    ((r.plugin.data() == plugin_data_ && r.plugin.size() == plugin_.size()) ||
                     r.plugin == plugin_);
  plugin_data_ = r.plugin.data();
  if (same) return true;
  any_ = true;
  time_ = r.time;
  pid_ = r.pid;
  stream_ = r.stream;
  partial_ = r.partial;
  plugin_.assign(r.plugin);
  return false;
}

std::string format_timestamp(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  const auto us = time_point_cast<microseconds>(t);
  auto secs = time_point_cast<seconds>(us);
  auto frac = (us - secs).count();
  if (frac < 0) {  // before 1970: keep the fraction positive
    secs -= seconds(1);
    frac += 1'000'000;
  }
  const time_t tt = system_clock::to_time_t(secs);
  struct tm utc {};
  gmtime_r(&tt, &utc);  // UTC: independent of TZ and locale
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", utc.tm_year + 1900,
                     utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, frac);
}

namespace {

const event_field* find_field(const record& r, std::string_view key) {
  for (const auto& f : r.fields) {
    if (f.key == key) return &f;
  }
  return nullptr;
}

std::string field_text(const event_field::value_type& v) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::int64_t>) {
          return std::to_string(x);
        } else if constexpr (std::is_same_v<T, double>) {
          return fmt::format("{:g}", x);
        } else if constexpr (std::is_same_v<T, std::string_view>) {
          return std::string(x);
        } else {
          return fmt::format("{}", fmt::join(x, " "));
        }
      },
      v);
}

std::string text_of(const record& r, std::string_view key) {
  const auto* f = find_field(r, key);
  return f ? field_text(f->value) : std::string();
}

}  // namespace

namespace {
bool is_control(unsigned char c) {
  return (c < 0x20 && c != '\t') || c == 0x7f;
}
}  // namespace

void append_visible(std::string& out, std::string_view text) {
  std::size_t start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (!is_control(c)) continue;
    out.append(text.substr(start, i - start));
    if (c == '\r') {
      out.append("\\r");
    } else if (c == 0x1b) {
      out.append("\\e");
    } else {
      fmt::format_to(std::back_inserter(out), "\\x{:02x}", c);
    }
    start = i + 1;
  }
  out.append(text.substr(start));
}

bool has_control_characters(std::string_view text) noexcept {
  return std::any_of(text.begin(), text.end(),
                     [](char c) { return is_control(static_cast<unsigned char>(c)); });
}

std::string visible(std::string_view text) {
  std::string out;
  append_visible(out, text);
  return out;
}

namespace {
std::string describe(const record& r) {
  if (r.event == "started") {
    return fmt::format("started (pid {}): {}", r.pid, text_of(r, "argv"));
  }
  if (r.event == "exited") {
    if (find_field(r, "signal")) return fmt::format("killed by {}", text_of(r, "signal"));
    return fmt::format("exited with code {}", text_of(r, "exit_code"));
  }
  if (r.event == "skipped") return fmt::format("skipped: {}", text_of(r, "reason"));
  if (r.event == "error") return fmt::format("error: {}", text_of(r, "message"));
  if (r.event == "restarting") {
    return fmt::format("restarting in {}s (attempt {})", text_of(r, "delay"),
                       text_of(r, "attempt"));
  }
  if (r.event == "gave_up") return fmt::format("gave up: {}", text_of(r, "reason"));
  if (r.event == "timed_out") return fmt::format("timed out after {}s", text_of(r, "timeout"));
  if (r.event == "stopping") {
    return fmt::format("stopping ({}): {}", text_of(r, "reason"), text_of(r, "signal"));
  }
  if (r.event == "killed") {
    return fmt::format("killed with SIGKILL: still running {}s after {}", text_of(r, "after"),
                       text_of(r, "signal"));
  }
  std::string out(r.event);
  for (const auto& f : r.fields) out += fmt::format(" {}={}", f.key, field_text(f.value));
  return out;
}
}  // namespace

std::string describe_event(const record& r) {
  return visible(describe(r));  // names, argv and reasons come from file names
}

}  // namespace plughost
