// Whether plugins and modules are checked for who could have written them before they run or
// load (common/permissions.hpp): as root, unless --allow-insecure-permissions or
// plughost.allow_insecure_permissions says not to.
#include <fmt/format.h>

#include "config/settings_parts.hpp"

namespace plughost::detail {

permission_policy resolve_permission_policy(const launch_options& options,
                                            const configuration& config, uid_t euid,
                                            std::vector<std::string>& warnings) {
  const auto key = pick(config, "allow_insecure_permissions");
  if (key.value && !key.value->is_boolean()) {
    key.doc->fail_at_value(key.where,
                           fmt::format("allow_insecure_permissions in plughost: expected true or "
                                       "false, got {}",
                                       describe_type(*key.value)));
  }
  std::string turned_off_by;
  if (options.allow_insecure_permissions) {
    turned_off_by = "--allow-insecure-permissions";
  } else if (key.value && key.value->get<bool>()) {
    const auto at = key.doc->key_position(key.where);
    turned_off_by = at.line > 0
                        ? fmt::format("{}:{}:{}: plughost.allow_insecure_permissions",
                                      key.doc->source, at.line, at.column)
                        : fmt::format("{}: plughost.allow_insecure_permissions", key.doc->source);
  }
  // Not root: plughost can give a plugin no more than its own user's rights, and files that
  // user's group may write are common (umask 002, shared team folders). See
  // docs/discovery-naming-interpreters.md.
  if (euid != 0) return {false, euid};
  if (!turned_off_by.empty()) {
    warnings.push_back(
        fmt::format("{}: plughost runs as root and does not check who owns "
                    "plugins and modules or may write them: whoever can write "
                    "one runs code as root",
                    turned_off_by));
    return {false, euid};
  }
  return {true, euid};
}

}  // namespace plughost::detail
