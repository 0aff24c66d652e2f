// The isolation values that take more than a number: CPU lists, rlimits, GPUs, users and groups
// (docs/isolation.md), each refused at its line when it is wrong or cannot be on this machine.
#include "config/isolation_values.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <set>

#include "common/nearest.hpp"
#include "config/setting_values.hpp"

namespace plughost::detail {

void isolation_key::fail(const std::string& message) const {
  doc.fail_at_value(where, fmt::format("{}: {}", name, message));
}

std::string isolation_key::position() const {
  const auto p = doc.value_position(where);
  return p.line > 0 ? fmt::format("{}:{}:{}", doc.source, p.line, p.column) : doc.source;
}

namespace {

// A whole non-negative decimal number, or nothing.
std::optional<long> whole_number(std::string_view text) {
  long n = 0;
  const auto* end = text.data() + text.size();
  const auto r = std::from_chars(text.data(), end, n);
  if (text.empty() || r.ec != std::errc() || r.ptr != end || n < 0) return std::nullopt;
  return n;
}

constexpr const char* cpu_list_expected =
    "expected a CPU list such as \"0-3,7\" or [0, 1], or housekeeping";

}  // namespace

std::vector<int> parse_cpu_list(const json& v, const isolation_key& k) {
  std::set<int> cpus;
  const auto add = [&](long from, long to) {
    if (from > to || to >= CPU_SETSIZE) k.fail(cpu_list_expected);
    for (long c = from; c <= to; ++c) cpus.insert(static_cast<int>(c));
  };
  if (v.is_number_integer() && v.get<long>() >= 0) {
    add(v.get<long>(), v.get<long>());
  } else if (v.is_array() && !v.empty()) {
    for (const auto& c : v) {
      if (!c.is_number_integer() || c.get<long>() < 0) k.fail(cpu_list_expected);
      add(c.get<long>(), c.get<long>());
    }
  } else if (v.is_string()) {
    std::string_view text = v.get_ref<const std::string&>();
    while (true) {
      const auto comma = text.find(',');
      const auto part = text.substr(0, comma);
      const auto dash = part.find('-');
      const auto from = whole_number(part.substr(0, dash));
      const auto to = dash == part.npos ? from : whole_number(part.substr(dash + 1));
      if (!from || !to) k.fail(cpu_list_expected);
      add(*from, *to);
      if (comma == text.npos) break;
      text.remove_prefix(comma + 1);
    }
  } else {
    k.fail(cpu_list_expected);
  }
  return {cpus.begin(), cpus.end()};
}

std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> out;
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return out;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) out.push_back(c);
  }
  return out;
}

namespace {

struct limit_kind {
  const char* name;
  int resource;
  bool size;  // as: a size; the others: a count
};
constexpr limit_kind limit_kinds[] = {{"nofile", RLIMIT_NOFILE, false},
                                      {"core", RLIMIT_CORE, true},
                                      {"nproc", RLIMIT_NPROC, false},
                                      {"as", RLIMIT_AS, true}};

}  // namespace

void apply_limits(const json& v, const isolation_key& k,
                  std::vector<std::pair<int, rlim_t>>& limits) {
  if (!v.is_object())
    k.fail(fmt::format("expected a mapping of nofile, core, nproc, as, got {}", describe_type(v)));
  const std::vector<std::string> names = {"nofile", "core", "nproc", "as"};
  for (const auto& [key, value] : v.items()) {
    const auto* kind = std::find_if(std::begin(limit_kinds), std::end(limit_kinds),
                                    [&](const auto& l) { return key == l.name; });
    if (kind == std::end(limit_kinds)) {
      k.doc.fail_at_key(k.where / key, unknown_key_message(key, k.name, names));
    }
    rlim_t n = RLIM_INFINITY;
    const bool unlimited = value.is_string() && (value.get<std::string>() == "infinity" ||
                                                 value.get<std::string>() == "unlimited");
    if (!unlimited) {
      const auto bytes = kind->size ? parse_size(value)
                         : value.is_number_integer() && value.get<std::int64_t>() >= 0
                             ? std::optional(value.get<std::int64_t>())
                             : std::nullopt;
      if (!bytes) {
        isolation_key{k.doc, k.where / key, k.name + "." + key}.fail(
            kind->size ? fmt::format("{}, or infinity", size_expected)
                       : "expected a count (0 or more), or infinity");
      }
      n = static_cast<rlim_t>(*bytes);
      // Under these no plugin starts (its interpreter cannot open its libraries, or map them),
      // and it would die with an error that names something else.
      const std::int64_t least = kind->resource == RLIMIT_NOFILE ? 16
                                 : kind->resource == RLIMIT_AS   ? std::int64_t{64} << 20
                                                                 : 0;
      if (*bytes < least) {
        isolation_key{k.doc, k.where / key, k.name + "." + key}.fail(
            fmt::format("{} is too little for a plugin to start: at least {}", *bytes,
                        kind->size ? size_text(least) : std::to_string(least)));
      }
    }
    const auto it = std::find_if(limits.begin(), limits.end(),
                                 [&](const auto& l) { return l.first == kind->resource; });
    if (it != limits.end()) {
      it->second = n;
    } else {
      limits.emplace_back(kind->resource, n);
    }
  }
}

