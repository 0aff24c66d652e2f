// plughost's version: the one source of it (CMake reads it from here).
#pragma once

#define PLUGHOST_VERSION_MAJOR 0
#define PLUGHOST_VERSION_MINOR 1
#define PLUGHOST_VERSION_PATCH 0
/// "major.minor.patch"
#define PLUGHOST_VERSION_STRING "0.1.0"
