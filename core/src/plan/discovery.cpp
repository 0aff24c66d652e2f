// Discovery of plugin files: sorted recursive walk, hidden names skipped, each file once.
#include "plan/discovery.hpp"

#include <fmt/format.h>
#include <limits.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>

namespace plughost::detail {

namespace {

namespace fs = std::filesystem;

struct file_id {
  dev_t dev;
  ino_t ino;
  auto operator<=>(const file_id&) const = default;
};

class walker {
 public:
  walker(const std::function<bool(const fs::path&)>& claims, discovery_result& out)
      : claims_(claims), out_(out) {}

  void location(const fs::path& loc) {
    location_ = loc;
    struct stat st {};
    if (::stat(loc.c_str(), &st) != 0) {
      const int err = errno;
      if (err == ENOENT || err == ENOTDIR) {
        warn(fmt::format("plugin location {} does not exist", loc.string()));
      } else if (err == ENAMETOOLONG) {  // a plugin that can be neither read nor run: an error
        out_.files.push_back({loc.filename().string(), loc, loc, false, {}, too_long(loc)});
      } else {
        warn(
            fmt::format("plugin location {} cannot be read: {}", loc.string(), std::strerror(err)));
      }
      return;
    }
    if (S_ISDIR(st.st_mode)) {
      folder(loc, "", st);
    } else {
      file(loc, loc.filename().string(), st);
    }
  }

 private:
  void folder(const fs::path& dir, const std::string& prefix, const struct stat& st) {
    if (!walked_.insert({st.st_dev, st.st_ino}).second) return;  // walked already: loop or alias
    std::error_code ec;
    fs::directory_iterator it(dir, ec);
    if (ec) {
      warn(fmt::format("folder {} cannot be read: {}", dir.string(), ec.message()));
      return;
    }
    std::vector<std::string> names;
    for (; it != fs::directory_iterator(); it.increment(ec)) {
      auto name = it->path().filename().string();
      if (!name.empty() && name[0] != '.') names.push_back(std::move(name));
    }
    if (ec)
      warn(fmt::format("folder {} could not be read completely: {}", dir.string(), ec.message()));
    std::sort(names.begin(), names.end());  // byte order: independent of locale
    for (const auto& name : names) {
      const auto path = dir / name;
      const auto relative = prefix.empty() ? name : prefix + "/" + name;
      struct stat child {};
      if (::stat(path.c_str(), &child) != 0) {
        const int err = errno;
        if (err == ENAMETOOLONG) {  // a file or a folder: neither can be read, nor run
          out_.files.push_back({relative, path, location_, false, {}, too_long(path)});
          continue;
        }
        out_.files.push_back({relative,
                              path,
                              location_,
                              false,
                              err == ENOENT ? std::string("broken symbolic link")
                                            : fmt::format("cannot be read: {}", std::strerror(err)),
                              {}});
        continue;
      }
      if (S_ISDIR(child.st_mode)) {
        folder(path, relative, child);
      } else {
        file(path, relative, child);
      }
    }
  }

  void file(const fs::path& path, const std::string& name, const struct stat& st) {
    found_file f{name, path, location_, false, {}, {}};
    if (!S_ISREG(st.st_mode)) {
      f.ignored_reason = "not a regular file";
    } else if (!claims_(path)) {
      const auto ext = path.extension().string();
      f.ignored_reason = ext.empty() ? std::string("no runner claims files without an extension")
                                     : fmt::format("no runner claims '{}' files", ext);
    } else if (const auto [it, inserted] = seen_.try_emplace(file_id{st.st_dev, st.st_ino}, path);
               !inserted) {
      f.ignored_reason = fmt::format("same file as {}", it->second.string());
    } else {
      f.plugin = true;
    }
    out_.files.push_back(std::move(f));
  }

  void warn(std::string message) { out_.warnings.push_back(std::move(message)); }

  static std::string too_long(const fs::path& path) {
    return fmt::format(
        "its path is {} bytes long, longer than Linux accepts ({} bytes, PATH_MAX): it can be "
        "neither read nor run; move it to a shorter path",
        path.native().size(), PATH_MAX);
  }

  const std::function<bool(const fs::path&)>& claims_;
  discovery_result& out_;
  fs::path location_;  // the one being walked
  std::set<file_id> walked_;
  std::map<file_id, fs::path> seen_;
};

// A plugin is known by its name (records, plughost.plugins, reloads): two different files with
// one name (the same relative path in two locations) would be mixed up. Both still run, as in
// LMCache; the later one is named "<name>#2" (#3 …), and a warning says which is which.
void name_uniquely(discovery_result& out) {
  std::map<std::string, const found_file*> first;
  for (auto& f : out.files) {
    if (!f.plugin) continue;  // an ignored file is never run or configured by name
    const auto [it, added] = first.emplace(f.name, &f);
    if (added) continue;
    std::string name;
    for (int n = 2; first.count(name = fmt::format("{}#{}", f.name, n)); ++n) {
    }
    out.warnings.push_back(fmt::format("two files are named {}: {} and {}; the second is called {}",
                                       f.name, it->second->path.string(), f.path.string(), name));
    f.name = name;
    first.emplace(f.name, &f);
  }
}

}  // namespace

discovery_result discover(const std::vector<std::filesystem::path>& locations,
                          const std::function<bool(const std::filesystem::path&)>& claims) {
  discovery_result out;
  walker w(claims, out);
  for (const auto& loc : locations) w.location(loc);
  name_uniquely(out);
  return out;
}

}  // namespace plughost::detail
