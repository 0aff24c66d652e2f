// The exceptions plughost throws for problems found before any plugin starts.
#pragma once

#include <stdexcept>
#include <string>

// Everything this header declares is part of libplughost's interface (docs/embedding.md).
#pragma GCC visibility push(default)

namespace plughost {

/// Base of every error plughost reports; what() is one line, ready to print.
class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A bad command line or identity value. The launcher exits with code 2.
class usage_error : public error {
 public:
  using error::error;
};

/// A configuration file, text or setting that cannot be used. The launcher exits with code 2.
/// what() is "source:line:column: message" when the position is known, else "source: message",
/// with control characters made visible (a parser's message may quote a newline or an escape
/// sequence from the text); source() and message() are as given.
class config_error : public error {
 public:
  config_error(std::string source, int line, int column, std::string message);
  config_error(std::string source, std::string message);

  const std::string& source() const noexcept { return source_; }
  /// 1-based; 0 when the position is unknown.
  int line() const noexcept { return line_; }
  /// 1-based; 0 when the position is unknown.
  int column() const noexcept { return column_; }
  /// The message without its position prefix.
  const std::string& message() const noexcept { return message_; }

 private:
  std::string source_;
  int line_ = 0;
  int column_ = 0;
  std::string message_;
};

}  // namespace plughost

#pragma GCC visibility pop
