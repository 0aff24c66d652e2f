// The nearest name: an edit distance, for "did you mean ...?" (configuration keys, plugin names,
// the command line's commands).
#include "common/nearest.hpp"

#include <algorithm>

namespace plughost::detail {

std::optional<std::string> nearest_key(std::string_view key,
                                       const std::vector<std::string>& valid) {
  auto distance = [](std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
      std::size_t diagonal = row[0];
      row[0] = i;
      for (std::size_t j = 1; j <= b.size(); ++j) {
        const std::size_t above = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
        diagonal = above;
      }
    }
    return row[b.size()];
  };
  std::optional<std::string> best;
  std::size_t best_distance = std::max<std::size_t>(2, key.size() / 3) + 1;
  for (const auto& candidate : valid) {
    const auto d = distance(key, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  return best;
}

std::string did_you_mean(std::string_view key, const std::vector<std::string>& valid) {
  const auto near = nearest_key(key, valid);
  return near ? " (did you mean '" + *near + "'?)" : std::string();
}

}  // namespace plughost::detail
