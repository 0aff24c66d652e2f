// Shebang parsing (as the kernel does it) and interpreter fallback.
#include "plan/interpreter.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/process/v2/environment.hpp>
#include <cerrno>
#include <cstring>

#include "plughost/record.hpp"

namespace plughost::detail {

namespace {
bool is_blank(char c) {
  return c == ' ' || c == '\t';
}
}  // namespace

std::optional<shebang> parse_shebang(std::string_view head, bool* truncated) {
  if (truncated) *truncated = false;
  if (head.size() > shebang_limit) head = head.substr(0, shebang_limit);
  if (head.size() < 2 || head[0] != '#' || head[1] != '!') return std::nullopt;
  std::string_view line = head.substr(2);
  const auto newline = line.find('\n');
  const bool complete = newline != std::string_view::npos;
  if (complete) line = line.substr(0, newline);
  if (const auto nul = line.find('\0'); nul != std::string_view::npos) line = line.substr(0, nul);

  std::size_t i = 0;
  while (i < line.size() && is_blank(line[i])) ++i;
  std::size_t end = i;
  while (end < line.size() && !is_blank(line[end])) ++end;
  if (end == i) return std::nullopt;
  // Without a newline in the buffer, an interpreter name that runs to the end may be cut short.
  if (!complete && end == line.size() && head.size() == shebang_limit) {
    if (truncated) *truncated = true;
    return std::nullopt;
  }
  shebang out{std::string(line.substr(i, end - i)), std::nullopt};
  std::size_t arg = end;
  while (arg < line.size() && is_blank(line[arg])) ++arg;
  std::size_t arg_end = line.size();
  while (arg_end > arg && is_blank(line[arg_end - 1])) --arg_end;
  if (arg_end > arg) out.argument = std::string(line.substr(arg, arg_end - arg));
  return out;
}

bool is_executable_file(const std::filesystem::path& program) {
  struct stat st {};
  return ::stat(program.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
         ::access(program.c_str(), X_OK) == 0;
}

std::optional<std::filesystem::path> find_program(std::string_view name,
                                                  std::string_view path_var) {
  if (name.find('/') != std::string_view::npos) {
    if (is_executable_file(std::filesystem::path(name))) return std::filesystem::path(name);
    return std::nullopt;
  }
  namespace bpe = boost::process::v2::environment;
  const std::vector<std::pair<std::string, std::string>> env{{"PATH", std::string(path_var)}};
  auto found = bpe::find_executable(std::string(name), env);
  if (found.empty()) return std::nullopt;
  return std::filesystem::path(found.string());
}

namespace {

struct file_head {
  std::string bytes;
  std::string error;  // empty when the read worked
};

// The first 256 bytes of the file: all the kernel looks at.
file_head read_head(const std::filesystem::path& file) {
  file_head out;
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    out.error = std::strerror(errno);
    return out;
  }
  out.bytes.resize(shebang_limit);
  std::size_t got = 0;
  while (got < out.bytes.size()) {
    const auto n = ::read(fd, out.bytes.data() + got, out.bytes.size() - got);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      out.error = std::strerror(errno);
      break;
    }
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  out.bytes.resize(got);
  return out;
}

// CRLF line endings: the kernel would keep the '\r' (and fail: /bin/bash\r does not exist);
// LMCache strips the line, and plugins written for it rely on that. Drops it with a warning
// that shows the line as the kernel reads it; false when no interpreter is left (`#!\r`).
bool drop_carriage_return(shebang& sb, const std::filesystem::path& plugin,
                          std::vector<std::string>& warnings) {
  const bool in_argument = sb.argument.has_value();
  auto& last = in_argument ? *sb.argument : sb.interpreter;
  if (!last.ends_with('\r')) return true;
  const auto line = visible("#!" + sb.interpreter + (in_argument ? " " + *sb.argument : ""));
  last.pop_back();
  warnings.push_back(fmt::format(
      "{}: the shebang line ends in a carriage return (\\r): the file has Windows line endings; "
      "convert it with dos2unix (the line reads {}; plughost drops the \\r, as LMCache does, "
      "but Linux would keep it in the {})",
      plugin.string(), line, in_argument ? "argument" : "interpreter's name"));
  if (in_argument && sb.argument->empty()) sb.argument.reset();
  return !sb.interpreter.empty();
}

}  // namespace

resolution resolve_interpreter(const runner& r, std::string_view runner_name,
                               const std::filesystem::path& plugin, std::string_view path_var,
                               const runner_overrides& overrides) {
  resolution out;
  const auto head = read_head(plugin);
  if (!head.error.empty()) {
    out.error = fmt::format("cannot read the plugin: {}", head.error);
    return out;
  }

  std::string set_aside;  // the shebang interpreter we could not use, for the warning
  bool truncated = false;
  auto sb = parse_shebang(head.bytes, &truncated);
  if (sb && !drop_carriage_return(*sb, plugin, out.warnings)) sb.reset();
  if (sb) {
    const auto use = [&](const std::string& program) {
      out.chosen = interpreter_choice{program, {}};
      if (sb->argument) out.chosen->arguments.push_back(*sb->argument);
    };
    const bool bare = sb->interpreter.find('/') == std::string::npos;
    if (!bare && is_executable_file(sb->interpreter)) {
      use(sb->interpreter);
      return out;
    }
    // A bare name (#!python3): LMCache looks it up on PATH, so plugins written for it rely on
    // that; the kernel would look in the working directory only.
    if (bare) {
      if (const auto found = find_program(sb->interpreter, path_var)) {
        use(found->string());
        out.warnings.push_back(fmt::format(
            "{}: shebang interpreter '{}' is a bare name, which Linux would not look up on PATH; "
            "using {} found on PATH (write #!/usr/bin/env {} to run it anywhere)",
            plugin.string(), sb->interpreter, found->string(), sb->interpreter));
        return out;
      }
    }
    set_aside = bare
                    ? fmt::format("shebang interpreter '{}' is not on PATH", sb->interpreter)
                    : fmt::format("shebang interpreter {} {}", sb->interpreter,
                                  ::access(sb->interpreter.c_str(), F_OK) == 0 ? "is not executable"
                                                                               : "does not exist");
  } else if (truncated) {
    set_aside = fmt::format("shebang interpreter name is longer than {} bytes", shebang_limit);
  }
  const auto set_aside_prefix = set_aside.empty() ? std::string() : set_aside + "; ";

  std::vector<std::string> candidates;
  if (overrides.interpreter) {
    // Configured: this one or nothing, so that a wrong path is noticed, not worked around.
    candidates = {*overrides.interpreter};
  } else {
    try {
      candidates = r.default_interpreters();
    } catch (const std::exception& e) {
      out.error =
          fmt::format("runner {} failed in default_interpreters(): {}", runner_name, e.what());
      return out;
    }
  }
  for (const auto& name : candidates) {
    if (const auto found = find_program(name, path_var)) {
      out.chosen = interpreter_choice{found->string(), overrides.args};
      if (!set_aside.empty()) {
        out.warnings.push_back(fmt::format("{}: {}; using {} ({}) instead", plugin.string(),
                                           set_aside, name, found->string()));
      }
      return out;
    }
  }
  if (overrides.interpreter) {
    out.error = fmt::format(
        "{}the configured interpreter {} (plughost.runners.{}.interpreter) is not an executable "
        "file or a program on PATH",
        set_aside_prefix, *overrides.interpreter, runner_name);
  } else {
    out.error = fmt::format("no interpreter found: {}tried {} on PATH", set_aside_prefix,
                            fmt::join(candidates, ", "));
  }
  return out;
}

}  // namespace plughost::detail
