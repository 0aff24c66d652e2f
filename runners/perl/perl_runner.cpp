// The perl runner: its extensions and default interpreters (perl).
#include "perl_runner.hpp"

namespace plughost::runners {

perl_runner::perl_runner() : script_runner({".pl"}, {"perl"}) {}

}  // namespace plughost::runners
