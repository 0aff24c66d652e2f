// The control socket's file (control_socket_file.hpp): raw stat() checks, since who owns the
// folder and what the path is decide whether plughost may listen there.
#include "control/control_socket_file.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string_view>

#include "common/log.hpp"

namespace plughost::detail {

namespace asio = boost::asio;
using local = asio::local::stream_protocol;
namespace fs = std::filesystem;

namespace {

// The folder the socket goes in: created 0700 when missing; else it must be this user's (or
// root's) and writable by no one else, since whoever may write it could put their own socket
// where `plughost stop` looks.
void prepare_folder(const fs::path& folder) {
  struct stat st {};
  if (::lstat(folder.c_str(), &st) != 0) {
    if (errno != ENOENT) {
      throw std::runtime_error(
          fmt::format("cannot use {}: {}", folder.string(), std::strerror(errno)));
    }
    std::error_code ec;
    fs::create_directories(folder.parent_path(), ec);
    if (::mkdir(folder.c_str(), 0700) != 0 && errno != EEXIST) {
      throw std::runtime_error(
          fmt::format("cannot create {}: {}", folder.string(), std::strerror(errno)));
    }
    if (::lstat(folder.c_str(), &st) != 0) {
      throw std::runtime_error(
          fmt::format("cannot use {}: {}", folder.string(), std::strerror(errno)));
    }
  }
  if (!S_ISDIR(st.st_mode)) {
    throw std::runtime_error(fmt::format("{} is not a folder", folder.string()));
  }
  if (st.st_uid != ::geteuid() && st.st_uid != 0) {
    throw std::runtime_error(fmt::format("{} belongs to uid {}, not to this user ({})",
                                         folder.string(), st.st_uid, ::geteuid()));
  }
  if ((st.st_mode & (S_IWOTH | S_IWGRP)) != 0 && (st.st_mode & S_ISVTX) == 0) {
    throw std::runtime_error(fmt::format("{} may be written by others than its owner (mode {:o})",
                                         folder.string(), st.st_mode & 07777));
  }
}

}  // namespace

made_socket bind_control_socket(asio::io_context& ioc, local::acceptor& acceptor,
                                const fs::path& path) {
  prepare_folder(path.parent_path());
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      throw std::runtime_error(fmt::format("{} exists and is not a socket", path.string()));
    }
    // Another plughost answering there keeps it; one that died left it behind.
    local::socket probe(ioc);
    boost::system::error_code ec;
    probe.connect(local::endpoint(path.string()), ec);
    if (!ec) {
      throw std::runtime_error(fmt::format(
          "{} is the control socket of another running plughost (same role and worker id?); "
          "give this one its own with --socket or plughost.control_socket",
          path.string()));
    }
    ::unlink(path.c_str());
  }
  acceptor.open(local());
  acceptor.bind(local::endpoint(path.string()));
  // Owner only, before anyone can connect (listen() comes after).
  if (::chmod(path.c_str(), 0600) != 0 || ::lstat(path.c_str(), &st) != 0) {
    const int e = errno;
    ::unlink(path.c_str());
    throw std::runtime_error(fmt::format("cannot set up {}: {}", path.string(), std::strerror(e)));
  }
  acceptor.listen();
  return {st.st_dev, st.st_ino};
}

void remove_control_socket(const fs::path& path, made_socket made) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && st.st_dev == made.dev && st.st_ino == made.ino) {
    ::unlink(path.c_str());
  }
}

pid_t served_pid(const std::string& name) {
  constexpr std::string_view suffix = ".sock";
  if (name.size() <= suffix.size() ||
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return 0;
  }
  const auto stem = std::string_view(name).substr(0, name.size() - suffix.size());
  const auto dot = stem.rfind('.');
  if (dot == std::string_view::npos || dot + 1 == stem.size()) return 0;
  const auto digits = stem.substr(dot + 1);
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      digits.size() > 9 || std::count(stem.begin(), stem.end(), '.') < 2) {
    return 0;
  }
  return static_cast<pid_t>(std::stol(std::string(digits)));
}

void remove_sockets_left_behind(asio::io_context& ioc, const fs::path& own) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(own.parent_path(), ec)) {
    const auto path = entry.path();
    const pid_t pid = served_pid(path.filename().string());
    if (pid <= 0 || path == own) continue;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode) || st.st_uid != ::geteuid()) {
      continue;
    }
    if (::kill(pid, 0) == 0 || errno != ESRCH) continue;  // its process lives (or is not ours)
    local::socket probe(ioc);
    boost::system::error_code refused;
    probe.connect(local::endpoint(path.string()), refused);
    if (refused == boost::asio::error::connection_refused) {
      ::unlink(path.c_str());
      log().info("control socket: removed {}, left by a plughost whose LMCache process {} is gone",
                 path.string(), pid);
    }
  }
}

}  // namespace plughost::detail
