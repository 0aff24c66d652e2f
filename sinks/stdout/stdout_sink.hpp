// Human-readable records on standard output: "[name] line", "[name:stderr] line",
// "[name:event] description"; colour only when asked or when writing to a terminal.
#pragma once

#include <fmt/format.h>

#include <string>

#include "plughost/sink.hpp"

namespace plughost::sinks {

class stdout_sink : public sink {
 public:
  /// `fd` is where to write (1 in production); `color` says whether to use ANSI colours.
  stdout_sink(int fd, bool color);
  ~stdout_sink() override;

  void write(const record& r) override;
  void flush() override;

  /// "always" → true, "never" → false, "auto" → whether `fd` is a terminal and NO_COLOR is unset
  /// and TERM is not "dumb".
  static bool want_color(std::string_view mode, int fd);

 private:
  void append_text(std::string_view text);
  void append_name(std::string_view name);
  int fd_;
  bool color_;
  fmt::memory_buffer buffer_;
};

}  // namespace plughost::sinks
