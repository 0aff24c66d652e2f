// The sink interface: turns records into output somewhere. A sink knows nothing of processes.
#pragma once

#include <string_view>

#include "plughost/record.hpp"

namespace plughost {

/// Threading: the core calls a sink from its one event-loop thread only, never concurrently,
/// so implementations need no locks. Ownership: the core owns every sink it creates and
/// destroys it after the last flush().
class sink {
 public:
  virtual ~sink() = default;

  /// Consumes one record, in the order records were produced. May buffer.
  /// Throws (any std::exception) when the record cannot be written; the core reports the
  /// failure, rate-limited, and keeps feeding this and every other sink.
  virtual void write(const record& r) = 0;

  /// Makes buffered output visible. Called after each batch of records and before the core
  /// returns. Throws like write().
  virtual void flush() = 0;
};

/// Writes all of `data` to `fd`, retrying after EINTR and short writes and waiting while a
/// non-blocking descriptor is full. Throws std::system_error on failure. For sinks.
void write_fully(int fd, std::string_view data);

}  // namespace plughost
