// Formatting of configuration errors: "source:line:column: message", on one line.
#include "plughost/error.hpp"

#include <fmt/format.h>

#include "plughost/record.hpp"
#include "plughost/sink_helpers.hpp"

namespace plughost {

config_error::config_error(std::string source, int line, int column, std::string message)
    : error(visible(fmt::format("{}:{}:{}: {}", source, line, column, message))),
      source_(std::move(source)),
      line_(line),
      column_(column),
      message_(std::move(message)) {}

config_error::config_error(std::string source, std::string message)
    : error(visible(fmt::format("{}: {}", source, message))),
      source_(std::move(source)),
      message_(std::move(message)) {}

}  // namespace plughost
