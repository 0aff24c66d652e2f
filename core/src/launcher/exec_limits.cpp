// The sizes execve() checks (fs/exec.c): every string of argv and the environment with its
// NUL, plus a pointer to each, against a quarter of the stack limit; and each string alone
// against MAX_ARG_STRLEN.
#include "launcher/exec_limits.hpp"

#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <string_view>

#include "supervision/run_processes.hpp"

namespace plughost::detail {

namespace {

constexpr std::size_t min_limit = 32 * 4096;                // ARG_MAX
constexpr std::size_t max_limit = 8 * 1024 * 1024 / 4 * 3;  // 3/4 of _STK_LIM: 6 MiB

std::string_view name_of(std::string_view entry) {
  return entry.substr(0, entry.find('='));
}

std::string kib(std::size_t bytes) {
  return fmt::format("{:.1f} KiB", static_cast<double>(bytes) / 1024);
}

// The largest strings of an exec, largest first: "NAME (12.3 KiB), ...".
std::string largest_parts(const launch_item& item, const std::vector<std::string>& env) {
  std::vector<std::pair<std::size_t, std::string>> parts;
  for (const auto& e : env) parts.emplace_back(e.size() + 1, std::string(name_of(e)));
  for (std::size_t i = 0; i < item.argv.size(); ++i) {
    parts.emplace_back(item.argv[i].size() + 1, fmt::format("argv[{}]", i));
  }
  const auto shown = std::min<std::size_t>(3, parts.size());
  std::partial_sort(parts.begin(), parts.begin() + static_cast<std::ptrdiff_t>(shown), parts.end(),
                    [](const auto& a, const auto& b) { return a.first > b.first; });
  std::string out;
  for (std::size_t i = 0; i < shown; ++i) {
    out += fmt::format("{}{} ({})", i ? ", " : "", parts[i].second, kib(parts[i].first));
  }
  return out;
}

}  // namespace

std::size_t exec_size_limit() {
  struct rlimit stack {};
  std::size_t limit = max_limit;
  if (::getrlimit(RLIMIT_STACK, &stack) == 0 && stack.rlim_cur != RLIM_INFINITY) {
    limit = std::min<std::size_t>(limit, stack.rlim_cur / 4);
  }
  return std::max(limit, min_limit);
}

std::size_t exec_size(const std::vector<std::string>& argv,
                      const std::vector<std::string>& environment) {
  // The program's path is copied too (execve's filename: argv[0] here).
  std::size_t size = argv.empty() ? 0 : argv[0].size() + 1;
  for (const auto& s : argv) size += s.size() + 1 + sizeof(char*);
  for (const auto& s : environment) size += s.size() + 1 + sizeof(char*);
  return size;
}

std::string exec_size_problem(const std::vector<launch_item>& items, std::size_t limit) {
  const launch_item* first = nullptr;
  std::string problem;
  std::size_t others = 0;
  for (const auto& item : items) {
    const auto env = item.environment.entries();
    std::string found;
    for (const auto& e : env) {
      if (e.size() + 1 <= max_exec_string) continue;
      found = fmt::format(
          "its environment variable {} is {} bytes with its name, more than Linux accepts for "
          "one variable ({} bytes, MAX_ARG_STRLEN)",
          name_of(e), e.size() + 1, max_exec_string);
      break;
    }
    for (std::size_t i = 0; found.empty() && i < item.argv.size(); ++i) {
      if (item.argv[i].size() + 1 <= max_exec_string) continue;
      found = fmt::format(
          "its argument {} is {} bytes, more than Linux accepts for one argument ({} bytes, "
          "MAX_ARG_STRLEN)",
          i, item.argv[i].size() + 1, max_exec_string);
    }
    // With the run's mark, which the supervisor adds.
    if (const auto size = exec_size(item.argv, env) + run_mark_size;
        found.empty() && size > limit) {
      found = fmt::format(
          "its environment and command line take {} bytes, more than the {} bytes Linux "
          "accepts when starting a program (ARG_MAX: a quarter of the stack limit, ulimit -s, "
          "at least 128 KiB and at most 6 MiB); the largest parts: {}; make them smaller, or "
          "raise the stack limit",
          size, limit, largest_parts(item, env));
    }
    if (found.empty()) continue;
    if (first) {
      ++others;
      continue;
    }
    first = &item;
    problem = std::move(found);
  }
  if (!first) return {};
  return fmt::format("plugin {} cannot be started: {}{}", first->name, problem,
                     others ? fmt::format(" (and {} other plugin{})", others, others > 1 ? "s" : "")
                            : std::string());
}

}  // namespace plughost::detail
