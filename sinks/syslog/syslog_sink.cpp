// Syslog framing (RFC 5424 / RFC 3164) with fmt, sent with plain POSIX sockets. No library among
// plughost's dependencies frames syslog for a configurable destination: spdlog's syslog sink
// goes through glibc's syslog(), which always writes to /dev/log.
#include "syslog_sink.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "plughost/sink_helpers.hpp"

namespace plughost::sinks {

namespace {

constexpr std::array<std::string_view, 24> facility_names = {
    "kern",   "user",   "mail",     "daemon", "auth",   "syslog", "lpr",    "news",
    "uucp",   "cron",   "authpriv", "ftp",    "",       "",       "",       "",
    "local0", "local1", "local2",   "local3", "local4", "local5", "local6", "local7"};

int severity_of(stream s) {
  switch (s) {
    case stream::out:
      return 6;  // info
    case stream::err:
      return 4;  // warning
    case stream::event:
      return 5;  // notice
  }
  return 5;
}

// RFC 5424 PARAM-VALUE: '"', '\' and ']' are escaped.
std::string sd_escape(std::string_view s) {
  std::string out;
  for (const char c : s) {
    if (c == '"' || c == '\\' || c == ']') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

// Printable US-ASCII without spaces, as RFC 5424 header fields require; "-" when empty.
std::string header_field(std::string_view s, std::size_t max) {
  std::string out;
  for (const char c : s.substr(0, max)) out.push_back(c > 32 && c < 127 ? c : '_');
  return out.empty() ? "-" : out;
}

// "Nov 25 12:00:00" in local time, English month names whatever the locale (RFC 3164).
std::string bsd_timestamp(std::chrono::system_clock::time_point t) {
  static constexpr std::array<std::string_view, 12> months = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const time_t tt = std::chrono::system_clock::to_time_t(t);
  struct tm local {};
  localtime_r(&tt, &local);
  return fmt::format("{} {:>2} {:02}:{:02}:{:02}", months[static_cast<std::size_t>(local.tm_mon)],
                     local.tm_mday, local.tm_hour, local.tm_min, local.tm_sec);
}

// Pieces of at most `max` bytes, never splitting a UTF-8 character.
std::vector<std::string_view> pieces(std::string_view text, std::size_t max) {
  std::vector<std::string_view> out;
  while (text.size() > max) {
    std::size_t cut = max;
    while (cut > max - 3 && cut > 1 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80)
      --cut;
    out.push_back(text.substr(0, cut));
    text.remove_prefix(cut);
  }
  out.push_back(text);
  return out;
}

}  // namespace

int syslog_sink::facility_code(std::string_view name) {
  for (std::size_t i = 0; i < facility_names.size(); ++i) {
    if (!facility_names[i].empty() && facility_names[i] == name) return static_cast<int>(i);
  }
  return -1;
}

syslog_sink::syslog_sink(options o) : options_(std::move(o)) {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0) hostname_ = host;
  if (!options_.address.empty()) {
    connect();  // an address that does not resolve is a configuration error
    return;
  }
  try {
    connect();
  } catch (const std::system_error&) {
    // The local daemon may start later or be restarting: every write tries again and reports.
  }
}

syslog_sink::~syslog_sink() {
  if (fd_ >= 0) ::close(fd_);
}

void syslog_sink::connect() {
  if (fd_ >= 0) return;
  if (!options_.address.empty()) {
    const auto colon = options_.address.rfind(':');
    if (colon == std::string::npos) {
      throw std::invalid_argument("address must be host:port, got " + options_.address);
    }
    auto host = options_.address.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
      host = host.substr(1, host.size() - 2);
    const auto port = options_.address.substr(colon + 1);
    addrinfo hints{};
    hints.ai_socktype = SOCK_DGRAM;
    addrinfo* found = nullptr;
    if (const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
      throw std::runtime_error(
          fmt::format("cannot resolve {}: {}", options_.address, ::gai_strerror(rc)));
    }
    const int fd = ::socket(found->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const bool ok = fd >= 0 && ::connect(fd, found->ai_addr, found->ai_addrlen) == 0;
    const int err = errno;
    ::freeaddrinfo(found);
    if (!ok) {
      if (fd >= 0) ::close(fd);
      throw std::system_error(err, std::generic_category(), "connect to " + options_.address);
    }
    fd_ = fd;
    return;
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (options_.socket.size() >= sizeof addr.sun_path) {
    throw std::invalid_argument("socket path is too long: " + options_.socket);
  }
  std::memcpy(addr.sun_path, options_.socket.c_str(), options_.socket.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket");
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    ::close(fd);
    // The daemon may start later or restart: not fatal, the next write tries again.
    throw std::system_error(err, std::generic_category(), "connect to " + options_.socket);
  }
  fd_ = fd;
}

std::vector<std::string> syslog_sink::messages(const record& r) const {
  const int pri = options_.facility * 8 + severity_of(r.stream);
  const std::string text = r.stream == stream::event ? describe_event(r) : std::string(r.line);
  const auto procid = r.pid > 0 ? std::to_string(r.pid) : std::string("-");
  std::string header;
  if (options_.style == format::rfc5424) {
    header = fmt::format(
        "<{}>1 {} {} {} {} {} [plughost@32473 plugin=\"{}\" stream=\"{}\"{}] [{}] ", pri,
        format_timestamp(r.time), header_field(hostname_, 255), header_field(options_.ident, 48),
        procid, to_string(r.stream), sd_escape(r.plugin), to_string(r.stream),
        r.partial ? " partial=\"true\"" : "", shown_plugin(r));
  } else {
    header = fmt::format("<{}>{} {}[{}]: [{}] {}", pri, bsd_timestamp(r.time), options_.ident,
                         procid, shown_plugin(r), r.stream == stream::err ? "stderr: " : "");
  }
  const auto room = options_.max_message > header.size() + 16 ? options_.max_message - header.size()
                                                              : std::size_t{16};
  std::vector<std::string> out;
  for (const auto piece : pieces(text, room)) out.push_back(header + std::string(piece));
  return out;
}

void syslog_sink::send(const std::string& message) {
  connect();
  while (::send(fd_, message.data(), message.size(), MSG_NOSIGNAL) < 0) {
    if (errno == EINTR) continue;
    const int err = errno;
    ::close(fd_);  // the daemon may have restarted: connect again next time
    fd_ = -1;
    throw std::system_error(
        err, std::generic_category(),
        "send to " + (options_.address.empty() ? options_.socket : options_.address));
  }
}

void syslog_sink::write(const record& r) {
  for (const auto& m : messages(r)) send(m);
}

}  // namespace plughost::sinks
