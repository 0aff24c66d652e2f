// The stdout sink: one prefixed line per record, buffered per batch.
#include "stdout_sink.hpp"

#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "plughost/sink_helpers.hpp"

namespace plughost::sinks {

namespace {
constexpr std::string_view reset = "\x1b[0m";
constexpr std::string_view cyan = "\x1b[36m";
constexpr std::string_view yellow = "\x1b[33m";
constexpr std::string_view dim = "\x1b[2m";
constexpr std::size_t flush_threshold = 64 * 1024;
}  // namespace

stdout_sink::stdout_sink(int fd, bool color) : fd_(fd), color_(color) {}

stdout_sink::~stdout_sink() {
  try {
    flush();
  } catch (...) {  // nowhere left to report it
  }
}

bool stdout_sink::want_color(std::string_view mode, int fd) {
  if (mode == "always") return true;
  if (mode == "never") return false;
  const char* term = std::getenv("TERM");
  return ::isatty(fd) == 1 && std::getenv("NO_COLOR") == nullptr &&
         !(term && std::strcmp(term, "dumb") == 0);
}

void stdout_sink::write(const record& r) {
  auto out = std::back_inserter(buffer_);
  const auto tag = r.stream == stream::out ? std::string_view() : to_string(r.stream);
  const auto color = !color_                   ? std::string_view()
                     : r.stream == stream::out ? cyan
                     : r.stream == stream::err ? yellow
                                               : dim;
  const auto end_color = color_ ? reset : std::string_view();
  fmt::format_to(out, "{}[", color);
  append_name(shown_plugin(r));
  if (!tag.empty()) fmt::format_to(out, ":{}", tag);
  fmt::format_to(out, "]{} ", end_color);
  if (r.stream == stream::event) {
    fmt::format_to(out, "{}{}{}\n", color, describe_event(r), end_color);
  } else {
    append_text(r.line);
    buffer_.push_back('\n');
  }
  if (buffer_.size() >= flush_threshold) flush();
}

// A plugin's text, its control characters made visible: a CR or an escape sequence could forge
// other plugins' lines or drive the terminal.
void stdout_sink::append_text(std::string_view text) {
  if (!has_control_characters(text)) {
    buffer_.append(text.data(), text.data() + text.size());
    return;
  }
  const auto shown = visible(text);
  buffer_.append(shown.data(), shown.data() + shown.size());
}

// A plugin's name as plughost shows names (its backslashes doubled too: no two names look alike).
void stdout_sink::append_name(std::string_view name) {
  if (!has_control_characters(name) && name.find('\\') == std::string_view::npos) {
    buffer_.append(name.data(), name.data() + name.size());
    return;
  }
  const auto shown = visible_name(name);
  buffer_.append(shown.data(), shown.data() + shown.size());
}

void stdout_sink::flush() {
  if (buffer_.size() == 0) return;
  try {
    write_fully(fd_, std::string_view(buffer_.data(), buffer_.size()));
  } catch (...) {
    buffer_.clear();  // a broken destination must not make the buffer grow without bound
    throw;
  }
  buffer_.clear();
}

}  // namespace plughost::sinks
