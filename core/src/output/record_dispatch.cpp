// Record fan-out: batches on the loop thread, one bounded queue and writer thread per sink,
// overflow policies, and the reports of what was dropped or lost.
#include "output/record_dispatch.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/post.hpp>

#include "common/log.hpp"
#include "plughost/events.hpp"
#include "plughost/sink_helpers.hpp"

namespace plughost::detail {

namespace {
constexpr auto report_interval = std::chrono::seconds(1);

std::string per_plugin(const std::map<std::string, std::uint64_t, std::less<>>& counts) {
  std::string out;
  for (const auto& [plugin, n] : counts) {
    if (!out.empty()) out += ", ";
    out += fmt::format("{} {}", visible_name(plugin), n);
  }
  return out;
}

std::uint64_t total(const std::map<std::string, std::uint64_t, std::less<>>& counts) {
  std::uint64_t n = 0;
  for (const auto& [plugin, count] : counts) n += count;
  return n;
}
}  // namespace

record_dispatch::record_dispatch() = default;

record_dispatch::~record_dispatch() {
  detach();
  if (!closed_) close(std::chrono::seconds(5));
}

void record_dispatch::open(std::vector<named_sink> sinks,
                           const std::map<std::string, std::vector<std::string>>& routes) {
  const auto count = sinks.size();
  for (std::size_t i = 0; i < count; ++i) {
    workers_.push_back(std::make_unique<sink_worker>(std::move(sinks[i]), i, [box = mailbox_] {
      const std::lock_guard lock(box->mutex);
      if (box->loop) boost::asio::post(*box->loop, [owner = box->owner] { owner->on_notice(); });
    }));
    routes_->all.push_back(i);
  }
  // Queues hold whole batches: small enough that a full queue still moves in small steps.
  for (const auto& w : workers_) batch_limit_ = std::min(batch_limit_, w->sink().queue.size / 8);
  // A read goes past a full queue by at most one read: at most an eighth of the smallest.
  read_buffer_.resize(std::min(read_buffer_.size(), batch_limit_));
  for (const auto& [plugin, names] : routes) {
    route r;
    for (std::size_t i = 0; i < count; ++i) {
      if (std::find(names.begin(), names.end(), workers_[i]->sink().name) != names.end()) {
        r.push_back(i);
      }
    }
    routes_->by_plugin.emplace(plugin, std::move(r));
  }
  dropped_.resize(count);
  dropped_unreported_.resize(count);
  lost_reported_.resize(count);
}

const record_dispatch::route& record_dispatch::route_for(std::string_view plugin) const {
  const auto it = routes_->by_plugin.find(plugin);
  return it == routes_->by_plugin.end() ? routes_->all : it->second;
}

void record_dispatch::write(const record& r, const route& to) noexcept {
  if (workers_.empty() || closed_) return;
  try {
    // A batch holds one plugin's records: each sink serves its plugins in turn, batch by batch.
    if (open_ && !open_->empty() && open_->plugin() != r.plugin) flush();
    if (!open_) open_ = new_batch();
    open_->add(r, to);
    if (open_->footprint() >= batch_limit_) flush();
  } catch (...) {  // out of memory: nothing sensible is left to do with the record
  }
}

std::shared_ptr<record_batch> record_dispatch::new_batch() {
  std::unique_ptr<record_batch> b;
  {
    const std::lock_guard lock(pool_->mutex);
    if (!pool_->free.empty()) {
      b = std::move(pool_->free.back());
      pool_->free.pop_back();
    }
  }
  if (!b) b = std::make_unique<record_batch>(workers_.size());
  b->keep_routes(routes_);
  return {b.release(), [pool = pool_](record_batch* done) {
            constexpr std::size_t kept = 8;
            std::unique_ptr<record_batch> owned(done);
            owned->clear();
            const std::lock_guard lock(pool->mutex);
            if (pool->free.size() < kept) pool->free.push_back(std::move(owned));
          }};
}

void record_dispatch::flush() noexcept {
  if (!open_) return;
  open_->seal();
  std::shared_ptr<const record_batch> batch = std::move(open_);
  open_.reset();
  if (tap_) tap_->offer(batch);
  for (std::size_t s = 0; s < workers_.size(); ++s) {
    if (workers_[s]->left_behind()) continue;
    try {
      const auto dropped = workers_[s]->push(batch);
      if (!dropped.empty()) note_dropped(s, dropped);
    } catch (...) {
    }
  }
}

std::vector<sink_status> record_dispatch::statuses() const {
  std::vector<sink_status> out;
  for (std::size_t s = 0; s < workers_.size(); ++s) {
    const auto& w = *workers_[s];
    sink_status st;
    st.name = w.sink().name;
    st.label = w.sink().label;
    st.queued_bytes = w.queued_bytes();
    st.queue_size = w.sink().queue.size;
    st.errors = w.errors();
    st.lost = w.lost();
    st.dropped.insert(dropped_[s].begin(), dropped_[s].end());
    out.push_back(std::move(st));
  }
  return out;
}

void record_dispatch::note_dropped(std::size_t sink,
                                   const std::vector<std::shared_ptr<const record_batch>>& b) {
  for (const auto& batch : b) {
    batch->count_per_plugin(sink, dropped_unreported_[sink]);
    batch->count_per_plugin(sink, dropped_[sink]);
  }
  arm_report();
}

void record_dispatch::event(std::string_view plugin, int pid, std::string_view name,
                            std::span<const event_field> fields) noexcept {
  record r;
  r.time = std::chrono::system_clock::now();
  r.plugin = plugin;
  r.pid = pid;
  r.stream = stream::event;
  r.event = name;
  r.fields = fields;
  write(r);
}

// ---- backpressure ----------------------------------------------------------------------------

bool record_dispatch::accepting(const route& to, std::string_view plugin) const noexcept {
  return std::none_of(to.begin(), to.end(), [&](std::size_t s) {
    return workers_[s]->sink().queue.overflow == overflow_policy::block &&
           workers_[s]->full(plugin);
  });
}

// Asks each `block` sink of `to` that is full for `plugin` for a notice; false when none is.
bool record_dispatch::request_room(const waiter& w) noexcept {
  bool waiting = false;
  for (const auto s : *w.to) {
    if (workers_[s]->sink().queue.overflow == overflow_policy::block &&
        workers_[s]->want_room(w.plugin)) {
      waiting = true;
    }
  }
  return waiting;
}

bool record_dispatch::wait_for_room(room_waiter& w, const route& to, std::string_view plugin) {
  waiter entry{&w, &to, std::string(plugin)};
  if (!request_room(entry)) return false;
  waiters_.push_back(std::move(entry));
  return true;
}

void record_dispatch::cancel_wait(room_waiter& w) noexcept {
  std::erase_if(waiters_, [&](const waiter& entry) { return entry.who == &w; });
}

void record_dispatch::attach(const boost::asio::any_io_executor& loop) {
  report_timer_ = std::make_unique<boost::asio::steady_timer>(loop);
  const std::lock_guard lock(mailbox_->mutex);
  mailbox_->loop = loop;
  mailbox_->owner = this;
}

void record_dispatch::detach() noexcept {
  {
    const std::lock_guard lock(mailbox_->mutex);
    mailbox_->loop.reset();
  }
  report_timer_.reset();  // cancels a pending report: close() makes the last one
  report_armed_ = false;
}

// On the loop, after a writer thread's notice: room in a queue, or records lost.
void record_dispatch::on_notice() {
  auto ready = std::move(waiters_);
  waiters_.clear();
  for (auto& each : ready) {
    if (request_room(each)) {
      waiters_.push_back(std::move(each));
    } else {
      each.who->on_room();
    }
  }
  for (std::size_t s = 0; s < workers_.size(); ++s) {
    if (workers_[s]->lost() > lost_reported_[s]) arm_report();
  }
}

void record_dispatch::arm_report() {
  if (report_armed_ || !report_timer_) return;
  report_armed_ = true;
  report_timer_->expires_after(report_interval);
  report_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    report_armed_ = false;
    report();
    flush();
  });
}

