// Candidate module files, examined without loading them: stat() first (a FIFO or a device
// opened for reading could block, or have side effects), then the ELF header, read through a
// descriptor opened with O_NONBLOCK and checked again with fstat().
#include "modules/module_file.hpp"

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <link.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "plughost/sink_helpers.hpp"

namespace plughost::detail {

namespace {

std::string kind_of_file(mode_t mode) {
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

std::string not_regular(mode_t mode) {
  return fmt::format("not a regular file ({})", kind_of_file(mode));
}

// What identifies the machine an ELF file was built for: e_ident's class and byte order, and
// e_machine (the same offsets in 32- and 64-bit files).
struct elf_target {
  unsigned char elf_class = 0;
  unsigned char byte_order = 0;
  unsigned machine = 0;
  bool operator==(const elf_target&) const = default;
};

constexpr std::size_t ident_and_machine = 20;  // e_ident[16], e_type, e_machine

bool has_elf_magic(const unsigned char* bytes) {
  return std::memcmp(bytes, ELFMAG, SELFMAG) == 0;
}

elf_target target_of(const unsigned char* header) {
  elf_target t{header[EI_CLASS], header[EI_DATA], 0};
  const unsigned lo = header[18];
  const unsigned hi = header[19];
  t.machine = t.byte_order == ELFDATA2MSB ? (lo << 8 | hi) : (hi << 8 | lo);
  return t;
}

// This program's own target, read from its ELF header as the dynamic loader mapped it (the
// first page of the object holding this function). Unknown (all zero) if that is not ELF.
elf_target own_target() {
  Dl_info info{};
  if (::dladdr(reinterpret_cast<void*>(&own_target), &info) == 0 || !info.dli_fbase) return {};
  const auto* header = static_cast<const unsigned char*>(info.dli_fbase);
  return has_elf_magic(header) ? target_of(header) : elf_target{};
}

std::string machine_name(unsigned machine) {
  switch (machine) {
    case EM_X86_64:
      return "x86-64";
    case EM_AARCH64:
      return "aarch64";
    case EM_386:
      return "i386";
    case EM_ARM:
      return "arm";
    case EM_RISCV:
      return "riscv";
    case EM_PPC64:
      return "ppc64";
    case EM_PPC:
      return "ppc";
    case EM_S390:
      return "s390";
    case EM_MIPS:
      return "mips";
    case EM_LOONGARCH:
      return "loongarch";
    case EM_SPARCV9:
      return "sparc64";
    case EM_IA_64:
      return "ia64";
    default:
      return fmt::format("ELF machine {}", machine);
  }
}

// "aarch64"; for the machine of `host` but another word size or byte order, "x86-64 (32-bit)".
std::string describe(const elf_target& t, const elf_target& host) {
  auto out = machine_name(t.machine);
  if (t.machine != host.machine) return out;
  if (t.elf_class != host.elf_class) {
    out += t.elf_class == ELFCLASS32   ? " (32-bit)"
           : t.elf_class == ELFCLASS64 ? " (64-bit)"
                                       : " (unknown ELF class)";
  }
  if (t.byte_order != host.byte_order) {
    out += t.byte_order == ELFDATA2LSB   ? " (little-endian)"
           : t.byte_order == ELFDATA2MSB ? " (big-endian)"
                                         : " (unknown byte order)";
  }
  return out;
}

// Reads up to `size` bytes at `offset`; returns how many it could.
std::size_t read_some_at(int fd, std::uint64_t offset, void* out, std::size_t size) {
  auto* bytes = static_cast<unsigned char*>(out);
  std::size_t got = 0;
  while (got < size) {
    const auto n = ::pread(fd, bytes + got, size - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  return got;
}

// Opens `file` for reading without blocking (if it was replaced by a FIFO since it was looked
// at, open() returns at once instead of waiting for a writer) and makes sure it is still a
// regular file. Returns the descriptor, or -1 with `problem` set.
int open_regular(const std::filesystem::path& file, std::string& problem) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    problem = fmt::format("cannot be opened: {}", std::strerror(errno));
    return -1;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    problem = fmt::format("cannot be examined: {}", std::strerror(errno));
  } else if (!S_ISREG(st.st_mode)) {
    problem = not_regular(st.st_mode);
  }
  if (problem.empty()) return fd;
  ::close(fd);
  return -1;
}

// Reads exactly `size` bytes at `offset`, or fails.
bool read_at(int fd, std::uint64_t offset, void* out, std::size_t size) {
  return read_some_at(fd, offset, out, size) == size;
}

// The bytes of the section named `name` of a native ELF file: nothing when it has none, nullopt
// when its section headers cannot be read.
std::optional<std::string> section_bytes(int fd, std::string_view name) {
  // Sizes beyond these are no section table or manifest a compiler writes.
  constexpr std::uint64_t max_sections = 65535, max_bytes = 1 << 20;
  ElfW(Ehdr) header{};
  if (!read_at(fd, 0, &header, sizeof header)) return std::nullopt;
  if (header.e_shoff == 0 || header.e_shnum == 0) return std::string();  // no section table
  if (header.e_shentsize != sizeof(ElfW(Shdr)) || header.e_shstrndx >= header.e_shnum ||
      header.e_shnum > max_sections) {
    return std::nullopt;
  }
  std::vector<ElfW(Shdr)> sections(header.e_shnum);
  if (!read_at(fd, header.e_shoff, sections.data(), sections.size() * sizeof(ElfW(Shdr)))) {
    return std::nullopt;
  }
  const auto& names = sections[header.e_shstrndx];
  if (names.sh_size > max_bytes) return std::nullopt;
  std::string name_table(names.sh_size, '\0');
  if (!read_at(fd, names.sh_offset, name_table.data(), name_table.size())) return std::nullopt;
  for (const auto& s : sections) {
    if (s.sh_name >= name_table.size() || name_table.c_str() + s.sh_name != name) continue;
    if (s.sh_type == SHT_NOBITS || s.sh_size > max_bytes) return std::nullopt;
    std::string bytes(s.sh_size, '\0');
    if (!read_at(fd, s.sh_offset, bytes.data(), bytes.size())) return std::nullopt;
    return bytes;
  }
  return std::string();
}

}  // namespace

std::string not_a_regular_file(const std::filesystem::path& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    const int err = errno;
    struct stat link {};
    if (err == ENOENT && ::lstat(file.c_str(), &link) == 0) return "a broken symbolic link";
    if (err == ELOOP) return "a symbolic link loop";
    return fmt::format("cannot be examined: {}", std::strerror(err));
  }
  return S_ISREG(st.st_mode) ? std::string() : not_regular(st.st_mode);
}

std::string elf_problem(const std::filesystem::path& file) {
  std::string problem;
  const int fd = open_regular(file, problem);
  if (fd < 0) return problem;
  unsigned char header[ident_and_machine] = {};
  const auto got = read_some_at(fd, 0, header, sizeof header);
  ::close(fd);
  if (got < SELFMAG || !has_elf_magic(header)) return "not a shared object (no ELF header)";
  if (got < sizeof header) return "not a shared object (its ELF header is cut short)";
  const auto host = own_target();
  const auto target = target_of(header);
  if (host.machine != 0 && target != host) {
    return fmt::format("built for {}, this plughost is {}", describe(target, host),
                       describe(host, host));
  }
  return {};
}

manifest_read read_manifest(const std::filesystem::path& file) {
  manifest_read out;
  const int fd = open_regular(file, out.problem);
  if (fd < 0) return out;
  const auto bytes = section_bytes(fd, module_manifest_section);
  ::close(fd);
  if (!bytes) {
    out.problem = "its ELF section headers cannot be read";
    return out;
  }
  // Another ABI version's records may have another size: the first one's version is enough to
  // refuse the module.
  constexpr std::size_t versioned = sizeof module_manifest::magic + sizeof(std::uint32_t);
  if (bytes->size() >= versioned && std::string_view(bytes->data(), 8) == "plughost") {
    module_manifest first{};
    std::memcpy(&first, bytes->data(), versioned);
    if (first.abi_version != module_abi_version) {
      out.records.push_back(first);
      return out;
    }
  }
  // Records are 128 bytes; a linker may leave zeros between those of different object files.
  constexpr auto size = sizeof(module_manifest);
  if (bytes->size() % size != 0) {
    out.problem = fmt::format(
        "its section {} is {} bytes, not a whole number of {}-byte records: the file is damaged",
        module_manifest_section, bytes->size(), size);
    return out;
  }
  for (std::size_t at = 0; at + size <= bytes->size(); at += size) {
    const std::string_view record(bytes->data() + at, size);
    if (record.find_first_not_of('\0') == std::string_view::npos) continue;
    module_manifest m{};
    std::memcpy(&m, record.data(), size);
    if (std::string_view(m.magic, sizeof m.magic) != "plughost" ||
        m.name[sizeof m.name - 1] != '\0') {
      out.problem =
          fmt::format("its section {} is not what PLUGHOST_MODULE writes", module_manifest_section);
      out.records.clear();
      return out;
    }
    if (m.kind != static_cast<std::uint32_t>(module_kind::runner) &&
        m.kind != static_cast<std::uint32_t>(module_kind::sink) &&
        m.kind != module_manifest::unknown_kind) {
      out.problem = fmt::format("its section {} names an unknown module kind ({}) for {}",
                                module_manifest_section, m.kind, visible(m.name));
      out.records.clear();
      return out;
    }
    out.records.push_back(m);
  }
  return out;
}

}  // namespace plughost::detail
