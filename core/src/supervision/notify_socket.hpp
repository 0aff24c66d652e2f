// A run's NOTIFY_SOCKET (the sd_notify protocol, docs/health.md): a datagram socket in the
// abstract namespace that only plughost binds, whose messages carry their sender's credentials
// (SO_PASSCRED), so that the supervisor takes them only from the run's own processes. And the
// parsing of what a message says.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace plughost::detail {

/// What one sd_notify message says (newline-separated VARIABLE=VALUE assignments; unknown
/// ones, such as MAINPID= or EXTEND_TIMEOUT_USEC=, are ignored as systemd ignores them for
/// services that do not use them).
struct notify_message {
  bool ready = false;                 ///< READY=1
  bool stopping = false;              ///< STOPPING=1
  bool watchdog = false;              ///< WATCHDOG=1
  bool watchdog_trigger = false;      ///< WATCHDOG=trigger
  std::optional<std::string> status;  ///< STATUS=...
};
notify_message parse_notify_message(std::string_view text);

class notify_socket {
 public:
  /// Binds a name the kernel picks in the abstract namespace ("@" and five hex digits: nothing
  /// on disk to remove, nobody can take it first, and a plugin under any user can reach it;
  /// the credentials of each message say who sent it). Never throws.
  static std::variant<notify_socket, std::string> open();
  notify_socket(notify_socket&& other) noexcept;
  notify_socket& operator=(notify_socket&&) = delete;
  notify_socket(const notify_socket&) = delete;
  ~notify_socket();

  int fd() const noexcept { return fd_; }
  /// "@plughost/..." as NOTIFY_SOCKET gives it.
  const std::string& address() const noexcept { return address_; }
  /// Gives the descriptor away (to an Asio descriptor that closes it).
  int release() noexcept;

  struct datagram {
    pid_t pid = 0;  ///< the sender's, from its credentials (0: none came with it)
    uid_t uid = 0;
    std::string text;
  };
  /// The next datagram waiting on `fd` (non-blocking; descriptors passed with it, such as
  /// systemd-notify's BARRIER=1 one, are closed); nullopt when none is waiting.
  static std::optional<datagram> receive(int fd);

 private:
  notify_socket(int fd, std::string address) : fd_(fd), address_(std::move(address)) {}
  int fd_ = -1;
  std::string address_;
};

}  // namespace plughost::detail
