// Fuzzes parse_shebang against a transcription of Linux's own parser (fs/binfmt_script.c,
// load_script(), as of Linux 5.8 and still in 6.x): the same interpreter, the same argument, and
// "truncated" exactly when the kernel refuses an interpreter name cut short.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

#include "plan/interpreter.hpp"

namespace {

using plughost::detail::shebang;

void require(bool ok) {
  if (!ok) __builtin_trap();
}

bool spacetab(char c) {
  return c == ' ' || c == '\t';
}

const char* next_non_spacetab(const char* first, const char* last) {
  for (; first <= last; first++)
    if (!spacetab(*first)) return first;
  return nullptr;
}

const char* next_terminator(const char* first, const char* last) {
  for (; first <= last; first++)
    if (spacetab(*first) || !*first) return first;
  return nullptr;
}

// strnchr(): stops at a NUL.
const char* strnchr(const char* s, std::size_t count, char c) {
  while (count--) {
    if (*s == c) return s;
    if (*s++ == '\0') break;
  }
  return nullptr;
}

struct kernel_result {
  std::optional<shebang> parsed;
  bool truncated = false;  // refused: "no later space/tab/NUL", the name may be cut short
};

// load_script() up to the point where it has i_name and i_arg, on the first 256 bytes of the
// file (BINPRM_BUF_SIZE), NUL-padded when the file is shorter.
kernel_result kernel_parse(std::string_view file) {
  char buf[256] = {};
  std::memcpy(buf, file.data(), std::min(file.size(), sizeof buf));
  if (buf[0] != '#' || buf[1] != '!') return {};
  const char* buf_end = buf + sizeof(buf) - 1;
  const char* i_end = strnchr(buf, sizeof(buf), '\n');
  if (!i_end) {
    i_end = next_non_spacetab(buf + 2, buf_end);
    if (!i_end) return {};  // entire buf is spaces/tabs
    if (!next_terminator(i_end, buf_end)) return {std::nullopt, true};
    i_end = buf_end;
  }
  while (spacetab(i_end[-1])) i_end--;
  const char* i_name = next_non_spacetab(buf + 2, i_end);
  if (!i_name || i_name == i_end) return {};  // no interpreter name found
  const char* i_arg = nullptr;
  const char* i_sep = next_terminator(i_name, i_end);
  if (i_sep && *i_sep != '\0') i_arg = next_non_spacetab(i_sep, i_end);
  // The kernel then writes NULs at i_end and (with an argument) at i_sep, and copies both as
  // C strings.
  buf[i_end - buf] = '\0';
  if (i_arg) buf[i_sep - buf] = '\0';
  // An empty name ("#!" then a NUL) makes the kernel open "", which fails: no interpreter.
  if (*i_name == '\0') return {};
  kernel_result out{shebang{i_name, std::nullopt}, false};
  if (i_arg) out.parsed->argument = std::string(i_arg);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view head(reinterpret_cast<const char*>(data), size);
  bool truncated = true;
  const auto parsed = plughost::detail::parse_shebang(head, &truncated);
  const auto expected = kernel_parse(head);
  require(parsed == expected.parsed);
  require(truncated == expected.truncated);
  // Without the flag's pointer, the same answer.
  require(plughost::detail::parse_shebang(head) == parsed);
  return 0;
}
