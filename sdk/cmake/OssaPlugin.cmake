# ossa_add_plugin(): builds an Ossa plugin. Shared by the installed package (OssaSDKConfig.cmake)
# and by the Ossa source tree, so in-tree and out-of-tree plugins are built the same way.
#
#   ossa_add_plugin(<name> SOURCES <file>... [MIN_ABI_MINOR <n>])
#
# Makes a MODULE library target <name> whose file is exactly <name>.so (no "lib" prefix), linked
# to OssaSDK::sdk (ossa/plugin.h, ossa/sdk.hpp, C++17), compiled with hidden visibility and, on
# Linux, linked with a version script exporting only ossa_plugin_info, ossa_plugin_init and
# ossa_plugin_shutdown, and with --no-undefined (a missing symbol fails the link, not the load).
# MIN_ABI_MINOR: the lowest host ABI minor the plugin needs (OSSA_PLUGIN_MIN_ABI_MINOR; default 0).
# The target is an ordinary target: add libraries with target_link_libraries(<name> PRIVATE ...)
# and install it with install(TARGETS <name> LIBRARY DESTINATION ...).

if(CMAKE_VERSION VERSION_LESS 3.17)
  message(FATAL_ERROR "ossa_add_plugin needs CMake 3.17 or newer")
endif()

function(ossa_add_plugin name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "MIN_ABI_MINOR" "SOURCES")
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "ossa_add_plugin(${name}): unknown arguments: ${arg_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT arg_SOURCES)
    message(FATAL_ERROR "ossa_add_plugin(${name}): SOURCES is required")
  endif()
  if(NOT TARGET OssaSDK::sdk)
    message(FATAL_ERROR "ossa_add_plugin(${name}): no OssaSDK::sdk target (find_package(OssaSDK))")
  endif()

  add_library(${name} MODULE ${arg_SOURCES})
  target_link_libraries(${name} PRIVATE OssaSDK::sdk)
  target_compile_features(${name} PRIVATE cxx_std_17)
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    OUTPUT_NAME "${name}"
    SUFFIX ".so"
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(DEFINED arg_MIN_ABI_MINOR)
    if(NOT arg_MIN_ABI_MINOR MATCHES "^[0-9]+$")
      message(FATAL_ERROR "ossa_add_plugin(${name}): MIN_ABI_MINOR must be a number")
    endif()
    target_compile_definitions(${name} PRIVATE OSSA_PLUGIN_MIN_ABI_MINOR=${arg_MIN_ABI_MINOR})
  endif()
  if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
    set(map "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/ossa_plugin.map")
    target_link_options(${name} PRIVATE "LINKER:--version-script=${map}" "LINKER:--no-undefined")
    set_property(TARGET ${name} APPEND PROPERTY LINK_DEPENDS "${map}")
  endif()
endfunction()
