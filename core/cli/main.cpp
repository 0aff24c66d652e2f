// The plughost launcher binary: a thin shell over libplughost.
#include "cli.hpp"
#include "constructors.hpp"

int main(int argc, char** argv, char** envp) {
  plughost::cli::run_constructors_if_skipped(argc, argv, envp);
  return plughost::cli::main(argc, argv);
}
