# The fuzz targets, one tests/fuzz/<name>_fuzzer.cpp each, with a seed corpus in corpus/<name>/.
# Read by the fuzz build (tests/fuzz/CMakeLists.txt) and by the test suite (tests/CMakeLists.txt),
# which runs each of them briefly.
set(PLUGHOST_FUZZ_TARGETS config_yaml config_toml config_json shebang naming line_splitter)