void apply_gpu(const json& v, const isolation_key& k, plugin_isolation& iso) {
  constexpr const char* expected =
      "expected inherit, none, or a list of devices such as \"0,1\" or [0, 1]";
  std::vector<std::string> devices;
  if (v.is_string()) {
    const auto& text = v.get_ref<const std::string&>();
    if (text == "inherit" || text == "none") {
      iso.gpu = text == "inherit" ? gpu_access::inherit : gpu_access::none;
      iso.gpu_list.clear();
      return;
    }
    // A word (no digit) is a misspelt choice, not a device: devices are numbers or ids.
    if (std::none_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      k.fail(fmt::format("{}{}", expected, did_you_mean(text, {"inherit", "none"})));
    }
    std::string_view rest = text;
    while (true) {
      const auto comma = rest.find(',');
      devices.emplace_back(rest.substr(0, comma));
      if (comma == rest.npos) break;
      rest.remove_prefix(comma + 1);
    }
  } else if (v.is_array() && !v.empty()) {
    for (const auto& d : v) {
      if (d.is_number_integer() && d.get<long>() >= 0) {
        devices.push_back(d.dump());
      } else if (d.is_string()) {
        devices.push_back(d.get<std::string>());
      } else {
        k.fail(expected);
      }
    }
  } else {
    k.fail(expected);
  }
  for (const auto& d : devices) {
    if (d.empty() || d.find_first_of(", \t\n\r\f\v") != std::string::npos ||
        d.find('\0') != std::string::npos) {
      k.fail(expected);
    }
  }
  iso.gpu = gpu_access::list;
  iso.gpu_list = fmt::format("{}", fmt::join(devices, ","));
}

namespace {

// A name or a numeric id (a YAML number, or digits).
std::string id_text(const json& v, const isolation_key& k, const char* what) {
  if (v.is_number_integer() && v.get<std::int64_t>() >= 0) return v.dump();
  if (v.is_string() && !v.get_ref<const std::string&>().empty() &&
      v.get_ref<const std::string&>().find('\0') == std::string::npos) {
    return v.get<std::string>();
  }
  k.fail(fmt::format("expected a {} name or a numeric id, got {}", what, describe_type(v)));
}

}  // namespace

void apply_user(const json& v, const isolation_key& k, plugin_isolation& iso) {
  const auto text = id_text(v, k, "user");
  passwd pw{};
  passwd* found = nullptr;
  std::vector<char> buffer(16384);
  const auto id = whole_number(text);
  const int err =
      id ? ::getpwuid_r(static_cast<uid_t>(*id), &pw, buffer.data(), buffer.size(), &found)
         : ::getpwnam_r(text.c_str(), &pw, buffer.data(), buffer.size(), &found);
  if (!found) {
    k.fail(fmt::format("there is no user {} on this machine{}", text,
                       err != 0 ? fmt::format(" ({})", std::strerror(err)) : std::string()));
  }
  if (::geteuid() != 0 && pw.pw_uid != ::geteuid()) {
    k.fail(fmt::format("user needs plughost to run as root (it runs as uid {}, {} is uid {})",
                       ::geteuid(), text, pw.pw_uid));
  }
  iso.uid = pw.pw_uid;
  iso.gid = pw.pw_gid;
  iso.user_name = pw.pw_name;
  iso.home = pw.pw_dir;
  int count = 64;
  std::vector<gid_t> groups(static_cast<std::size_t>(count));
  if (::getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &count) < 0) {
    groups.resize(static_cast<std::size_t>(count));  // count now says how many there are
    ::getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &count);
  }
  groups.resize(static_cast<std::size_t>(std::max(count, 0)));
  iso.groups = std::move(groups);
}

void apply_group(const json& v, const isolation_key& k, plugin_isolation& iso) {
  const auto text = id_text(v, k, "group");
  group gr{};
  group* found = nullptr;
  std::vector<char> buffer(65536);
  const auto id = whole_number(text);
  const int err =
      id ? ::getgrgid_r(static_cast<gid_t>(*id), &gr, buffer.data(), buffer.size(), &found)
         : ::getgrnam_r(text.c_str(), &gr, buffer.data(), buffer.size(), &found);
  if (!found) {
    k.fail(fmt::format("there is no group {} on this machine{}", text,
                       err != 0 ? fmt::format(" ({})", std::strerror(err)) : std::string()));
  }
  if (::geteuid() != 0 && gr.gr_gid != ::getegid()) {
    k.fail(fmt::format("group needs plughost to run as root (it runs as gid {}, {} is gid {})",
                       ::getegid(), text, gr.gr_gid));
  }
  iso.gid = gr.gr_gid;
}

std::string scalar_text(const json& v, const isolation_key& k) {
  if (v.is_string()) {
    if (v.get_ref<const std::string&>().find('\0') != std::string::npos) {
      k.fail("holds a NUL byte, which no environment variable or argument can");
    }
    return v.get<std::string>();
  }
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number_float()) return python_float_text(v.get<double>());
  if (v.is_number()) return v.dump();
  k.fail(fmt::format("expected a string, a number or a boolean, got {}", describe_type(v)));
}

}  // namespace plughost::detail
