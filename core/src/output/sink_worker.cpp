// A sink's writer thread: batches in, records out, failures counted and reported (rate-limited).
#include "output/sink_worker.hpp"

#include "common/log.hpp"

namespace plughost::detail {

namespace {
// A sink whose flush() said it still holds records is flushed again this often while idle.
constexpr auto flush_retry_interval = std::chrono::seconds(1);
constexpr auto report_interval = std::chrono::seconds(10);
// A writer serves each plugin's lane this many bytes of lines at a time (a record counts 64
// bytes more), then the next lane's: a quiet plugin's line waits for one slice, not a flood.
constexpr std::size_t slice_bytes = 32 * 1024;
// Under a flood the queue never runs empty: the sink is flushed at least this often anyway.
constexpr auto flush_interval = std::chrono::milliseconds(1);
constexpr auto quiet_flush_interval = std::chrono::microseconds(100);
// For a worker destroyed without close() (an error path): what it holds still gets written.
constexpr auto close_grace = std::chrono::seconds(5);

// Only the writer thread reports its sink's failures: no lock needed for these.
struct failure_reports {
  std::chrono::steady_clock::time_point last{};
  std::size_t suppressed = 0;
  bool any = false;
};
thread_local failure_reports reports;
}  // namespace

sink_worker::sink_worker(named_sink s, std::size_t index, std::function<void()> on_room)
    : state_(std::make_shared<state>()) {
  state_->sink = std::move(s);
  state_->index = index;
  state_->on_room = std::move(on_room);
  // Its messages go where those of the launcher that made it go.
  thread_ = std::thread([s = state_, logger = current_logger()] {
    const log_scope scope(logger);
    write_batches(s);
  });
}

sink_worker::~sink_worker() {
  if (thread_.joinable()) close(std::chrono::steady_clock::now() + close_grace);
}

std::vector<std::shared_ptr<const record_batch>> sink_worker::push(
    std::shared_ptr<const record_batch> b) {
  std::vector<std::shared_ptr<const record_batch>> dropped;
  auto& s = *state_;
  if (b->records_for(s.index) == 0) return dropped;
  const auto weight = b->footprint();
  {
    const std::lock_guard lock(s.mutex);
    if (s.closing) return dropped;
    // The policy first, the lane after: dropping the oldest may empty and erase the very lane
    // this batch goes to.
    const auto found = s.lanes.find(b->plugin());
    const auto own = found == s.lanes.end() ? 0 : found->second.bytes;
    switch (s.sink.queue.overflow) {
      case overflow_policy::block:
        break;
      case overflow_policy::drop_new:
        if (over(s, own)) {
          dropped.push_back(std::move(b));
          return dropped;
        }
        break;
      case overflow_policy::drop_oldest:
        // plughost's own reports never push a plugin's records out: each would make room by
        // dropping more, to be reported a second later, for as long as the sink is stalled.
        // A report that finds no room is dropped; the next one carries the running total.
        if (b->reports_only() && s.queued_bytes.load() + weight > s.sink.queue.size) {
          dropped.push_back(std::move(b));
          return dropped;
        }
        drop_oldest(s, weight, dropped);
        break;
    }
    auto it = s.lanes.find(b->plugin());
    if (it == s.lanes.end()) it = s.lanes.emplace(std::string(b->plugin()), lane{}).first;
    auto& l = it->second;
    l.bytes += weight;
    s.queued_bytes += weight;
    l.batches.push_back(std::move(b));
    if (!l.waiting && !l.in_hand) {
      s.ring.push_back(it);
      l.waiting = true;
    }
  }
  s.wake.notify_one();
  return dropped;
}

bool sink_worker::over(const state& s, std::size_t own) noexcept {
  const auto size = s.sink.queue.size;
  const auto total = s.queued_bytes.load();
  return total >= size || (total >= size / 4 * 3 && own >= size / 16);
}

// Drops the oldest batches of the plugins that hold the most until `weight` more fits. A batch
// the writer has begun is not in the queue any more: it cannot be taken back.
void sink_worker::drop_oldest(state& s, std::size_t weight,
                              std::vector<std::shared_ptr<const record_batch>>& dropped) {
  const auto limit = s.sink.queue.size;
  while (s.queued_bytes.load() + weight > limit) {
    auto heaviest = s.lanes.end();
    for (auto it = s.lanes.begin(); it != s.lanes.end(); ++it) {
      const auto& l = it->second;
      const bool begun = l.written > 0 || l.in_hand;
      if (l.batches.size() > (begun ? 1u : 0u) &&
          (heaviest == s.lanes.end() || l.bytes > heaviest->second.bytes)) {
        heaviest = it;
      }
    }
    if (heaviest == s.lanes.end()) return;
    auto& l = heaviest->second;
    const bool begun = l.written > 0 || l.in_hand;
    const auto victim = begun ? std::next(l.batches.begin()) : l.batches.begin();
    const auto freed = (*victim)->footprint();
    l.bytes -= freed;
    s.queued_bytes -= freed;
    dropped.push_back(std::move(*victim));
    l.batches.erase(victim);
    if (l.batches.empty()) {  // not begun, so waiting in the ring
      std::erase(s.ring, heaviest);
      s.lanes.erase(heaviest);
    }
  }
}

bool sink_worker::full(std::string_view plugin) const {
  const auto& s = *state_;
  if (s.queued_bytes.load() < s.sink.queue.size / 4 * 3) return false;  // the common case
  const std::lock_guard lock(state_->mutex);
  const auto it = s.lanes.find(plugin);
  return over(s, it == s.lanes.end() ? 0 : it->second.bytes);
}

bool sink_worker::want_room(std::string_view plugin) {
  // Ask first, then look: either this sees the room, or the writer sees the request.
  state_->room_wanted = true;
  if (!full(plugin)) {
    state_->room_wanted = false;
    return false;
  }
  return true;
}

std::string sink_worker::last_error() const {
  const std::lock_guard lock(state_->mutex);
  return state_->last_error;
}

bool sink_worker::wait_idle(std::chrono::steady_clock::time_point deadline) {
  auto& s = *state_;
  std::unique_lock lock(s.mutex);
  return s.done_cv.wait_until(lock, deadline,
                              [&] { return s.done || (s.ring.empty() && !s.busy); });
}

void sink_worker::reopen() noexcept {
  if (!state_->sink.reopen) return;
  {
    const std::lock_guard lock(state_->mutex);
    state_->reopen_wanted = true;
  }
  state_->wake.notify_one();
}

void sink_worker::make_again(state& s, std::size_t& unflushed) {
  flush(s, unflushed);  // what the old one holds goes where it was going
  try {
    auto fresh = s.sink.reopen();
    s.sink.impl = std::move(fresh);  // the old one is destroyed here: its file is closed
  } catch (const std::exception& e) {
    fail(s, 0, "reopen", e.what());
  }
}

void sink_worker::finish() noexcept {
  {
    const std::lock_guard lock(state_->mutex);
    state_->closing = true;
  }
  state_->wake.notify_one();
}

bool sink_worker::left_behind() const {
  const std::lock_guard lock(state_->mutex);
  return state_->abandoned;
}

bool sink_worker::close(std::chrono::steady_clock::time_point deadline) {
  finish();
  auto& s = *state_;
  std::unique_lock lock(s.mutex);
  if (!s.done_cv.wait_until(lock, deadline, [&] { return s.done; })) {
    if (!s.abandoned) {
      // The slice in the sink's hands counts too: the thread may never come back from it.
      s.lost += held_records(s);
      s.abandoned = true;
      // What nobody will write is given back; the lane in the writer's hands stays (the
      // thread still holds a place in it).
      s.ring.clear();
      std::erase_if(s.lanes, [](const auto& each) { return !each.second.in_hand; });
      s.queued_bytes = 0;
    }
    lock.unlock();
    if (thread_.joinable()) thread_.detach();
    return false;
  }
  lock.unlock();
  if (thread_.joinable()) thread_.join();
  return true;
}

std::uint64_t sink_worker::held_records(const state& s) {
  std::uint64_t held = 0;
  for (const auto& [plugin, l] : s.lanes) {
    for (const auto& b : l.batches) held += b->records_for(s.index);
    held -= l.written;
  }
  return held;
}

void sink_worker::write_batches(const std::shared_ptr<state>& sp) {
  auto& s = *sp;
  std::size_t unflushed = 0;  // records written since the last successful flush
  std::unique_lock lock(s.mutex);
  bool flush_again = false;  // the sink still holds records (a sink_error that lost nothing)
  auto last_flush = std::chrono::steady_clock::now();
  while (true) {
    const auto ready = [&] { return !s.ring.empty() || s.closing || s.reopen_wanted; };
    if (flush_again) {
      if (!s.wake.wait_for(lock, flush_retry_interval, ready)) {
        lock.unlock();
        flush_again = flush(s, unflushed);
        lock.lock();
        continue;
      }
    } else {
      s.wake.wait(lock, ready);
    }
    if (s.abandoned) break;
    if (std::exchange(s.reopen_wanted, false)) {
      lock.unlock();
      make_again(s, unflushed);
      lock.lock();
      if (s.ring.empty() && !s.closing) continue;
    }
    if (s.ring.empty()) {  // closing, and everything is written
      lock.unlock();
      flush(s, unflushed);
      lock.lock();
      break;
    }
    s.busy = true;
    const bool quiet_lane_done = write_slice(s, lock, unflushed);
    if (s.abandoned) break;  // close() gave up while the slice was in the sink: counted lost
    // Flush when there is nothing more to write now, so that output becomes visible promptly
    // and a busy sink still writes in large pieces. Under a flood the queue never runs empty:
    // a quiet plugin's lines, written between two of the flood's slices, are flushed at once
    // (at most every quiet_flush_interval), and whatever is written at least every
    // flush_interval.
    const auto now = std::chrono::steady_clock::now();
    const bool idle = s.ring.empty();
    const auto since = now - last_flush;
    if (idle || (quiet_lane_done && since >= quiet_flush_interval) ||
        (unflushed > 0 && since >= flush_interval)) {
      lock.unlock();
      flush_again = flush(s, unflushed);
      lock.lock();
      last_flush = now;
    }
    s.busy = false;
    if (s.ring.empty()) s.done_cv.notify_all();  // wait_idle()
    if (s.queued_bytes.load() < s.sink.queue.size / 2 && s.room_wanted.exchange(false)) {
      lock.unlock();
      s.on_room();
      lock.lock();
    }
  }
  s.done = true;
  s.done_cv.notify_all();
}

bool sink_worker::write_slice(state& s, std::unique_lock<std::mutex>& lock,
                              std::size_t& unflushed) {
  const auto it = s.ring.front();
  s.ring.pop_front();
  auto& l = it->second;
  l.waiting = false;
  l.in_hand = true;
  const auto batch = l.batches.front();
  auto at = l.at;
  lock.unlock();
  const auto passed = batch->for_each_from(s.index, at, slice_bytes, [&](const record& r) {
    write_one(s, r);
    ++unflushed;
  });
  lock.lock();
  if (s.abandoned) return false;
  l.in_hand = false;
  l.at = at;
  const bool whole_batch_at_once = l.written == 0 && batch->finished(at);
  l.written += passed;
  if (batch->finished(at)) {
    const auto freed = batch->footprint();
    l.bytes -= freed;
    s.queued_bytes -= freed;
    l.batches.pop_front();
    l.at = {};
    l.written = 0;
  }
  if (l.batches.empty()) {
    s.lanes.erase(it);
    return whole_batch_at_once;
  }
  s.ring.push_back(it);
  l.waiting = true;
  return false;
}

void sink_worker::write_one(state& s, const record& r) {
  try {
    s.sink.impl->write(r);
  } catch (const sink_error& e) {
    fail(s, e.lost(), "write", e.what());
  } catch (const std::exception& e) {
    fail(s, 1, "write", e.what());
  } catch (...) {
    fail(s, 1, "write", "unknown exception");
  }
}

bool sink_worker::flush(state& s, std::size_t& unflushed) {
  try {
    s.sink.impl->flush();
    unflushed = 0;
  } catch (const sink_error& e) {
    fail(s, e.lost(), "flush", e.what());
    unflushed = 0;
    return e.lost() == 0;  // nothing lost: the sink holds them, and is to be flushed again
  } catch (const std::exception& e) {
    fail(s, unflushed, "flush", e.what());  // whatever it held since its last flush
    unflushed = 0;
  } catch (...) {
    fail(s, unflushed, "flush", "unknown exception");
    unflushed = 0;
  }
  return false;
}

void sink_worker::fail(state& s, std::uint64_t lost, std::string_view call, const char* what) {
  s.lost += lost;
  ++s.errors;
  {
    const std::lock_guard lock(s.mutex);
    s.last_error = what;
  }
  try {
    const auto now = std::chrono::steady_clock::now();
    if (reports.any && now - reports.last < report_interval) {
      ++reports.suppressed;
    } else {
      if (reports.suppressed > 0) {
        log().error("sink {} failed in {}: {} ({} more failures not shown)", s.sink.label, call,
                    what, reports.suppressed);
      } else {
        log().error("sink {} failed in {}: {}", s.sink.label, call, what);
      }
      reports = {now, 0, true};
    }
  } catch (...) {
  }
  // The loop reports losses as events; one call until it has looked.
  if (lost > 0 && !s.loss_noticed.exchange(true)) s.on_room();
}

}  // namespace plughost::detail
