// What `plughost logs` reads: the batches of records the dispatch hands to the sinks, shared
// (never copied) with whoever follows them live, and the latest ones kept for a look back. The
// loop thread only offers a batch and posts it to each follower: a follower that is slow or
// stuck drops batches (and counts them), it never holds up the plugins or the sinks.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "output/record_batch.hpp"

namespace plughost::detail {

class record_tap {
 public:
  using batch_ptr = std::shared_ptr<const record_batch>;
  /// Called on the loop thread with each batch: must not block (post it elsewhere).
  using follower = std::function<void(const batch_ptr&)>;

  /// Keeps the latest batches, at most `recent_batches` of them and `recent_weight` bytes of
  /// memory (record_batch::footprint; the latest one always).
  explicit record_tap(std::size_t recent_weight = 256 * 1024, std::size_t recent_batches = 32)
      : recent_weight_(recent_weight), recent_batches_(recent_batches) {}

  /// Loop thread: a sealed batch, as it goes to the sinks. Never throws.
  void offer(const batch_ptr& b) noexcept;

  /// Any thread: `f` receives every batch offered from now on, until unfollow(id). `recent`,
  /// when given, receives the batches kept until now: together, nothing twice or missed.
  std::uint64_t follow(follower f, std::vector<batch_ptr>* recent = nullptr);
  void unfollow(std::uint64_t id) noexcept;

  /// Any thread: the batches kept, oldest first.
  std::vector<batch_ptr> recent() const;

 private:
  mutable std::mutex mutex_;
  std::size_t recent_weight_;
  std::size_t recent_batches_;
  std::deque<batch_ptr> recent_;                 // guarded
  std::size_t kept_weight_ = 0;                  // guarded
  std::map<std::uint64_t, follower> followers_;  // guarded
  std::uint64_t next_id_ = 1;                    // guarded
};

}  // namespace plughost::detail
