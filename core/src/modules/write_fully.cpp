// What sinks share: writing a buffer completely to a file descriptor, writing records whole or
// not at all, and the error that counts lost records.
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>

#include "plughost/sink.hpp"
#include "plughost/sink_helpers.hpp"

namespace plughost {

sink_error::sink_error(const std::string& what, std::uint64_t lost)
    : std::runtime_error(what), lost_(lost) {}

sink_error::~sink_error() = default;  // out of line: one type_info, in libplughost

namespace {
// Writes what it can of `data`; returns how much was written, and the errno that stopped it
// (0 when everything was written).
std::pair<std::size_t, int> write_what_fits(int fd, std::string_view data) {
  std::size_t written = 0;
  while (written < data.size()) {
    const auto n = ::write(fd, data.data() + written, data.size() - written);
    if (n >= 0) {
      written += static_cast<std::size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {  // someone made it non-blocking: wait
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, -1);
      continue;
    }
    return {written, errno};
  }
  return {written, 0};
}
}  // namespace

void record_buffer::write_to(int fd) {
  const auto [written, error] = write_what_fits(fd, text_);
  if (error == 0) {
    text_.clear();
    ends_.clear();
    return;
  }
  // The records that were written whole stay; one written in part is cut off again.
  const auto whole = std::upper_bound(ends_.begin(), ends_.end(), written) - ends_.begin();
  const std::size_t kept = whole == 0 ? 0 : ends_[static_cast<std::size_t>(whole) - 1];
  std::string cut;
  if (written > kept) {
    struct stat st {};
    const auto end = ::lseek(fd, 0, SEEK_END);
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && end >= 0 &&
        ::ftruncate(fd, end - static_cast<off_t>(written - kept)) == 0) {
      cut = "; the record written in part was cut off";
    } else {
      cut = "; a record was written in part";
    }
  }
  const auto lost = ends_.size() - static_cast<std::size_t>(whole);
  text_.clear();
  ends_.clear();
  throw sink_error(std::string("write: ") + std::strerror(error) + " (" + std::to_string(lost) +
                       " records not written" + cut + ")",
                   lost);
}

void write_fully(int fd, std::string_view data) {
  const auto [written, error] = write_what_fits(fd, data);
  if (error != 0) throw std::system_error(error, std::generic_category(), "write");
}

}  // namespace plughost
