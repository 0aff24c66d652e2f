// Shebang parsing (as the kernel does it) and interpreter fallback.
#include "plan/interpreter.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "plughost/record.hpp"
#include "plughost/sink_helpers.hpp"

namespace plughost::detail {

namespace {
bool is_blank(char c) {
  return c == ' ' || c == '\t';
}
}  // namespace

std::optional<shebang> parse_shebang(std::string_view head, bool* truncated) {
  if (truncated) *truncated = false;
  if (head.size() < 2 || head[0] != '#' || head[1] != '!') return std::nullopt;
  // The kernel's buffer: the first 256 bytes, NUL-padded when the file is shorter.
  std::string buffer(head.substr(0, shebang_limit));
  buffer.resize(shebang_limit, '\0');
  const std::string_view b(buffer);
  constexpr std::string_view blank = " \t";
  constexpr std::string_view blank_or_nul(" \t\0", 3);
  // The line ends at the newline, which the kernel looks for only up to the first NUL ...
  auto end = b.find_first_of(std::string_view("\n\0", 2));
  if (end == std::string_view::npos || b[end] != '\n') {
    // ... else at the buffer's last byte (dropped), if the interpreter's name visibly ends before
    // it (a blank or a NUL after it): a name that may have been cut short is refused.
    const auto name = b.find_first_not_of(blank, 2);
    if (name == std::string_view::npos) return std::nullopt;
    if (b.find_first_of(blank_or_nul, name) == std::string_view::npos) {
      if (truncated) *truncated = true;
      return std::nullopt;
    }
    end = shebang_limit - 1;
  }
  while (is_blank(b[end - 1])) --end;  // stops at the '!' at the latest
  // The kernel then reads the name and the argument as C strings: a NUL ends either.
  const auto line = b.substr(2, end - 2);
  const auto name = line.find_first_not_of(blank);
  if (name == std::string_view::npos || line[name] == '\0') return std::nullopt;
  const auto name_end = std::min(line.find_first_of(blank_or_nul, name), line.size());
  shebang out{std::string(line.substr(name, name_end - name)), std::nullopt};
  if (name_end < line.size() && line[name_end] != '\0') {
    // Blanks trimmed on both sides, unless a NUL comes first (then it may even be empty).
    const auto argument = line.substr(line.find_first_not_of(blank, name_end));
    out.argument = std::string(argument.substr(0, argument.find('\0')));
  }
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
  // Each folder of PATH in turn, as execvp() searches it (an empty entry is the current
  // folder). Not Boost.Process's find_executable: it needs Boost.Filesystem's library, which
  // nothing else in plughost does.
  std::size_t from = 0;
  while (from <= path_var.size()) {
    auto to = path_var.find(':', from);
    if (to == std::string_view::npos) to = path_var.size();
    const auto folder = path_var.substr(from, to - from);
    auto candidate = std::filesystem::path(folder.empty() ? "." : folder) / name;
    if (is_executable_file(candidate)) return candidate;
    from = to + 1;
  }
  return std::nullopt;
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

// The shebang's interpreter, when it can run the plugin: chosen (true). Else false, and
// `set_aside` says why it was not used, for the warning or the error.
bool choose_from_shebang(const shebang& sb, const std::filesystem::path& plugin,
                         std::string_view path_var, resolution& out, std::string& set_aside) {
  const auto use = [&](const std::string& program) {
    out.chosen = interpreter_choice{program, {}};
    if (sb.argument) out.chosen->arguments.push_back(*sb.argument);
  };
  const bool bare = sb.interpreter.find('/') == std::string::npos;
  if (!bare && is_executable_file(sb.interpreter)) {
    use(sb.interpreter);
    return true;
  }
  // A bare name (#!python3): LMCache looks it up on PATH, so plugins written for it rely on
  // that; the kernel would look in the working directory only.
  if (bare) {
    if (const auto found = find_program(sb.interpreter, path_var)) {
      use(found->string());
      out.warnings.push_back(fmt::format(
          "{}: shebang interpreter '{}' is a bare name, which Linux would not look up on PATH; "
          "using {} found on PATH (write #!/usr/bin/env {} to run it anywhere)",
          plugin.string(), sb.interpreter, found->string(), sb.interpreter));
      return true;
    }
  }
  set_aside = bare ? fmt::format("shebang interpreter '{}' is not on PATH", sb.interpreter)
                   : fmt::format("shebang interpreter {} {}", sb.interpreter,
                                 ::access(sb.interpreter.c_str(), F_OK) == 0 ? "is not executable"
                                                                             : "does not exist");
  return false;
}

// Without a usable shebang: the configured interpreter, else the first of the runner's defaults
// found on PATH; or the error saying what was tried.
void choose_configured_or_default(const runner& r, std::string_view runner_name,
                                  const std::filesystem::path& plugin, std::string_view path_var,
                                  const runner_overrides& overrides, const std::string& set_aside,
                                  resolution& out) {
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
      return;
    }
  }
  for (const auto& name : candidates) {
    if (const auto found = find_program(name, path_var)) {
      out.chosen = interpreter_choice{found->string(), overrides.args};
      if (!set_aside.empty()) {
        out.warnings.push_back(fmt::format("{}: {}; using {} ({}) instead", plugin.string(),
                                           set_aside, name, found->string()));
      }
      return;
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
    if (choose_from_shebang(*sb, plugin, path_var, out, set_aside)) return out;
  } else if (truncated) {
    set_aside = fmt::format("shebang interpreter name is longer than {} bytes", shebang_limit);
  }
  choose_configured_or_default(r, runner_name, plugin, path_var, overrides, set_aside, out);
  return out;
}

}  // namespace plughost::detail
