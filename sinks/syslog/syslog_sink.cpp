// Syslog framing (RFC 5424 / RFC 3164, RFC 6587 octet counting) with fmt, sent with plain POSIX
// sockets, and TLS with OpenSSL (what Boost.Asio's TLS is built on; blocking calls on the sink's
// own thread need no event loop). No library among plughost's dependencies frames syslog for a
// configurable destination: spdlog's syslog sink goes through glibc's syslog(), which always
// writes to /dev/log.
#include "syslog_sink.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <thread>

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

// TCP and TLS: framed messages waiting beyond this are sent before write() returns.
constexpr std::size_t pending_limit = 256 * 1024;
constexpr std::chrono::milliseconds retry_delay_min{100};

std::string openssl_error(std::string_view what) {
  char text[256] = "unknown error";
  if (const auto code = ::ERR_get_error(); code != 0) ::ERR_error_string_n(code, text, sizeof text);
  ::ERR_clear_error();
  return fmt::format("{}: {}", what, text);
}

std::pair<std::string, std::string> split_address(const std::string& address) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos)
    throw std::invalid_argument("address must be host:port, got " + address);
  auto host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  return {host, address.substr(colon + 1)};
}

// The first address of host:port for `socktype` (SOCK_DGRAM, SOCK_STREAM).
std::unique_ptr<addrinfo, void (*)(addrinfo*)> resolve(const std::string& address, int socktype) {
  const auto [host, port] = split_address(address);
  addrinfo hints{};
  hints.ai_socktype = socktype;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    throw std::runtime_error(fmt::format("cannot resolve {}: {}", address, ::gai_strerror(rc)));
  }
  return {found, &::freeaddrinfo};
}

}  // namespace

struct syslog_sink::tls_state {
  SSL_CTX* ctx = nullptr;
  SSL* ssl = nullptr;
  ~tls_state() {
    if (ssl) ::SSL_free(ssl);
    if (ctx) ::SSL_CTX_free(ctx);
  }
};

int syslog_sink::facility_code(std::string_view name) {
  for (std::size_t i = 0; i < facility_names.size(); ++i) {
    if (!facility_names[i].empty() && facility_names[i] == name) return static_cast<int>(i);
  }
  return -1;
}

syslog_sink::syslog_sink(options o) : options_(std::move(o)) {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0) hostname_ = host;
  for (const auto& [name, value] : options_.labels) {
    labels_ += fmt::format(" {}=\"{}\"", header_field(name, 32), sd_escape(value));
  }
  if (streamed()) {
    split_address(options_.address);  // a malformed address is a configuration error
    if (options_.via == transport::tls) {
      tls_ = std::make_unique<tls_state>();
      tls_->ctx = ::SSL_CTX_new(::TLS_client_method());
      if (!tls_->ctx) throw std::runtime_error(openssl_error("cannot set up TLS"));
      ::SSL_CTX_set_min_proto_version(tls_->ctx, TLS1_2_VERSION);
      const bool cas =
          options_.ca_file.empty()
              ? ::SSL_CTX_set_default_verify_paths(tls_->ctx) == 1
              : ::SSL_CTX_load_verify_locations(tls_->ctx, options_.ca_file.c_str(), nullptr) == 1;
      if (!cas) throw std::invalid_argument(openssl_error("ca_file " + options_.ca_file));
      if (!options_.cert_file.empty() &&
          (::SSL_CTX_use_certificate_chain_file(tls_->ctx, options_.cert_file.c_str()) != 1 ||
           ::SSL_CTX_use_PrivateKey_file(
               tls_->ctx,
               (options_.key_file.empty() ? options_.cert_file : options_.key_file).c_str(),
               SSL_FILETYPE_PEM) != 1)) {
        throw std::invalid_argument(openssl_error("cert_file " + options_.cert_file));
      }
      ::SSL_CTX_set_verify(tls_->ctx, options_.verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
    }
    // Connected at the first write: a receiver that is away now is waited for then.
    return;
  }
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
  disconnect();
}

