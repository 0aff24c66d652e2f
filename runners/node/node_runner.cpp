// The node runner: its extensions and default interpreters (node, then nodejs (the name Debian used
// before node)).
#include "node_runner.hpp"

namespace plughost::runners {

node_runner::node_runner() : script_runner({".js", ".mjs", ".cjs"}, {"node", "nodejs"}) {}

}  // namespace plughost::runners
