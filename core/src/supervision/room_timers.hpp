// Restarts that wait for room in a plugin's `block` sinks (supervision_port::arm_on_room): a
// plugin that ends at once, restarted while its sink is full, would otherwise fill the queue
// with the events of its runs, since events wait for nothing.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "output/record_dispatch.hpp"
#include "supervision/supervision_port.hpp"

namespace plughost::detail {

class room_timers {
 public:
  /// `due(key)` runs on `loop` once the plugin a key waits for has room.
  room_timers(record_dispatch& out, boost::asio::any_io_executor loop,
              std::function<void(timer_key)> due);
  ~room_timers();
  room_timers(const room_timers&) = delete;
  room_timers& operator=(const room_timers&) = delete;

  /// Whether the `block` sinks of `plugin` have room for its records.
  bool room(std::string_view plugin) const noexcept;
  /// due(key) once `plugin` has room (at once, through the loop, when it has room now).
  void arm(timer_key key, std::string_view plugin);
  /// Forgets `key`: its due() will not run.
  void cancel(timer_key key) noexcept;
  void clear() noexcept;

 private:
  struct waiter;
  void on_room(timer_key key, std::uint64_t generation);

  record_dispatch& out_;
  boost::asio::any_io_executor loop_;
  std::function<void(timer_key)> due_;
  std::map<timer_key, std::unique_ptr<waiter>> waiting_;
  std::uint64_t generation_ = 0;
};

}  // namespace plughost::detail
