// wait_for gates (docs/health.md): what a plugin waits for outside plughost before it starts,
// tried every gate.every on the event loop (a TCP connection or an HTTP GET through
// probe_check, a file's existence) until it answers; the machine keeps the timeout.
#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "supervision/supervisor_impl.hpp"

namespace plughost::detail {

void supervisor::impl::start_gate(plugin_id id, const gate_spec& gate) {
  auto& g = gates_[id];
  g.gate = gate;
  g.next = std::make_unique<asio::steady_timer>(ioc_);
  try_gate(id);
}

void supervisor::impl::cancel_gate(plugin_id id) {
  const auto it = gates_.find(id);
  if (it == gates_.end()) return;
  if (it->second.check) it->second.check->abandon();
  gates_.erase(it);  // its timer's wait ends with operation_aborted
}

std::string supervisor::impl::gate_failure(plugin_id id) {
  const auto it = gates_.find(id);
  return it == gates_.end() ? std::string() : it->second.failure;
}

// One attempt: open, or the next one after gate.every.
void supervisor::impl::try_gate(plugin_id id) {
  const auto it = gates_.find(id);
  if (it == gates_.end()) return;
  auto& g = it->second;
  const auto again = [this, id](std::string why) {
    const auto at = gates_.find(id);
    if (at == gates_.end()) return;
    at->second.failure = std::move(why);
    at->second.check.reset();
    at->second.next->expires_after(at->second.gate.every);
    at->second.next->async_wait([this, id](const boost::system::error_code& ec) {
      if (!ec) try_gate(id);
    });
  };
  const auto open = [this, id] {
    gates_.erase(id);
    after(&supervision_machine::on_gate_open, id);
  };
  if (g.gate.how == gate_spec::method::file) {
    struct stat st {};
    if (::stat(g.gate.file.c_str(), &st) == 0) return open();
    return again(fmt::format("{}: {}", g.gate.file, std::strerror(errno)));
  }
  g.check = probe_check::connect(
      ioc_.get_executor(), g.gate.check,
      [open, again](bool passed, std::string why) { passed ? open() : again(std::move(why)); });
}

}  // namespace plughost::detail
