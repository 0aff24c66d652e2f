// Answering a reload on the control socket: it waits for the reload's planning (seconds, for a
// large configuration) on a thread of its own, so that the socket's other connections are
// answered meanwhile; and what the answer says.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace plughost::detail {

/// Threads that wait for something slow on a connection's behalf (a reload's planning): joined
/// before what they use goes. On the operator thread only.
class waiting_threads {
 public:
  waiting_threads() = default;
  waiting_threads(const waiting_threads&) = delete;
  waiting_threads& operator=(const waiting_threads&) = delete;
  ~waiting_threads() { join(); }
  void run(std::function<void()> work);
  void join() noexcept;

 private:
  struct waiting {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> over;
  };
  std::vector<waiting> threads_;
};

/// The answer to a reload: what changed (the first line of `said`), then one warning a line.
std::string reload_answer(const std::string& said);

}  // namespace plughost::detail
