# plughost_module(): declares a runner or sink module, so that each module's CMakeLists.txt is one
# call. Built-in modules are compiled into libplughost (its shared library and its archive; a
# program links the archive whole: nothing in the core names them).
# Other modules become .so files in the build tree's module folder, loaded at run time.

set(PLUGHOST_BUILD_MODULE_DIR ${CMAKE_BINARY_DIR}/lib/plughost/modules)
set_property(GLOBAL PROPERTY PLUGHOST_BUILTIN_MODULE_TARGETS "")
set_property(GLOBAL PROPERTY PLUGHOST_SHARED_MODULE_TARGETS "")

# plughost_module(<name> <runner|sink> [BUILTIN] SOURCES <files...> [LIBRARIES <targets...>])
function(plughost_module name kind)
  cmake_parse_arguments(PARSE_ARGV 2 arg "BUILTIN" "" "SOURCES;LIBRARIES")
  set(target plughost_${kind}_${name})
  if(arg_BUILTIN)
    add_library(${target} OBJECT ${arg_SOURCES})
    set_property(GLOBAL APPEND PROPERTY PLUGHOST_BUILTIN_MODULE_TARGETS ${target})
  else()
    add_library(${target} MODULE ${arg_SOURCES})
    set_target_properties(${target} PROPERTIES
      PREFIX "" OUTPUT_NAME plughost-${kind}-${name}
      LIBRARY_OUTPUT_DIRECTORY ${PLUGHOST_BUILD_MODULE_DIR})
    set_property(GLOBAL APPEND PROPERTY PLUGHOST_SHARED_MODULE_TARGETS ${target})
  endif()
  target_link_libraries(${target} PRIVATE plughost_module_api plughost_warnings ${arg_LIBRARIES})
  target_include_directories(${target} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  # Modules export nothing but their sectioned descriptor alias.
  set_target_properties(${target} PROPERTIES
    CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON POSITION_INDEPENDENT_CODE ON)
endfunction()
