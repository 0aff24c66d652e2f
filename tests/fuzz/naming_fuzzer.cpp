// Fuzzes select_plugin (the naming rules) against the rules as
// docs/discovery-naming-interpreters.md states them, written again here from LMCache's side:
// Python's Path.stem, str.split("_"), an integer comparison of the worker part. The decision and
// its reason must agree, and neither may depend on the worker count or on the ASCII case of the
// role and the name.
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "plan/naming.hpp"

namespace {

using plughost::identity;
using plughost::detail::selection;

void require(bool ok) {
  if (!ok) __builtin_trap();
}

// pathlib's stem: the name without its suffix; a suffix is a last '.' that neither starts nor
// ends the name.
std::string python_stem(const std::string& name) {
  const auto i = name.rfind('.');
  if (i != std::string::npos && i > 0 && i < name.size() - 1) return name.substr(0, i);
  return name;
}

std::vector<std::string> split_underscore(const std::string& s) {
  std::vector<std::string> parts{""};
  for (const char c : s) {
    if (c == '_') {
      parts.emplace_back();
    } else {
      parts.back() += c;
    }
  }
  return parts;
}

std::string upper(std::string s) {
  for (auto& c : s) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
  }
  return s;
}

bool ascii_digits(const std::string& s) {
  if (s.empty()) return false;
  for (const char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// int(digits) == id, as Python compares them (no overflow: a value past int64 equals no id).
bool same_integer(const std::string& digits, std::int64_t id) {
  std::int64_t value = 0;
  for (const char c : digits) {
    if (__builtin_mul_overflow(value, 10, &value) ||
        __builtin_add_overflow(value, c - '0', &value)) {
      return false;
    }
  }
  return value == id;
}

selection expected(const std::string& file_name, const identity& who) {
  const auto parts = split_underscore(python_stem(file_name));
  if (parts.size() < 2) return {true, "runs on every process: the name has no role part"};
  if (!who.role) return {true, "no role set: role filtering is off"};
  const auto role = upper(parts[0]);
  if (role != "ALL" && role != upper(*who.role)) return {false, "requires role " + role};
  std::string reason = role == "ALL" ? "runs on every role (ALL)" : "runs on role " + role;
  if (parts.size() >= 3 && ascii_digits(parts[1])) {
    const auto n = parts[1].find_first_not_of('0');
    const auto number = n == std::string::npos ? std::string("0") : parts[1].substr(n);
    if (!same_integer(parts[1], who.worker_id)) return {false, "only for worker " + number};
    reason += ", worker " + number;
  }
  return {true, reason};
}

// Flips the case of ASCII letters where `mask` says so.
std::string flip_case(std::string s, std::uint64_t mask) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (((mask >> (i % 64)) & 1) == 0) continue;
    if (c >= 'a' && c <= 'z') s[i] = static_cast<char>(c - 32);
    if (c >= 'A' && c <= 'Z') s[i] = static_cast<char>(c + 32);
  }
  return s;
}

// The input, as text: the role ("(none)" for none), the worker id, the worker count and the file
// name, one a line (the name is the rest, newlines and all). Numbers that do not parse are 0/1.
struct input {
  identity who;
  std::string file_name;
};

input parse(std::string_view text) {
  const auto line = [&] {
    const auto nl = text.find('\n');
    const auto l = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    return l;
  };
  input out;
  if (const auto role = line(); role != "(none)") out.who.role = std::string(role);
  const auto id = line();
  std::from_chars(id.data(), id.data() + id.size(), out.who.worker_id);
  const auto count = line();
  std::from_chars(count.data(), count.data() + count.size(), out.who.worker_count);
  out.file_name = std::string(text);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto [who, file_name] = parse(text);

  const auto got = plughost::detail::select_plugin(file_name, who);
  const auto want = expected(file_name, who);
  require(got.run == want.run);
  require(got.reason == want.reason);

  // Neither the worker count nor the case of letters changes the decision.
  const auto mask = std::hash<std::string_view>{}(text);
  identity other = who;
  other.worker_count = who.worker_count == 1 ? 8 : 1;
  if (other.role) other.role = flip_case(*other.role, ~mask);
  const auto again = plughost::detail::select_plugin(flip_case(file_name, mask), other);
  require(again.run == got.run);
  return 0;
}