// Events for what was dropped (per plugin) and lost (per sink) since the last report.
void record_dispatch::report() noexcept {
  try {
    for (std::size_t s = 0; s < workers_.size(); ++s) {
      const auto& name = workers_[s]->sink().name;
      auto unreported = std::move(dropped_unreported_[s]);
      dropped_unreported_[s].clear();
      // `total`: since the start. These events can be lost too (on a full disk, say); the
      // next one that arrives still says how many were lost in all.
      for (const auto& [plugin, n] : unreported) {
        const auto all = dropped_[s].find(plugin);
        const event_field fields[] = {
            {"sink", std::string_view(name)},
            {"records", static_cast<std::int64_t>(n)},
            {"total", static_cast<std::int64_t>(all == dropped_[s].end() ? n : all->second)},
            {"reason", std::string_view("queue full")}};
        event(plugin, 0, events::dropped, fields);
      }
      const auto lost = workers_[s]->take_lost();
      if (lost > lost_reported_[s]) {
        const auto message = workers_[s]->last_error();
        const event_field fields[] = {
            {"sink", std::string_view(name)},
            {"records", static_cast<std::int64_t>(lost - lost_reported_[s])},
            {"total", static_cast<std::int64_t>(lost)},
            {"message", std::string_view(message)}};
        event("", 0, events::lost, fields);
        lost_reported_[s] = lost;
      }
    }
  } catch (...) {
  }
}

