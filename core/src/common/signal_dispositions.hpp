// Putting a forked child's signal dispositions back to the defaults, for the processes plughost
// starts: plugins, the guardian, and the children that load modules.
#pragma once

namespace plughost::detail {

/// Sets every signal's disposition to the default, glibc's internal 32 and 33 included, and
/// whatever a sanitizer or an embedding program installed (through the raw system call, which
/// no library intercepts). Async-signal-safe: for forked children.
void reset_signal_dispositions() noexcept;

}  // namespace plughost::detail
