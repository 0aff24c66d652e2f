// Loading configuration files by extension and locating values for error messages.
#include "config/config_document.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <utility>

#include "plughost/error.hpp"

namespace plughost::detail {

namespace {
source_position lookup(const std::unordered_map<std::string, source_position>& table,
                       json::json_pointer where) {
  while (true) {
    if (const auto it = table.find(where.to_string()); it != table.end() && it->second.line > 0) {
      return it->second;
    }
    if (where.empty()) return {};
    where = where.parent_pointer();
  }
}
}  // namespace

source_position config_document::value_position(const json::json_pointer& where) const {
  return lookup(values_, where);
}

source_position config_document::key_position(const json::json_pointer& where) const {
  if (const auto it = keys_.find(where.to_string()); it != keys_.end() && it->second.line > 0) {
    return it->second;
  }
  return value_position(where);
}

void config_document::fail(source_position p, const std::string& message) const {
  if (p.line > 0) throw config_error(source, p.line, p.column, message);
  throw config_error(source, message);
}

void config_document::fail_at_value(const json::json_pointer& where,
                                    const std::string& message) const {
  fail(value_position(where), message);
}

void config_document::fail_at_key(const json::json_pointer& where,
                                  const std::string& message) const {
  fail(key_position(where), message);
}

void config_document::record(std::unordered_map<std::string, source_position>& table,
                             const json::json_pointer& where, source_position p) {
  auto path = where.to_string();
  recorded_bytes_ += path.size();
  if (recorded_bytes_ > max_config_expanded_bytes) {
    fail(p, fmt::format("the paths to the document's values add up to more than {} MiB (very "
                        "long keys, nested deep?)",
                        max_config_expanded_bytes / (1024 * 1024)));
  }
  table[std::move(path)] = p;
}

void config_document::record_value(const json::json_pointer& where, source_position p) {
  record(values_, where, p);
}

void config_document::record_key(const json::json_pointer& where, source_position p) {
  record(keys_, where, p);
}

void config_document::take_positions(config_document&& other) {
  values_ = std::move(other.values_);
  keys_ = std::move(other.keys_);
  recorded_bytes_ = other.recorded_bytes_;
}

config_format format_of(const std::filesystem::path& file) {
  const auto ext = file.extension().string();
  if (ext == ".yaml" || ext == ".yml") return config_format::yaml;
  if (ext == ".toml") return config_format::toml;
  if (ext == ".json") return config_format::json_text;
  throw config_error(file.string(),
                     fmt::format("unknown configuration format '{}': expected a .yaml, .yml, "
                                 ".toml or .json file",
                                 ext.empty() ? "(no extension)" : ext));
}

namespace {

// What a file that is not a regular file is, for the message.
std::string_view file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

// The whole file, if it is a regular file of at most max_config_file_bytes. Non-blocking open:
// a FIFO must not block before it is seen to be one.
std::string read_config_file(const std::filesystem::path& file) {
  const auto fail = [&](const std::string& why) {
    throw config_error(file.string(), "cannot read configuration file: " + why);
  };
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) fail(std::strerror(errno));
  struct stat st {};
  std::string text;
  const auto close_fd = [fd] { ::close(fd); };
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    close_fd();
    fail(std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    close_fd();
    fail(fmt::format("it is {}, not a regular file", file_kind(st.st_mode)));
  }
  char buffer[65536];
  while (true) {
    const auto n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      close_fd();
      fail(std::strerror(err));
    }
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
    if (text.size() > max_config_file_bytes) {
      close_fd();
      fail(fmt::format("it is larger than {} MiB, more than a configuration may be",
                       max_config_file_bytes / (1024 * 1024)));
    }
  }
  close_fd();
  return text;
}

}  // namespace

config_document load_config_file(const std::filesystem::path& file) {
  const auto text = read_config_file(file);
  std::error_code ec;
  auto base = std::filesystem::absolute(file, ec).parent_path();
  return parse_config_text(text, format_of(file), file.string(), base);
}

config_document parse_config_text(std::string_view text, config_format format, std::string source,
                                  std::filesystem::path base_dir) {
  config_document doc;
  doc.source = std::move(source);
  doc.base_dir = std::move(base_dir);
  switch (format) {
    case config_format::yaml:
      parse_yaml_into(doc, text);
      break;
    case config_format::toml:
      parse_toml_into(doc, text);
      break;
    case config_format::json_text:
      parse_json_into(doc, text);
      break;
  }
  if (doc.root.is_null()) doc.root = json::object();  // an empty file configures nothing
  if (!doc.root.is_object()) {
    doc.fail_at_value(json::json_pointer(),
                      fmt::format("expected a mapping of settings at the top level, got {}",
                                  describe_type(doc.root)));
  }
  return doc;
}

std::string python_float_text(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value < 0 ? "-Infinity" : "Infinity";
  // fmt's shortest form switches to an exponent where repr() does (below 1e-4, from 1e16);
  // repr() then adds ".0" to a whole number.
  auto text = fmt::format("{}", value);
  if (text.find_first_of(".e") == std::string::npos) text += ".0";
  return text;
}

namespace {

void dump_into(std::string& out, const json& value, std::string& at,
               const std::map<std::string, std::string>& exact) {
  const auto string = [&](const std::string& s) {
    out += json(s).dump(-1, ' ', false, json::error_handler_t::replace);
  };
  const auto child = [&](const std::string& token, const json& v) {
    const auto before = at.size();
    at += '/';
    for (const char c : token) {  // RFC 6901 escapes, as json_pointer::to_string() writes them
      if (c == '~') {
        at += "~0";
      } else if (c == '/') {
        at += "~1";
      } else {
        at += c;
      }
    }
    dump_into(out, v, at, exact);
    at.resize(before);
  };
  switch (value.type()) {
    case json::value_t::object: {
      out += '{';
      bool first = true;
      for (const auto& [key, v] : value.items()) {
        if (!std::exchange(first, false)) out += ',';
        string(key);
        out += ':';
        child(key, v);
      }
      out += '}';
      return;
    }
    case json::value_t::array: {
      out += '[';
      for (std::size_t i = 0; i < value.size(); ++i) {
        if (i > 0) out += ',';
        child(std::to_string(i), value[i]);
      }
      out += ']';
      return;
    }
    case json::value_t::number_float:
      if (const auto it = exact.find(at); it != exact.end()) {
        out += it->second;
      } else {
        out += python_float_text(value.get<double>());
      }
      return;
    default:
      out += value.dump(-1, ' ', false, json::error_handler_t::replace);
  }
}

}  // namespace

std::string dump_for_plugins(const json& value, const std::map<std::string, std::string>& exact) {
  std::string out;
  std::string at;
  dump_into(out, value, at, exact);
  return out;
}

std::string describe_type(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "nothing (null)";
    case json::value_t::object:
      return "a mapping";
    case json::value_t::array:
      return "a list";
    case json::value_t::string:
      return fmt::format("the string \"{}\"", v.get_ref<const std::string&>());
    case json::value_t::boolean:
      return fmt::format("the boolean {}", v.get<bool>() ? "true" : "false");
    case json::value_t::number_float: {
      // JSON has no text for these: dump() would say null.
      const auto d = v.get<double>();
      if (std::isnan(d)) return "not a number (.nan)";
      if (std::isinf(d)) return d > 0 ? "infinity (.inf)" : "minus infinity (-.inf)";
      return fmt::format("the number {}", v.dump());
    }
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return fmt::format("the number {}", v.dump());
    default:
      return "an unsupported value";
  }
}

}  // namespace plughost::detail
