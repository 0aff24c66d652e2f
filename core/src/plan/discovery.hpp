// Discovery: which files the locations hold, in a stable order, each reached once.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace plughost::detail {

struct found_file {
  std::string name;                ///< relative to its location (a file location: the file name)
  std::filesystem::path path;      ///< absolute, lexically normal; symlinks kept as named
  std::filesystem::path location;  ///< the location it was found in
  bool plugin = false;             ///< some runner claims it
  std::string ignored_reason;      ///< when not a plugin, or already reached another way
  /// It could not be looked at (its path is longer than Linux accepts): an error of the plan,
  /// as an unreadable plugin is, not a file quietly ignored.
  std::string error;
};

struct discovery_result {
  std::vector<found_file> files;
  std::vector<std::string> warnings;  ///< missing locations, unreadable folders, loops
};

/// Walks each location (a file or a folder; folders recursively, entries in byte order of
/// their names, names starting with '.' skipped). `claims` says whether a runner claims a
/// file. Symlinks are followed; a folder reached twice is walked once (so loops end), and a file
/// reached twice (same device and inode) is listed as ignored the second time.
/// Two plugin files with one name (the same relative path in two locations) both stay, the
/// later one named "<name>#2" (#3 …), with a warning. Locations should be absolute (the caller
/// resolves them). Never throws for file-system problems: they become warnings.
discovery_result discover(const std::vector<std::filesystem::path>& locations,
                          const std::function<bool(const std::filesystem::path&)>& claims);

}  // namespace plughost::detail
