// The plughost launcher binary: a thin shell over libplughost.
#include "cli.hpp"

int main(int argc, char** argv) {
  return plughost::cli::main(argc, argv);
}
