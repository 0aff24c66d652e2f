// One connection to a running plughost's control socket: JSON requests out, lines in.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>

namespace plughost::cli {

/// No plughost answers (nothing at the socket, or it stays silent): exit status 3.
class unreachable_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Connects to the control socket at `path`: the descriptor, or -errno.
int connect_to(const std::filesystem::path& path);

/// A connected control socket; owns the descriptor. Every wait for plughost is bounded (10 s)
/// but the one wait_forever() lifts; a plughost that does not answer throws unreachable_error.
class control_connection {
 public:
  /// Takes `fd`; throws unless the process listening is this user or root.
  control_connection(int fd, const std::filesystem::path& path);
  ~control_connection();
  control_connection(const control_connection&) = delete;
  control_connection& operator=(const control_connection&) = delete;

  /// logs -f: wait for records as long as they take.
  void wait_forever();
  /// Sends one request (one line of JSON).
  void send(const nlohmann::json& request);
  /// The next line; nullopt when plughost closed the connection.
  std::optional<std::string> next_line();
  /// The answer to a request: a JSON object.
  nlohmann::json answer();

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  std::string buffer_;
};

}  // namespace plughost::cli
