// The control socket's client side: connecting, checking who answers, bounded waits.
#include "control_connection.hpp"

#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>
#include <system_error>

#include "plughost/sink_helpers.hpp"

namespace plughost::cli {

namespace {

constexpr int answer_patience_seconds = 10;

}  // namespace

int connect_to(const std::filesystem::path& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    const int e = errno;
    ::close(fd);
    return -e;
  }
  return fd;
}

control_connection::control_connection(int fd, const std::filesystem::path& path)
    : path_(path), fd_(fd) {
  // Whoever answers must be this user or root: a socket planted at the path (a folder in /tmp
  // someone else made first) would otherwise receive the requests and forge the answers.
  struct ucred peer {};
  socklen_t size = sizeof peer;
  if (::getsockopt(fd_, SOL_SOCKET, SO_PEERCRED, &peer, &size) != 0 ||
      (peer.uid != ::geteuid() && peer.uid != 0)) {
    throw std::runtime_error(fmt::format(
        "refusing {}: the process listening there runs as uid {}, not as this user ({}) or "
        "root",
        visible(path.string()), peer.uid, ::geteuid()));
  }
  // A plughost that does not answer (stopped, or its loop stuck) is said so, not waited for.
  timeval patience{answer_patience_seconds, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience);
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &patience, sizeof patience);
}

void control_connection::wait_forever() {
  timeval none{0, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
}

control_connection::~control_connection() {
  if (fd_ >= 0) ::close(fd_);
}

// A request. plughost may answer and close before it has read it all (a request over its
// limit, a refusal): what it said is then the answer, read next. No SIGPIPE: that would end
// this command without a word.
void control_connection::send(const nlohmann::json& request) {
  const auto text = request.dump() + "\n";
  for (std::string_view left(text); !left.empty();) {
    const auto n = ::send(fd_, left.data(), left.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) return;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      throw unreachable_error(fmt::format("plughost at {} did not take the request within {} s",
                                          visible(path_.string()), answer_patience_seconds));
    }
    if (n < 0) {
      throw std::system_error(errno, std::generic_category(),
                              "sending the request to " + visible(path_.string()));
    }
    left.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::optional<std::string> control_connection::next_line() {
  while (true) {
    if (const auto end = buffer_.find('\n'); end != std::string::npos) {
      auto line = buffer_.substr(0, end);
      buffer_.erase(0, end + 1);
      return line;
    }
    char chunk[64 * 1024];
    const auto n = ::read(fd_, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      throw unreachable_error(fmt::format("plughost at {} did not answer within {} s",
                                          visible(path_.string()), answer_patience_seconds));
    }
    if (n <= 0) return std::nullopt;
    buffer_.append(chunk, static_cast<std::size_t>(n));
  }
}

nlohmann::json control_connection::answer() {
  const auto line = next_line();
  if (!line) {
    throw unreachable_error(fmt::format("plughost at {} closed the connection without answering",
                                        visible(path_.string())));
  }
  auto reply = nlohmann::json::parse(*line, nullptr, false);
  if (!reply.is_object()) throw std::runtime_error("plughost's answer is not JSON: " + *line);
  return reply;
}

}  // namespace plughost::cli
