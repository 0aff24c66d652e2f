// Restarts held back until a plugin's full `block` sinks have room again.
#include "supervision/room_timers.hpp"

#include <boost/asio/post.hpp>

namespace plughost::detail {

struct room_timers::waiter final : record_dispatch::room_waiter {
  waiter(room_timers& owner, timer_key key, std::string plugin, std::uint64_t generation)
      : owner_(owner), key_(key), plugin_(std::move(plugin)), generation_(generation) {}
  // From the dispatch's notice, on the loop; the call may be inside the dispatch's own loop
  // over its waiters, so what it does (a restart: a spawn, new pumps) is posted.
  void on_room() override {
    boost::asio::post(owner_.loop_, [&owner = owner_, key = key_, generation = generation_] {
      owner.on_room(key, generation);
    });
  }
  room_timers& owner_;
  timer_key key_;
  std::string plugin_;
  std::uint64_t generation_;
};

room_timers::room_timers(record_dispatch& out, boost::asio::any_io_executor loop,
                         std::function<void(timer_key)> due)
    : out_(out), loop_(std::move(loop)), due_(std::move(due)) {}

room_timers::~room_timers() {
  clear();
}

bool room_timers::room(std::string_view plugin) const noexcept {
  return out_.accepting(out_.route_for(plugin), plugin);
}

void room_timers::arm(timer_key key, std::string_view plugin) {
  cancel(key);
  auto& w = waiting_[key] =
      std::make_unique<waiter>(*this, key, std::string(plugin), ++generation_);
  if (!out_.wait_for_room(*w, out_.route_for(w->plugin_), w->plugin_)) w->on_room();
}

void room_timers::cancel(timer_key key) noexcept {
  const auto it = waiting_.find(key);
  if (it == waiting_.end()) return;
  out_.cancel_wait(*it->second);
  waiting_.erase(it);
}

void room_timers::clear() noexcept {
  for (auto& [key, w] : waiting_) out_.cancel_wait(*w);
  waiting_.clear();
}

void room_timers::on_room(timer_key key, std::uint64_t generation) {
  const auto it = waiting_.find(key);
  if (it == waiting_.end() || it->second->generation_ != generation) return;  // cancelled
  waiting_.erase(it);
  due_(key);
}

}  // namespace plughost::detail
