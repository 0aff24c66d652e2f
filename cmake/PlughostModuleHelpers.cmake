# plughost_add_module(<target> SOURCES <files...> [LIBRARIES <targets...>])
# Builds a runner or sink module for plughost: a shared object that exports nothing but the
# descriptor its PLUGHOST_MODULE(...) declares. Drop the .so into a module folder (--module-path,
# PLUGHOST_MODULE_PATH, plughost.module_locations, or PLUGHOST_MODULE_DIR) and plughost loads it.
function(plughost_add_module target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "SOURCES;LIBRARIES")
  add_library(${target} MODULE ${arg_SOURCES})
  target_link_libraries(${target} PRIVATE plughost::module_api ${arg_LIBRARIES})
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
endfunction()
