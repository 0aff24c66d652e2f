// Records to a syslog daemon: RFC 5424 (default) or the traditional local format (RFC 3164, what
// glibc's syslog() sends), over a unix datagram socket (/dev/log), UDP, TCP (RFC 6587 octet
// counting) or TLS (RFC 5425). Over TCP and TLS, a receiver that is away is reconnected to with
// a backoff while its messages wait (the core's queue holds the rest, by the sink's overflow
// policy); the first failure of an outage is reported. stdout lines are sent
// at severity info, stderr at warning, events at notice; the plugin is named in the structured
// data and at the start of the message.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "plughost/sink.hpp"

namespace plughost::sinks {

class syslog_sink : public sink {
 public:
  enum class format { rfc5424, rfc3164 };
  enum class transport { unix_socket, udp, tcp, tls };

  struct options {
    std::string ident = "plughost";   ///< APP-NAME / tag
    int facility = 1;                 ///< user
    std::string socket = "/dev/log";  ///< unix datagram socket, unless `address` is set
    std::string address;              ///< "host:port" for UDP, TCP or TLS
    transport via = transport::unix_socket;
    format style = format::rfc5424;
    std::size_t max_message = 8192;  ///< longer lines are sent as several messages
    /// Added to every message's structured data (RFC 5424) as NAME="VALUE": host, role...
    std::vector<std::pair<std::string, std::string>> labels;
    // TLS: the CA that signed the receiver's certificate (empty: the system's), this side's own
    // certificate and key for a receiver that asks for one, the name the receiver's certificate
    // must hold (empty: the address's host), and whether it is checked at all.
    std::string ca_file, cert_file, key_file, server_name;
    bool verify = true;
    std::chrono::milliseconds timeout{10000};          ///< connect and send, TCP and TLS
    std::chrono::milliseconds retry_delay_max{30000};  ///< between reconnection attempts
  };

  /// Connects now. Throws when an UDP address cannot be resolved or connected; a unix socket
  /// that is missing now is tried again at every write (which throws while it is missing).
  explicit syslog_sink(options o);
  ~syslog_sink() override;
  syslog_sink(const syslog_sink&) = delete;
  syslog_sink& operator=(const syslog_sink&) = delete;

  void write(const record& r) override;
  void flush() override;

  /// The facility's number for a name ("local0" → 16), or -1.
  static int facility_code(std::string_view name);
  /// The messages (one, or several for a long line) for a record.
  std::vector<std::string> messages(const record& r) const;

 private:
  bool streamed() const noexcept {
    return options_.via == transport::tcp || options_.via == transport::tls;
  }
  void connect();
  void connect_stream();
  void disconnect() noexcept;
  void send(const std::string& message);
  bool send_stream(const std::string& frame);
  void deliver();
  void back_off();

  options options_;
  std::string hostname_;
  std::string labels_;  // options_.labels as structured-data parameters
  int fd_ = -1;
  struct tls_state;
  std::unique_ptr<tls_state> tls_;
  // TCP and TLS: framed messages not sent yet (at most pending_limit bytes), and the backoff.
  std::deque<std::string> pending_;
  std::size_t pending_bytes_ = 0;
  std::chrono::steady_clock::time_point next_attempt_{};
  std::chrono::milliseconds retry_delay_{0};
  bool outage_reported_ = false;
};

}  // namespace plughost::sinks
