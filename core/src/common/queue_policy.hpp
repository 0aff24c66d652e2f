// How a sink's queue behaves: its size and what happens when it is full. Set by the
// configuration (config/), applied by the output stage (output/).
#pragma once

#include <cstddef>

namespace plughost::detail {

enum class overflow_policy {
  block,        ///< stop reading the pipes of the plugins routed to the sink until there is room
  drop_new,     ///< drop the records that do not fit, counted per plugin
  drop_oldest,  ///< drop the oldest records queued, counted per plugin
};

struct queue_policy {
  std::size_t size = 8 * 1024 * 1024;  ///< bytes of records waiting (text + 64 per record)
  overflow_policy overflow = overflow_policy::block;
};

}  // namespace plughost::detail
