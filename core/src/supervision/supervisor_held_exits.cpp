// Exits held for room: a main process that exits while its `block` sinks are full reaches the
// machine only once its pumps have read what its pipes held then (run_io::held_exit), or when
// its run is being stopped. Every decision on held exits is here.
#include <boost/asio/post.hpp>
#include <set>

#include "supervision/supervisor_impl.hpp"

namespace plughost::detail {

void supervisor::impl::main_exited(run_id id, run_io& io, const siginfo_t& info) {
  io.main_reaped = true;
  main_pids_.erase(io.pid);
  const exit_status status{info.si_code != CLD_EXITED, info.si_status};
  // What a run leaves in its pipes waits for room in a full `block` sink like the rest of
  // its output (a pipe can hold a MiB), and so does its exit event, which comes after it;
  // and so the restart the machine decides on the exit. Not while stopping: all is read then.
  if (machine_.phase() == run_phase::starting || machine_.phase() == run_phase::running) {
    for (auto* pump : {io.out.get(), io.err.get()}) {
      if (!pump->drain_or_wait([this, id] { exit_drained(id); })) ++io.exit_waits;
    }
    if (io.exit_waits > 0) {
      io.held_exit = status;
      ++held_exits_;
      return;
    }
  }
  machine_.on_main_exit(id, status);
}

// A pump of a held exit has read what its pipe held at the exit (posted: it may be inside
// the machine's own call to close the pipe).
void supervisor::impl::exit_drained(run_id id) {
  asio::post(ioc_, [this, id] {
    auto* io = find(id);
    if (io && io->held_exit && --io->exit_waits == 0) deliver_held_exit(id, *io);
  });
}

void supervisor::impl::deliver_held_exit(run_id id, run_io& io) {
  const auto status = *io.held_exit;
  io.held_exit.reset();
  io.exit_was_held = true;
  --held_exits_;
  after(&supervision_machine::on_main_exit, id, status);
}

// The exits that waited for room are delivered, with all that is in their pipes, when the
// run is being stopped (the shutdown, by hand, a reload): there is nothing left to stop.
void supervisor::impl::deliver_held_exits() {
  if (held_exits_ == 0) return;
  std::set<run_id> stopping;
  if (machine_.phase() != run_phase::stopping) {
    machine_.visit_plugins([&](supervision_machine::plugin_view&& v) {
      if (v.current &&
          (v.current_state == run_state::stopping || v.current_state == run_state::killing)) {
        stopping.insert(*v.current);
      }
    });
    if (stopping.empty()) return;
  }
  for (auto& [id, io] : runs_) {
    if (!io.held_exit) continue;
    if (machine_.phase() != run_phase::stopping && !stopping.count(id)) continue;
    io.exit_was_held = false;  // drain_output reads all
    const auto status = *io.held_exit;
    io.held_exit.reset();
    --held_exits_;
    machine_.on_main_exit(id, status);
  }
}

// Whether the run's main process has exited and its exit waits for room (status: "draining").
bool supervisor::impl::exit_held(run_id id) {
  const auto* io = find(id);
  return io && io->held_exit;
}

}  // namespace plughost::detail
