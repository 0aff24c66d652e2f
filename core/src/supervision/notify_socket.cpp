// A run's NOTIFY_SOCKET: binding it, receiving a datagram with its sender's credentials, and what
// a message says.
#include "supervision/notify_socket.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace plughost::detail {

notify_message parse_notify_message(std::string_view text) {
  notify_message m;
  while (!text.empty()) {
    const auto end = text.find('\n');
    const auto line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (line == "READY=1") m.ready = true;
    if (line == "STOPPING=1") m.stopping = true;
    if (line == "WATCHDOG=1") m.watchdog = true;
    if (line == "WATCHDOG=trigger") m.watchdog_trigger = true;
    if (line.starts_with("STATUS=")) m.status = std::string(line.substr(7));
  }
  return m;
}

std::variant<notify_socket, std::string> notify_socket::open() {
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return fmt::format("cannot make its NOTIFY_SOCKET: {}", std::strerror(errno));
  const int on = 1;
  // Bound to nothing but the family: the kernel picks a free abstract name no one can take
  // first (autobind), where a name of plughost's choosing could be taken by anyone.
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  socklen_t length = sizeof(sa_family_t);
  if (::setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0 ||
      ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), length) != 0 ||
      (length = sizeof addr, ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length)) != 0 ||
      length <= offsetof(sockaddr_un, sun_path) + 1 || addr.sun_path[0] != '\0') {
    const int err = errno;
    ::close(fd);
    return fmt::format("cannot make its NOTIFY_SOCKET: {}", std::strerror(err));
  }
  const auto name_length = length - offsetof(sockaddr_un, sun_path) - 1;
  return notify_socket(fd, "@" + std::string(addr.sun_path + 1, name_length));
}

notify_socket::notify_socket(notify_socket&& other) noexcept
    : fd_(other.release()), address_(std::move(other.address_)) {}

notify_socket::~notify_socket() {
  if (fd_ >= 0) ::close(fd_);
}

int notify_socket::release() noexcept {
  const int fd = fd_;
  fd_ = -1;
  return fd;
}

std::optional<notify_socket::datagram> notify_socket::receive(int fd) {
  // systemd's limit for a notification is 4 KiB of text; a longer one is cut (MSG_TRUNC).
  char text[4096];
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred)) + CMSG_SPACE(sizeof(int) * 16)];
  iovec iov{text, sizeof text};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n = 0;
  do {
    n = ::recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return std::nullopt;
  datagram d;
  d.text.assign(text, static_cast<std::size_t>(n));
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET) continue;
    if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len == CMSG_LEN(sizeof(ucred))) {
      ucred cred{};
      std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
      d.pid = cred.pid;
      d.uid = cred.uid;
    } else if (c->cmsg_type == SCM_RIGHTS) {
      const auto count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < count; ++i) {
        int passed = -1;
        std::memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof passed);
        if (passed >= 0) ::close(passed);
      }
    }
  }
  return d;
}

}  // namespace plughost::detail