void syslog_sink::disconnect() noexcept {
  if (tls_ && tls_->ssl) {
    ::SSL_free(tls_->ssl);
    tls_->ssl = nullptr;
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

// TCP (and TLS over it): connected within the timeout, sends bounded by it too.
void syslog_sink::connect_stream() {
  const auto host = split_address(options_.address).first;
  const auto found = resolve(options_.address, SOCK_STREAM);
  const int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int err = fd < 0 ? errno : 0;
  if (fd >= 0 && ::connect(fd, found->ai_addr, found->ai_addrlen) != 0) {
    err = errno;
    if (err == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(options_.timeout.count()));
      socklen_t len = sizeof err;
      err = ready == 1 ? (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len), err) : ETIMEDOUT;
    }
  }
  if (err != 0) {
    if (fd >= 0) ::close(fd);
    throw std::system_error(err, std::generic_category(), "connect to " + options_.address);
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  timeval t{static_cast<time_t>(options_.timeout.count() / 1000),
            static_cast<suseconds_t>(options_.timeout.count() % 1000 * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &t, sizeof t);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &t, sizeof t);
  fd_ = fd;
  if (!tls_) return;
  tls_->ssl = ::SSL_new(tls_->ctx);
  const auto name = options_.server_name.empty() ? host : options_.server_name;
  in6_addr ignored{};
  const bool is_ip = ::inet_pton(AF_INET, name.c_str(), &ignored) == 1 ||
                     ::inet_pton(AF_INET6, name.c_str(), &ignored) == 1;
  if (!is_ip) {  // SNI (SSL_set_tlsext_host_name is a macro with an old-style cast)
    ::SSL_ctrl(tls_->ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(name.c_str()));
  }
  if (options_.verify) {
    auto* param = ::SSL_get0_param(tls_->ssl);
    if (is_ip) {
      ::X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
    } else {
      ::X509_VERIFY_PARAM_set1_host(param, name.c_str(), 0);
    }
  }
  ::SSL_set_fd(tls_->ssl, fd_);
  ::ERR_clear_error();
  errno = 0;
  if (const int rc = ::SSL_connect(tls_->ssl); rc != 1) {
    const int sys_err = errno;
    const int kind = ::SSL_get_error(tls_->ssl, rc);
    const auto what = "TLS handshake with " + options_.address;
    // OpenSSL says nothing of the socket's own failures: its receive timeout (SO_RCVTIMEO),
    // an end of the connection.
    std::string why;
    if (::ERR_peek_error() == 0 && (kind == SSL_ERROR_SYSCALL || kind == SSL_ERROR_WANT_READ ||
                                    kind == SSL_ERROR_WANT_WRITE)) {
      ::ERR_clear_error();
      if (sys_err == EAGAIN || sys_err == EWOULDBLOCK) {
        why = fmt::format("{}: no answer within {}s", what, options_.timeout.count() / 1000.0);
      } else if (sys_err == 0) {
        why = fmt::format("{}: the receiver closed the connection", what);
      } else {
        why = fmt::format("{}: {}", what, std::strerror(sys_err));
      }
    } else {
      why = openssl_error(what);
    }
    const auto verdict = ::SSL_get_verify_result(tls_->ssl);
    disconnect();
    throw std::runtime_error(
        verdict != X509_V_OK ? fmt::format("{} ({})", why, ::X509_verify_cert_error_string(verdict))
                             : why);
  }
}

// One framed message on the connection; false when the connection is gone.
bool syslog_sink::send_stream(const std::string& frame) {
  if (tls_) {
    ::ERR_clear_error();
    return ::SSL_write(tls_->ssl, frame.data(), static_cast<int>(frame.size())) ==
           static_cast<int>(frame.size());
  }
  std::size_t done = 0;
  while (done < frame.size()) {
    const auto n = ::send(fd_, frame.data() + done, frame.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

// Sends what waits, reconnecting (with a backoff) for as long as it takes: the core's queue holds
// the records meanwhile, by the sink's overflow policy. The first failure of an outage is thrown
// as a sink_error that lost nothing (the core reports it); the messages stay.
void syslog_sink::deliver() {
  // A receiver never writes to us: readable or hung up means it closed the connection (an
  // orderly shutdown), and what we would send now would be lost.
  if (fd_ >= 0) {
    pollfd p{fd_, POLLIN | POLLRDHUP, 0};
    if (::poll(&p, 1, 0) == 1) disconnect();
  }
  while (!pending_.empty()) {
    if (fd_ < 0) {
      const auto now = std::chrono::steady_clock::now();
      if (now < next_attempt_) std::this_thread::sleep_for(next_attempt_ - now);
      try {
        connect_stream();
      } catch (const std::exception& e) {
        back_off();
        if (!std::exchange(outage_reported_, true)) {
          throw sink_error(
              fmt::format("{}; trying again (at most {}s apart) while {} messages "
                          "wait, and the rest in the queue",
                          e.what(), options_.retry_delay_max.count() / 1000.0, pending_.size()),
              0);
        }
        continue;
      }
    }
    if (!send_stream(pending_.front())) {
      const int err = errno;
      disconnect();
      back_off();
      // A receiver that accepts but does not read: said once, like a refused connection.
      if ((err == EAGAIN || err == EWOULDBLOCK) && !std::exchange(outage_reported_, true)) {
        throw sink_error(
            fmt::format("{} took no message for {}s: connecting again while {} "
                        "messages wait, and the rest in the queue",
                        options_.address, options_.timeout.count() / 1000.0, pending_.size()),
            0);
      }
      continue;
    }
    retry_delay_ = std::chrono::milliseconds(0);
    outage_reported_ = false;
    pending_bytes_ -= pending_.front().size();
    pending_.pop_front();
  }
}

// The next attempt: 0.1 s after the first failure, doubling up to retry_delay_max.
void syslog_sink::back_off() {
  retry_delay_ = std::clamp(retry_delay_ * 2, retry_delay_min, options_.retry_delay_max);
  next_attempt_ = std::chrono::steady_clock::now() + retry_delay_;
}

void syslog_sink::flush() {
  if (streamed()) deliver();
}

void syslog_sink::connect() {
  if (fd_ >= 0) return;
  if (!options_.address.empty()) {
    const auto found = resolve(options_.address, SOCK_DGRAM);
    const int fd = ::socket(found->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const bool ok = fd >= 0 && ::connect(fd, found->ai_addr, found->ai_addrlen) == 0;
    const int err = errno;
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
        "<{}>1 {} {} {} {} {} [plughost@32473 plugin=\"{}\" stream=\"{}\"{}{}] [{}] ", pri,
        format_timestamp(r.time), header_field(hostname_, 255), header_field(options_.ident, 48),
        procid, to_string(r.stream), sd_escape(r.plugin), to_string(r.stream),
        r.partial ? " partial=\"true\"" : "", labels_, visible_name(shown_plugin(r)));
  } else {
    header =
        fmt::format("<{}>{} {}[{}]: [{}] {}", pri, bsd_timestamp(r.time), options_.ident, procid,
                    visible_name(shown_plugin(r)), r.stream == stream::err ? "stderr: " : "");
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
  if (!streamed()) {
    for (const auto& m : messages(r)) send(m);
    return;
  }
  for (auto& m : messages(r)) {  // RFC 6587 octet counting: "LENGTH MESSAGE"
    auto frame = fmt::format("{} {}", m.size(), m);
    pending_bytes_ += frame.size();
    pending_.push_back(std::move(frame));
  }
  if (pending_bytes_ >= pending_limit) deliver();
}

}  // namespace plughost::sinks
