// Who could have written what plughost runs or loads: the owner and mode checks sudo and cron
// make, applied to plugin and module files and the folders that hold them.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>

namespace plughost::detail {

/// Whether plugin and module files are checked before they run or load, and whose they may be.
struct permission_policy {
  bool check = false;     ///< plughost runs as root, and the check was not turned off
  uid_t trusted_uid = 0;  ///< who may own them besides root: plughost's effective user
};

/// What one stat() says about a file or folder, as far as the check is concerned.
struct file_status {
  uid_t owner = 0;
  mode_t mode = 0;         ///< st_mode
  bool read_only = false;  ///< on a file system mounted read-only: nobody writes it here
};

/// What is wrong with one file or folder, in words ("writable by others (mode 0666)", "owned by
/// uid 65534, not root"), or empty. Its owner must be root or `trusted_uid`; it must not be
/// writable by its group or others (the sticky bit does not help: it stops others from
/// replacing what is there, not from adding files or links), unless it is on a read-only mount.
std::string permission_problem(const file_status& s, uid_t trusted_uid);

/// "uid 65534 (nobody)", or "uid 1234" for a uid without a name.
std::string describe_user(uid_t uid);

/// Checks the path that leads to `path` as sudo and OpenSSH check a secure path: from / down,
/// following symbolic links as the kernel does, every folder it goes through must be owned by
/// root or `trusted_uid` and not writable by its group or others, unless it has the sticky bit
/// (/tmp: others cannot rename or remove there what is not theirs; what is in it is checked in its
/// turn); a symbolic link met in a folder others may write must be root's or `trusted_uid`'s (its
/// owner could point it anywhere). Returns every problem, each naming the folder or link, its owner
/// and mode, and what to change, joined with "; "; empty when there is none. Never throws.
std::string check_path_to(const std::filesystem::path& path, uid_t trusted_uid);

/// Checks `file` and every folder that holds it, from its own folder up to and including `top`,
/// which is its own folder or one above it (lexically; when it is neither, only the file's own
/// folder is checked: never a folder above `top`). Paths are followed through symbolic links
/// (what runs is the target), and when the file resolves somewhere else, the folders that hold
/// the target are checked too: up to the resolved `top` when the target lies inside it, else
/// the target's own folder. Returns every problem, "<path> is writable by others (mode 0777)",
/// joined with "; ", each file or folder once; empty when there is none. Never throws: a path
/// that cannot be examined is a problem.
std::string check_permissions(const std::filesystem::path& file, const std::filesystem::path& top,
                              uid_t trusted_uid);

}  // namespace plughost::detail
