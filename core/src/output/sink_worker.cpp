// A sink's writer thread: batches in, records out, failures counted and reported (rate-limited).
#include "output/sink_worker.hpp"

#include "common/log.hpp"

namespace plughost::detail {

namespace {
// A sink whose flush() said it still holds records is flushed again this often while idle.
constexpr auto flush_retry_interval = std::chrono::seconds(1);
constexpr auto report_interval = std::chrono::seconds(10);
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
  const auto weight = b->bytes_for(state_->index);
  if (weight == 0) return dropped;
  auto& s = *state_;
  {
    const std::lock_guard lock(s.mutex);
    if (s.closing) return dropped;
    const auto limit = s.sink.queue.size;
    switch (s.sink.queue.overflow) {
      case overflow_policy::block:
        break;
      case overflow_policy::drop_new:
        if (s.queued_bytes.load() >= limit) {
          dropped.push_back(std::move(b));
          return dropped;
        }
        break;
      case overflow_policy::drop_oldest:
        // The batch in the writer's hands is not in the queue: it cannot be taken back.
        while (!s.queue.empty() && s.queued_bytes.load() + weight > limit) {
          s.queued_bytes -= s.queue.front()->bytes_for(s.index);
          dropped.push_back(std::move(s.queue.front()));
          s.queue.pop_front();
        }
        break;
    }
    s.queued_bytes += weight;
    s.queue.push_back(std::move(b));
  }
  s.wake.notify_one();
  return dropped;
}

bool sink_worker::full() const noexcept {
  return state_->queued_bytes.load() >= state_->sink.queue.size;
}

bool sink_worker::want_room() noexcept {
  // Ask first, then look: either this sees the room, or the writer sees the request.
  state_->room_wanted = true;
  if (!full()) {
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
                              [&] { return s.done || (s.queue.empty() && !s.busy); });
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
      // The batch in the sink's hands counts too: the thread may never come back from it.
      std::uint64_t held = s.busy ? s.in_hand : 0;
      for (const auto& b : s.queue) held += b->records_for(s.index);
      s.queue.clear();
      s.abandoned = true;
      s.lost += held;
    }
    lock.unlock();
    if (thread_.joinable()) thread_.detach();
    return false;
  }
  lock.unlock();
  if (thread_.joinable()) thread_.join();
  return true;
}

void sink_worker::write_batches(const std::shared_ptr<state>& sp) {
  auto& s = *sp;
  std::size_t unflushed = 0;  // records written since the last successful flush
  std::unique_lock lock(s.mutex);
  bool flush_again = false;  // the sink still holds records (a sink_error that lost nothing)
  while (true) {
    const auto ready = [&] { return !s.queue.empty() || s.closing || s.reopen_wanted; };
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
      if (s.queue.empty() && !s.closing) continue;
    }
    if (s.queue.empty()) {  // closing, and everything is written
      lock.unlock();
      flush(s, unflushed);
      lock.lock();
      break;
    }
    auto batch = std::move(s.queue.front());
    s.queue.pop_front();
    s.busy = true;
    s.in_hand = batch->records_for(s.index);
    lock.unlock();
    write_one(s, *batch, unflushed);
    lock.lock();
    if (s.abandoned) break;  // close() gave up while this batch was in the sink: counted lost
    // Flush when there is nothing more to write now: output becomes visible promptly, and a
    // busy sink still writes in large pieces.
    if (s.queue.empty()) {
      lock.unlock();
      flush_again = flush(s, unflushed);
      lock.lock();
    }
    s.busy = false;
    if (s.queue.empty()) s.done_cv.notify_all();  // wait_idle()
    s.queued_bytes -= batch->bytes_for(s.index);
    if (s.queued_bytes.load() < s.sink.queue.size / 2 && s.room_wanted.exchange(false)) {
      lock.unlock();
      s.on_room();
      lock.lock();
    }
  }
  s.done = true;
  s.done_cv.notify_all();
}

void sink_worker::write_one(state& s, const record_batch& b, std::size_t& unflushed) {
  b.for_each_for(s.index, [&](const record& r) {
    try {
      s.sink.impl->write(r);
      ++unflushed;
    } catch (const sink_error& e) {
      fail(s, e.lost(), "write", e.what());
    } catch (const std::exception& e) {
      fail(s, 1, "write", e.what());
    } catch (...) {
      fail(s, 1, "write", "unknown exception");
    }
  });
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
