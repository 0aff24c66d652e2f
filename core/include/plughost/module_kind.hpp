// The two kinds of module: what a module's descriptor declares and what `plughost modules` lists.
#pragma once

#include <string_view>

// Everything this header declares is part of libplughost's interface (docs/embedding.md).
#pragma GCC visibility push(default)

namespace plughost {

enum class module_kind { runner, sink };

/// "runner" or "sink".
std::string_view to_string(module_kind kind) noexcept;

}  // namespace plughost

#pragma GCC visibility pop
