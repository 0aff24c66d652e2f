// What sinks share: the loop that writes a buffer completely to a file descriptor, and the
// error that counts lost records.
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "plughost/sink.hpp"

namespace plughost {

sink_error::sink_error(const std::string& what, std::uint64_t lost)
    : std::runtime_error(what), lost_(lost) {}

sink_error::~sink_error() = default;  // out of line: one type_info, in libplughost

void write_fully(int fd, std::string_view data) {
  while (!data.empty()) {
    const auto n = ::write(fd, data.data(), data.size());
    if (n >= 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {  // someone made it non-blocking: wait
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, -1);
      continue;
    }
    throw std::system_error(errno, std::generic_category(), "write");
  }
}

}  // namespace plughost
