// What a launcher says of its run, and what operators may ask of it (the control socket, the
// metrics endpoint): status, plugins stopped or started by hand, reload, reopening the sinks.
#include "launcher/launcher_impl.hpp"

namespace plughost {

// The supervisor's snapshot, with which run this is.
launcher_status launcher::impl::status() const {
  auto s = supervisor.status();
  if (s.pid != 0) {
    s.who = who;
    s.parent_pid = parent_pid;
  }
  return s;
}

void launcher::impl::reopen_sinks() noexcept {
  const std::lock_guard lock(run_mutex);
  if (began) dispatch.reopen();
}

detail::operator_calls launcher::impl::operator_calls() {
  detail::operator_calls calls;
  calls.status = [this] { return status(); };
  calls.act = [this](std::string_view what, std::string_view plugin) {
    using enum detail::supervisor::by_hand;
    return supervisor.act(what == "stop" ? stop : what == "start" ? start : restart, plugin);
  };
  calls.reload = [this] {
    auto said = supervisor.reload_now();
    const std::lock_guard lock(reload_mutex);
    for (const auto& w : reload_warnings) said += "\n" + w;
    return said;
  };
  calls.reopen = [this] { reopen_sinks(); };
  calls.tap = settings.control_socket ? &tap : nullptr;
  return calls;
}

}  // namespace plughost