record_dispatch::outcome record_dispatch::close(
    std::chrono::steady_clock::duration grace) noexcept {
  if (closed_) return {};
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + grace;
  // The last fifth of the grace is for the last reports, written by the sinks that are not
  // stuck: a stuck sink must not use up the time of the others.
  const auto settle = start + grace * 4 / 5;
  report();
  flush();
  std::vector<bool> finished(workers_.size(), true);
  for (std::size_t s = 0; s < workers_.size(); ++s) {
    if (!workers_[s]->sink().program && !workers_[s]->wait_idle(settle)) finished[s] = false;
  }
  // The program's sinks last, and for as long as they take.
  for (std::size_t s = 0; s < workers_.size(); ++s) {
    auto& w = *workers_[s];
    if (!w.sink().program || w.wait_idle(settle)) continue;
    log().warn("program sink {} is still busy {} ms after the plugins stopped: waiting for it",
               w.sink().label,
               std::chrono::duration_cast<std::chrono::milliseconds>(settle - start).count());
    w.wait_idle(std::chrono::steady_clock::time_point::max());
  }
  // A sink still busy now is left behind: what it holds counts as lost, in the last round of
  // events, which goes to the other sinks only.
  for (std::size_t s = 0; s < workers_.size(); ++s) {
    if (!finished[s]) workers_[s]->close(settle);
  }
  report();
  flush();
  closed_ = true;
  for (std::size_t s = 0; s < workers_.size(); ++s) {
    if (finished[s]) workers_[s]->finish();  // all at once: each has the rest of the grace
  }
  for (std::size_t s = 0; s < workers_.size(); ++s) {
    if (finished[s]) {
      finished[s] = workers_[s]->close(
          workers_[s]->sink().program ? std::chrono::steady_clock::time_point::max() : deadline);
    }
  }
  return final_tally(finished, settle - start);
}

// What each sink dropped and lost, summed and said once (and which one was left behind).
record_dispatch::outcome record_dispatch::final_tally(
    const std::vector<bool>& finished, std::chrono::steady_clock::duration waited) const noexcept {
  outcome result;
  for (std::size_t s = 0; s < workers_.size(); ++s) {
    const auto& w = *workers_[s];
    const auto dropped = total(dropped_[s]);
    result.dropped += dropped;
    result.lost += w.lost();
    try {
      if (dropped > 0) {
        log().warn("sink {}: {} records dropped because its queue was full ({})", w.sink().label,
                   dropped, per_plugin(dropped_[s]));
      }
      if (!finished[s]) {
        log().error("sink {} was still busy {} ms after the plugins stopped: left behind",
                    w.sink().label,
                    std::chrono::duration_cast<std::chrono::milliseconds>(waited).count());
      }
      if (w.lost() > 0) {
        const auto error = w.last_error();
        log().error("sink {}: {} records lost{}", w.sink().label, w.lost(),
                    error.empty() ? std::string() : " (last error: " + error + ")");
      }
    } catch (...) {
    }
  }
  return result;
}

}  // namespace plughost::detail
