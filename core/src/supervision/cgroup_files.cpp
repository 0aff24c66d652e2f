// Reading and writing cgroup files.
#include "supervision/cgroup_files.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdint>

namespace plughost::detail {

int write_cgroup_file(const std::filesystem::path& file, std::string_view text) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  const auto n = ::write(fd, text.data(), text.size());
  const int err = n == static_cast<ssize_t>(text.size()) ? 0 : (n < 0 ? errno : EIO);
  ::close(fd);
  return err;
}

std::optional<std::string> read_cgroup_file(const std::filesystem::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string out;
  char buffer[4096];
  for (;;) {
    const auto n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

std::optional<std::uint64_t> cgroup_keyed_value(const std::filesystem::path& file,
                                                std::string_view key) {
  const auto text = read_cgroup_file(file);
  if (!text) return std::nullopt;
  std::string_view rest(*text);
  while (!rest.empty()) {
    const auto end = std::min(rest.find('\n'), rest.size());
    const auto line = rest.substr(0, end);
    rest.remove_prefix(std::min(end + 1, rest.size()));
    if (line.size() <= key.size() || line.substr(0, key.size()) != key || line[key.size()] != ' ') {
      continue;
    }
    std::uint64_t value = 0;
    const auto digits = line.substr(key.size() + 1);
    if (std::from_chars(digits.data(), digits.data() + digits.size(), value).ec == std::errc()) {
      return value;
    }
  }
  return std::nullopt;
}

std::vector<pid_t> cgroup_pids(const std::filesystem::path& file) {
  std::vector<pid_t> out;
  const auto text = read_cgroup_file(file);
  if (!text) return out;
  const char* p = text->data();
  const char* end = p + text->size();
  while (p < end) {
    int pid = 0;
    const auto r = std::from_chars(p, end, pid);
    if (r.ec == std::errc() && pid > 0) out.push_back(pid);
    p = r.ptr + 1;
  }
  return out;
}

std::string cpu_list_text(const std::vector<int>& cpus) {
  std::string out;
  for (std::size_t i = 0; i < cpus.size();) {
    std::size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += j == i ? fmt::format("{}", cpus[i]) : fmt::format("{}-{}", cpus[i], cpus[j]);
    i = j + 1;
  }
  return out;
}

}  // namespace plughost::detail
