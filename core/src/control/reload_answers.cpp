// Answering a reload on the control socket (reload_answers.hpp).
#include "control/reload_answers.hpp"

#include <nlohmann/json.hpp>

namespace plughost::detail {

void waiting_threads::run(std::function<void()> work) {
  std::erase_if(threads_, [](waiting& w) {  // those that are over
    if (!w.over->load()) return false;
    w.thread.join();
    return true;
  });
  auto over = std::make_shared<std::atomic<bool>>(false);
  threads_.push_back({std::thread([work = std::move(work), over] {
                        work();
                        over->store(true);
                      }),
                      over});
}

void waiting_threads::join() noexcept {
  for (auto& w : threads_) {
    if (w.thread.joinable()) w.thread.join();
  }
  threads_.clear();
}

std::string reload_answer(const std::string& said) {
  using json = nlohmann::json;
  json warnings = json::array();
  for (auto at = said.find('\n'); at != std::string::npos;) {
    const auto next = said.find('\n', at + 1);
    warnings.push_back(said.substr(at + 1, next == std::string::npos ? next : next - at - 1));
    at = next;
  }
  return json{{"ok", true},
              {"said", said.substr(0, said.find('\n'))},
              {"warnings", std::move(warnings)}}
             .dump(-1, ' ', false, json::error_handler_t::replace) +
         "\n";
}
}  // namespace plughost::detail
