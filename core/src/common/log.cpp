// The host's diagnostic logger: spdlog to standard error, coloured on a terminal.
#include "common/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace plughost::detail {

spdlog::logger& log() {
  static const auto logger = [] {
    auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    auto l = std::make_shared<spdlog::logger>("plughost", std::move(sink));
    l->set_pattern("%n: %^%l%$: %v");
    l->set_level(spdlog::level::info);
    l->flush_on(spdlog::level::trace);
    return l;
  }();
  return *logger;
}

}  // namespace plughost::detail
