// The record tap: the latest batches kept, every batch handed to the followers.
#include "output/record_tap.hpp"

namespace plughost::detail {

void record_tap::offer(const batch_ptr& b) noexcept {
  if (!b || b->empty()) return;
  try {
    const std::lock_guard lock(mutex_);
    recent_.push_back(b);
    kept_weight_ += b->footprint();
    while (recent_.size() > 1 &&
           (kept_weight_ > recent_weight_ || recent_.size() > recent_batches_)) {
      kept_weight_ -= recent_.front()->footprint();
      recent_.pop_front();
    }
    for (const auto& [id, f] : followers_) f(b);
  } catch (...) {  // out of memory: the look back is shorter, the followers miss a batch
  }
}

std::uint64_t record_tap::follow(follower f, std::vector<batch_ptr>* recent) {
  const std::lock_guard lock(mutex_);
  if (recent) recent->assign(recent_.begin(), recent_.end());
  const auto id = next_id_++;
  followers_.emplace(id, std::move(f));
  return id;
}

void record_tap::unfollow(std::uint64_t id) noexcept {
  const std::lock_guard lock(mutex_);
  followers_.erase(id);
}

std::vector<record_tap::batch_ptr> record_tap::recent() const {
  const std::lock_guard lock(mutex_);
  return {recent_.begin(), recent_.end()};
}

}  // namespace plughost::detail
