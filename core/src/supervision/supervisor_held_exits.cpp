// Exits held for room: a main process that exits while its `block` sinks are full reaches the
// machine as on_exit_held (the run is `draining`), and as on_exit_drained once its pumps have
// read what its pipes held then. When the machine stops a draining run, it reads all at once
// (drain_output). Which happens is the machine's decision (run_table, supervision_table.hpp).
#include <boost/asio/post.hpp>

#include "supervision/supervisor_impl.hpp"

namespace plughost::detail {

void supervisor::impl::main_exited(run_id id, run_io& io, const siginfo_t& info) {
  io.main_reaped = true;
  main_pids_.erase(io.pid);
  const bool by_signal = info.si_code != CLD_EXITED;
  // A SIGKILL nobody sent: the OOM killer of its cgroup, whose count went up.
  const exit_status status{by_signal, info.si_status,
                           by_signal && info.si_status == SIGKILL && oom_killed(id)};
  // What a run leaves in its pipes waits for room in a full `block` sink like the rest of
  // its output (a pipe can hold a MiB), and so does its exit event, which comes after it;
  // and so the restart the machine decides on the exit.
  for (auto* pump : {io.out.get(), io.err.get()}) {
    if (!pump->drain_or_wait([this, id] { exit_drained(id); })) ++io.exit_waits;
  }
  if (io.exit_waits > 0) {
    io.exit_held = true;
    return machine_.on_exit_held(id, status);
  }
  machine_.on_main_exit(id, status);
}

// A pump of a held exit has read what its pipe held at the exit (posted: it may be inside
// the machine's own call to close the pipe).
void supervisor::impl::exit_drained(run_id id) {
  asio::post(ioc_, [this, id] {
    auto* io = find(id);
    if (!io || !io->exit_held || --io->exit_waits > 0) return;
    io->exit_held = false;
    io->exit_was_held = true;
    after(&supervision_machine::on_exit_drained, id);
  });
}

}  // namespace plughost::detail
