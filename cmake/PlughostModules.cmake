# Helpers that declare plughost's runner and sink modules, so each module's CMakeLists.txt is
# a single call and the core learns the built-ins from the build, never from its own code.

set_property(GLOBAL PROPERTY PLUGHOST_BUILTIN_MODULES "")

# plughost_builtin_module(<name> <kind> SOURCES <files...>)
# Compiles a module that ships inside libplughost. <kind> is runner or sink.
function(plughost_builtin_module name kind)
  cmake_parse_arguments(PARSE_ARGV 2 arg "" "" "SOURCES")
  set(target plughost_${kind}_${name})
  add_library(${target} OBJECT ${arg_SOURCES})
  target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}/core/include
                                               ${CMAKE_CURRENT_SOURCE_DIR})
  target_compile_definitions(${target} PRIVATE PLUGHOST_MODULE_ID=${name}_${kind})
  target_link_libraries(${target} PRIVATE plughost_warnings fmt::fmt nlohmann_json::nlohmann_json)
  set_property(GLOBAL APPEND PROPERTY PLUGHOST_BUILTIN_MODULES "${name}_${kind}:${target}")
endfunction()
