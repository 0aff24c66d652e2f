// The control socket as a file: its folder (0700, this user's), the socket bound at mode 0600, a
// stale one replaced and another running plughost's left alone, and the sockets that serving
// runs whose LMCache process is gone left behind.
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <filesystem>
#include <string>

namespace plughost::detail {

/// Which file a server made: removed at the end only if it is still that one.
struct made_socket {
  dev_t dev = 0;
  ino_t ino = 0;
};

/// Binds `acceptor` to `path` (folder created or checked, a dead plughost's socket replaced,
/// mode 0600 before anyone can connect) and listens. Throws std::runtime_error naming the path
/// and what is wrong.
made_socket bind_control_socket(boost::asio::io_context& ioc,
                                boost::asio::local::stream_protocol::acceptor& acceptor,
                                const std::filesystem::path& path);

/// Removes the socket at `path` if it is still the one made.
void remove_control_socket(const std::filesystem::path& path, made_socket made);

/// The pid in a serving run's socket name, ROLE.WORKER.PID.sock (the LMCache process it
/// serves), or 0 for another name.
pid_t served_pid(const std::string& name);

/// Each LMCache process a run served has a socket of its own: one killed with SIGKILL leaves its
/// file, and every restart of vLLM on a host would add one. A serving run removes, in its
/// folder, the ones whose LMCache process is gone and where nobody answers (this user's only).
void remove_sockets_left_behind(boost::asio::io_context& ioc, const std::filesystem::path& own);

}  // namespace plughost::detail
