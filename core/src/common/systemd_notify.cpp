// sd_notify(3) without libsystemd: one unconnected datagram socket, a message per state.
#include "common/systemd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "common/log.hpp"

namespace plughost::detail {

namespace {

std::optional<std::uint64_t> number(std::optional<std::string_view> text) {
  if (!text) return std::nullopt;
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc() || end != text->data() + text->size()) return std::nullopt;
  return value;
}

}  // namespace

systemd_notifier::systemd_notifier(const environment_block& env) {
  const auto socket = env.get("NOTIFY_SOCKET");
  if (!socket || socket->empty() || (socket->front() != '/' && socket->front() != '@')) return;
  if (socket->size() >= sizeof(sockaddr_un::sun_path)) {
    log().warn("NOTIFY_SOCKET is longer than a socket path may be: systemd is not told anything");
    return;
  }
  address_ = std::string(*socket);
  fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd_ < 0) {
    log().warn("cannot tell systemd anything: {}", std::strerror(errno));
    return;
  }
  const auto usec = number(env.get("WATCHDOG_USEC"));
  const auto pid = number(env.get("WATCHDOG_PID"));
  if (usec && *usec > 0 && (!pid || *pid == static_cast<std::uint64_t>(::getpid()))) {
    period_ = std::chrono::microseconds(std::max<std::uint64_t>(*usec / 2, 1000));
  }
}

systemd_notifier::~systemd_notifier() {
  if (fd_ >= 0) ::close(fd_);
}

bool systemd_notifier::notify(std::string_view state) noexcept {
  if (fd_ < 0) return false;
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, address_.data(), address_.size());
  if (a.sun_path[0] == '@') a.sun_path[0] = '\0';
  const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_.size() +
                                             (address_.front() == '@' ? 0 : 1));
  const auto sent = ::sendto(fd_, state.data(), state.size(), MSG_NOSIGNAL,
                             reinterpret_cast<const sockaddr*>(&a), length);
  if (sent == static_cast<ssize_t>(state.size())) return true;
  if (!failed_before_) {
    failed_before_ = true;
    log().warn("cannot tell systemd ({}) at {}: {}", state.substr(0, state.find('\n')), address_,
               sent < 0 ? std::strerror(errno) : "short write");
  }
  return false;
}

}  // namespace plughost::detail
