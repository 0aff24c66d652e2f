// How a sink's queue behaves: its size and what happens when it is full. Set by the
// configuration (config/), applied by the output stage (output/).
#pragma once

#include <cstddef>

#include "plughost/config.hpp"

namespace plughost::detail {

using plughost::overflow_policy;

struct queue_policy {
  std::size_t size = 8 * 1024 * 1024;  ///< bytes of records waiting (text + 64 per record)
  overflow_policy overflow = overflow_policy::block;
};

}  // namespace plughost::detail
