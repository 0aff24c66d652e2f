// The host's diagnostic logger: spdlog to standard error, coloured on a terminal. Messages name
// plugins, files and lines that come from outside: their control characters are shown, never
// sent (a newline or an escape sequence in a plugin's name must not forge a line or drive the
// operator's terminal).
#include "common/log.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <string>

#include "plughost/record.hpp"
#include "plughost/sink_helpers.hpp"

namespace plughost::detail {

namespace {
// %*: the message, as plughost::visible() shows it.
class visible_message final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const std::string_view text(msg.payload.data(), msg.payload.size());
    if (!has_control_characters(text)) {
      dest.append(text.data(), text.data() + text.size());
      return;
    }
    const auto shown = visible(text);
    dest.append(shown.data(), shown.data() + shown.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<visible_message>();
  }
};
}  // namespace

spdlog::logger& log() {
  static const auto logger = [] {
    auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    auto l = std::make_shared<spdlog::logger>("plughost", std::move(sink));
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<visible_message>('*').set_pattern("%n: %^%l%$: %*");
    l->set_formatter(std::move(formatter));
    l->set_level(spdlog::level::info);
    l->flush_on(spdlog::level::trace);
    return l;
  }();
  return *logger;
}

}  // namespace plughost::detail
