// The host's diagnostic logger: spdlog to standard error, coloured on a terminal, or to an
// embedding program's handler. Messages name plugins, files and lines that come from outside:
// their control characters are shown, never sent (a newline or an escape sequence in a plugin's
// name must not forge a line or drive the operator's terminal).
#include "common/log.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <mutex>
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

std::unique_ptr<spdlog::pattern_formatter> formatter(const char* pattern, const char* eol) {
  auto f = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc, eol);
  f->add_flag<visible_message>('*').set_pattern(pattern);
  return f;
}

diagnostic_level level_of(spdlog::level::level_enum l) {
  switch (l) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return diagnostic_level::debug;
    case spdlog::level::info:
      return diagnostic_level::info;
    case spdlog::level::warn:
      return diagnostic_level::warning;
    default:
      return diagnostic_level::error;
  }
}

// Each message, formatted as "%*" (no prefix, no newline), to the program's handler. The base
// sink's mutex makes the calls one at a time.
class handler_sink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit handler_sink(diagnostics_handler handler) : handler_(std::move(handler)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t text;
    formatter_->format(msg, text);
    try {
      handler_(level_of(msg.level), std::string_view(text.data(), text.size()));
    } catch (...) {  // the handler's problem: plughost goes on
    }
  }
  void flush_() override {}

 private:
  diagnostics_handler handler_;
};

const std::shared_ptr<spdlog::logger>& standard_error_logger() {
  static const auto logger = make_logger({});
  return logger;
}

thread_local std::shared_ptr<spdlog::logger> this_thread_logger;
}  // namespace

std::shared_ptr<spdlog::logger> make_logger(const diagnostics_handler& handler) {
  std::shared_ptr<spdlog::logger> l;
  if (handler) {
    auto sink = std::make_shared<handler_sink>(handler);
    sink->set_formatter(formatter("%*", ""));
    l = std::make_shared<spdlog::logger>("plughost", std::move(sink));
  } else {
    auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    l = std::make_shared<spdlog::logger>("plughost", std::move(sink));
    l->set_formatter(formatter("%n: %^%l%$: %*", "\n"));
  }
  l->set_level(spdlog::level::info);
  l->flush_on(spdlog::level::trace);
  return l;
}

spdlog::logger& log() {
  return this_thread_logger ? *this_thread_logger : *standard_error_logger();
}

std::shared_ptr<spdlog::logger> current_logger() {
  return this_thread_logger ? this_thread_logger : standard_error_logger();
}

log_scope::log_scope(std::shared_ptr<spdlog::logger> logger)
    : previous_(std::exchange(this_thread_logger, std::move(logger))) {}

log_scope::~log_scope() {
  this_thread_logger = std::move(previous_);
}

}  // namespace plughost::detail
