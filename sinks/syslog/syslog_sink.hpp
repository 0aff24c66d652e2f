// Records to a syslog daemon: RFC 5424 (default) or the traditional local format (RFC 3164, what
// glibc's syslog() sends), over a unix datagram socket (/dev/log) or UDP. stdout lines are sent
// at severity info, stderr at warning, events at notice; the plugin is named in the structured
// data and at the start of the message.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "plughost/sink.hpp"

namespace plughost::sinks {

class syslog_sink : public sink {
 public:
  enum class format { rfc5424, rfc3164 };

  struct options {
    std::string ident = "plughost";   ///< APP-NAME / tag
    int facility = 1;                 ///< user
    std::string socket = "/dev/log";  ///< unix datagram socket, unless `address` is set
    std::string address;              ///< "host:port" for UDP; empty: use `socket`
    format style = format::rfc5424;
    std::size_t max_message = 8192;  ///< longer lines are sent as several messages
  };

  /// Connects now. Throws when an UDP address cannot be resolved or connected; a unix socket
  /// that is missing now is tried again at every write (which throws while it is missing).
  explicit syslog_sink(options o);
  ~syslog_sink() override;
  syslog_sink(const syslog_sink&) = delete;
  syslog_sink& operator=(const syslog_sink&) = delete;

  void write(const record& r) override;
  void flush() override {}

  /// The facility's number for a name ("local0" → 16), or -1.
  static int facility_code(std::string_view name);
  /// The messages (one, or several for a long line) for a record.
  std::vector<std::string> messages(const record& r) const;

 private:
  void connect();
  void send(const std::string& message);

  options options_;
  std::string hostname_;
  int fd_ = -1;
};

}  // namespace plughost::sinks
