// Record helpers shared by every sink: stream names, timestamps, human event descriptions.
#include "plughost/record.hpp"

#include <fmt/format.h>
#include <time.h>

#include <algorithm>
#include <iterator>
#include <nlohmann/json.hpp>
#include <type_traits>

#include "plughost/events.hpp"
#include "plughost/sink_helpers.hpp"

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

// The length of the well-formed UTF-8 sequence at `at` (Unicode's table 3-7: no overlong form,
// no surrogate, nothing past U+10FFFF), 0 when there is none.
std::size_t utf8_length(std::string_view text, std::size_t at) noexcept {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[at + k]); };
  const auto c = byte(0);
  std::size_t n = 0;
  unsigned char low = 0x80, high = 0xbf;  // the second byte's range
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) low = 0xa0;
    if (c == 0xed) high = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) low = 0x90;
    if (c == 0xf4) high = 0x8f;
  } else {
    return 0;
  }
  if (at + n > text.size() || byte(1) < low || byte(1) > high) return 0;
  for (std::size_t k = 2; k < n; ++k) {
    if (byte(k) < 0x80 || byte(k) > 0xbf) return 0;
  }
  return n;
}

// How many bytes at `at` are shown as they are (0: the byte at `at` is shown escaped). C0 and
// C1 controls and bytes that are not UTF-8 are escaped: a terminal acts on all of them.
std::size_t shown_as_is(std::string_view text, std::size_t at) noexcept {
  const auto c = static_cast<unsigned char>(text[at]);
  if (c < 0x80) return is_control(c) ? 0 : 1;
  const auto n = utf8_length(text, at);
  if (n == 2 && c == 0xc2 && static_cast<unsigned char>(text[at + 1]) < 0xa0) return 0;  // C1
  return n;
}
}  // namespace

void append_visible(std::string& out, std::string_view text) {
  std::size_t start = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f) {  // most bytes
      ++i;
      continue;
    }
    if (const auto n = shown_as_is(text, i); n > 0) {
      i += n;
      continue;
    }
    out.append(text.substr(start, i - start));
    if (c == '\r') {
      out.append("\\r");
    } else if (c == 0x1b) {
      out.append("\\e");
    } else if (c == 0xc2 && i + 1 < text.size() && utf8_length(text, i) == 2) {  // a C1 control
      fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<unsigned char>(text[i + 1]));
      ++i;
    } else {
      fmt::format_to(std::back_inserter(out), "\\x{:02x}", c);
    }
    start = ++i;
  }
  out.append(text.substr(start));
}

void append_visible_name(std::string& out, std::string_view name) {
  for (auto at = name.find('\\'); at != std::string_view::npos; at = name.find('\\')) {
    append_visible(out, name.substr(0, at));
    out.append("\\\\");
    name.remove_prefix(at + 1);
  }
  append_visible(out, name);
}

std::string visible_name(std::string_view name) {
  std::string out;
  append_visible_name(out, name);
  return out;
}

bool has_control_characters(std::string_view text) noexcept {
  for (std::size_t i = 0; i < text.size();) {
    const auto n = shown_as_is(text, i);
    if (n == 0) return true;
    i += n;
  }
  return false;
}

std::string visible(std::string_view text) {
  std::string out;
  append_visible(out, text);
  return out;
}

namespace {
std::string describe(const record& r) {
  if (r.event == events::started) {
    return fmt::format("started (pid {}): {}", r.pid, text_of(r, "argv"));
  }
  if (r.event == events::exited) {
    if (find_field(r, "reason") && text_of(r, "reason") == "oom_killed") {
      return fmt::format("killed by {}: out of memory (its cgroup's memory_max)",
                         text_of(r, "signal"));
    }
    if (find_field(r, "signal")) return fmt::format("killed by {}", text_of(r, "signal"));
    return fmt::format("exited with code {}", text_of(r, "exit_code"));
  }
  if (r.event == events::skipped) return fmt::format("skipped: {}", text_of(r, "reason"));
  if (r.event == events::error) return fmt::format("error: {}", text_of(r, "message"));
  if (r.event == events::restarting) {
    return fmt::format("restarting in {}s (attempt {})", text_of(r, "delay"),
                       text_of(r, "attempt"));
  }
  if (r.event == events::gave_up) return fmt::format("gave up: {}", text_of(r, "reason"));
  if (r.event == events::next_run) return fmt::format("next run in {}s", text_of(r, "delay"));
  if (r.event == events::timed_out)
    return fmt::format("timed out after {}s", text_of(r, "timeout"));
  if (r.event == events::stopping) {
    return fmt::format("stopping ({}): {}", text_of(r, "reason"), text_of(r, "signal"));
  }
  if (r.event == events::killed) {
    const auto stop_signal = text_of(r, "stop_signal");  // none: killed without a stop signal
    if (stop_signal.empty()) return "killed with SIGKILL";
    return fmt::format("killed with SIGKILL: still running {}s after {}", text_of(r, "after"),
                       stop_signal);
  }
  std::string out(r.event);
  for (const auto& f : r.fields) out += fmt::format(" {}={}", f.key, field_text(f.value));
  return out;
}
}  // namespace

std::string describe_event(const record& r) {
  return visible(describe(r));  // names, argv and reasons come from file names
}

std::string record_to_json(const record& r, std::string_view timestamp) {
  using ordered = nlohmann::ordered_json;
  ordered j;
  j["ts"] = timestamp.empty() ? format_timestamp(r.time) : std::string(timestamp);
  j["plugin"] = r.plugin;
  j["pid"] = r.pid > 0 ? ordered(r.pid) : ordered(nullptr);
  j["stream"] = to_string(r.stream);
  if (r.stream == stream::event) {
    j["event"] = r.event;
    for (const auto& f : r.fields) {
      std::visit(
          [&](const auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::span<const std::string>>) {
              j[std::string(f.key)] = ordered(std::vector<std::string>(v.begin(), v.end()));
            } else {
              j[std::string(f.key)] = v;
            }
          },
          f.value);
    }
  } else {
    j["line"] = r.line;
    if (r.partial) j["partial"] = true;
  }
  return j.dump(-1, ' ', false, ordered::error_handler_t::replace);
}

std::vector<std::pair<std::string, std::string>> parse_labels(
    const std::vector<std::string>& entries) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& e : entries) {
    const auto eq = e.find('=');
    const auto name = std::string_view(e).substr(0, eq);
    const bool good_name = eq != std::string::npos && !name.empty() &&
                           !(name.front() >= '0' && name.front() <= '9') &&
                           std::all_of(name.begin(), name.end(), [](char c) {
                             return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                    (c >= '0' && c <= '9') || c == '_';
                           });
    if (!good_name) {
      throw std::invalid_argument(fmt::format(
          "labels: expected NAME=VALUE (NAME of letters, digits and _), got '{}'", visible(e)));
    }
    out.emplace_back(std::string(name), e.substr(eq + 1));
  }
  return out;
}

}  // namespace plughost
