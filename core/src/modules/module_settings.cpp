// Typed access to a module's validated settings, and the names of module kinds.
#include <fmt/format.h>

#include <stdexcept>

#include "plughost/module.hpp"

namespace plughost {

std::string_view to_string(std_library_abi abi) noexcept {
  switch (abi) {
    case std_library_abi::libstdcxx:
      return "libstdc++ (C++11 ABI)";
    case std_library_abi::libstdcxx_old:
      return "libstdc++ (old ABI, _GLIBCXX_USE_CXX11_ABI=0)";
    case std_library_abi::libcxx:
      return "libc++";
    case std_library_abi::unknown:
      break;
  }
  return "an unknown C++ standard library";
}

std::string_view to_string(module_kind kind) noexcept {
  return kind == module_kind::runner ? "runner" : "sink";
}

bool settings::has(std::string_view key) const {
  return values_.find(key) != values_.end();
}

const settings::value& settings::at(std::string_view key) const {
  const auto it = values_.find(key);
  if (it == values_.end()) {
    throw std::logic_error(fmt::format("setting '{}' has no value (missing from the table?)", key));
  }
  return it->second;
}

namespace {
template <typename T>
const T& get_as(const settings::value& v, std::string_view key) {
  if (const auto* p = std::get_if<T>(&v)) return *p;
  throw std::logic_error(fmt::format("setting '{}' read as the wrong type", key));
}
}  // namespace

bool settings::get_bool(std::string_view key) const {
  return get_as<bool>(at(key), key);
}
std::int64_t settings::get_integer(std::string_view key) const {
  return get_as<std::int64_t>(at(key), key);
}
double settings::get_number(std::string_view key) const {
  const auto& v = at(key);
  if (const auto* i = std::get_if<std::int64_t>(&v)) return static_cast<double>(*i);
  return get_as<double>(v, key);
}
const std::string& settings::get_string(std::string_view key) const {
  return get_as<std::string>(at(key), key);
}
const std::vector<std::string>& settings::get_string_list(std::string_view key) const {
  return get_as<std::vector<std::string>>(at(key), key);
}
std::chrono::nanoseconds settings::get_duration(std::string_view key) const {
  return get_as<std::chrono::nanoseconds>(at(key), key);
}
void settings::set(std::string key, value v) {
  values_.insert_or_assign(std::move(key), std::move(v));
}

}  // namespace plughost
