// An ordered, replaceable environment block (for identity lookup and for plugins' environments).
#include "common/environment.hpp"

#include <unistd.h>

namespace plughost::detail {

environment_block::environment_block(const std::vector<std::string>& entries) {
  for (const auto& e : entries) {
    const auto eq = e.find('=');
    if (eq == std::string::npos) {
      set(e, "");
    } else {
      set(std::string_view(e).substr(0, eq), std::string_view(e).substr(eq + 1));
    }
  }
}

environment_block environment_block::current() {
  std::vector<std::string> entries;
  for (char** e = ::environ; e && *e; ++e) entries.emplace_back(*e);
  return environment_block(entries);
}

std::optional<std::string_view> environment_block::get(std::string_view name) const {
  const auto it = index_.find(std::string(name));
  if (it == index_.end()) return std::nullopt;
  return std::string_view(entries_[it->second]).substr(name.size() + 1);
}

void environment_block::set(std::string_view name, std::string_view value) {
  std::string entry;
  entry.reserve(name.size() + 1 + value.size());
  entry.append(name).append("=").append(value);
  const auto [it, inserted] = index_.try_emplace(std::string(name), entries_.size());
  if (inserted) {
    entries_.push_back(std::move(entry));
  } else {
    entries_[it->second] = std::move(entry);
  }
}

void environment_block::unset(std::string_view name) {
  const auto it = index_.find(std::string(name));
  if (it == index_.end()) return;
  const auto at = it->second;
  entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(at));
  index_.erase(it);
  for (auto& [key, position] : index_) {
    if (position > at) --position;
  }
}

}  // namespace plughost::detail
