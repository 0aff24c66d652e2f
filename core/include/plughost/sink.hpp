// The sink interface: turns records into output somewhere. A sink knows nothing of processes.
#pragma once

#include <boost/config.hpp>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "plughost/record.hpp"

// Everything this header declares is part of libplughost's interface (docs/embedding.md).
#pragma GCC visibility push(default)

namespace plughost {

/// Threading: each sink has a writer thread of its own, and the core calls the sink from that
/// thread only, never concurrently, so implementations need no locks (they must not assume it
/// is the thread that created them). A sink that blocks delays only itself: the core queues
/// its records (bounded, with the sink's overflow policy) and goes on. Ownership: the core owns
/// every sink it creates and destroys it after the last flush().
class BOOST_SYMBOL_VISIBLE sink {
 public:
  virtual ~sink() = default;

  /// Consumes one record, in the order records were produced. May buffer.
  /// Throws (any std::exception) when the record cannot be written; the core reports the
  /// failure, rate-limited, counts the record as lost and keeps feeding this and every other
  /// sink. A sink_error says how many records were lost instead.
  virtual void write(const record& r) = 0;

  /// Makes buffered output visible. Called when the sink's queue runs empty and before the
  /// core returns. Throws like write(); an exception other than sink_error counts every record
  /// given since the last successful flush() as lost. A sink_error that lost nothing says the
  /// sink still holds records it will deliver (a receiver that is away): the core reports it
  /// and calls flush() again a second later, or after the next records.
  virtual void flush() = 0;
};

/// What a sink throws to say exactly how many records a failure lost (e.g. a buffered sink
/// that discards the records it could not write, and keeps the ones it could).
class BOOST_SYMBOL_VISIBLE sink_error : public std::runtime_error {
 public:
  sink_error(const std::string& what, std::uint64_t lost);
  ~sink_error() override;
  std::uint64_t lost() const noexcept { return lost_; }

 private:
  std::uint64_t lost_;
};

}  // namespace plughost

#pragma GCC visibility pop
