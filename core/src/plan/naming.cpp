// The naming rules, exactly as LMCache applies them to a file's stem, with a reason for each
// decision. Case folding is ASCII-only so that no locale changes a decision.
#include "plan/naming.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

namespace plughost::detail {

namespace {

std::string ascii_upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::vector<std::string_view> split_parts(std::string_view s) {
  std::vector<std::string_view> parts;
  while (true) {
    const auto underscore = s.find('_');
    parts.push_back(s.substr(0, underscore));
    if (underscore == std::string_view::npos) return parts;
    s.remove_prefix(underscore + 1);
  }
}

bool all_ascii_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The decimal value of ASCII digits, as text without leading zeros (no overflow possible).
std::string canonical_number(std::string_view digits) {
  const auto first = digits.find_first_not_of('0');
  return first == std::string_view::npos ? "0" : std::string(digits.substr(first));
}

}  // namespace

selection select_plugin(std::string_view file_name, const identity& who) {
  // The stem: the name without its last extension (as Python's Path.stem).
  std::string_view stem = file_name;
  if (const auto dot = stem.rfind('.'); dot != std::string_view::npos && dot != 0) {
    stem = stem.substr(0, dot);
  }
  const std::string lowered = ascii_lower(stem);
  const auto parts = split_parts(lowered);

  if (parts.size() < 2) return {true, "runs on every process: the name has no role part"};
  if (!who.role) return {true, "no role set: role filtering is off"};

  const std::string plugin_role = ascii_upper(parts[0]);
  const bool for_all = plugin_role == "ALL";
  if (!for_all && plugin_role != ascii_upper(*who.role)) {
    return {false, fmt::format("requires role {}", plugin_role)};
  }
  const std::string role_text = for_all ? std::string("runs on every role (ALL)")
                                        : fmt::format("runs on role {}", plugin_role);

  if (parts.size() >= 3 && all_ascii_digits(parts[1])) {
    const auto worker = canonical_number(parts[1]);
    if (worker != std::to_string(who.worker_id)) {
      return {false, fmt::format("only for worker {}", worker)};
    }
    return {true, fmt::format("{}, worker {}", role_text, worker)};
  }
  return {true, role_text};
}

}  // namespace plughost::detail
