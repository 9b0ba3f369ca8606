# gridgate_add_plugin(<name> SOURCES <src>... [LIBS <lib>...] [OUTPUT_DIR <dir>] [NO_INSTALL])
#
# Builds an adapter plugin: a MODULE library named exactly `<name>.so` (no
# "lib" prefix: the file name is the plugin's name, as in the plugin
# directory listing), compiled with hidden visibility so that only the
# descriptor and the factory are exported, linked with --no-undefined so a
# missing symbol fails the build rather than the gateway's load.
#
# Output directory: OUTPUT_DIR if given, else GRIDGATE_PLUGIN_OUTPUT_DIR when
# set (the gridgate tree sets it to build/lib/gridgate/plugins), else the
# current binary directory. Unless NO_INSTALL, the plugin is installed into
# lib/gridgate/plugins under the install prefix, where the gateway looks.
#
# The plugin is compiled as C++20, whatever CMAKE_CXX_STANDARD says: the
# standard is part of the build fingerprint the gateway checks. Outside the
# gridgate tree (GRIDGATE_SDK_CXX_COMPILER_ID comes from the installed
# package), a compiler other than the gateway's stops the configuration with
# both named, instead of building a plugin the gateway will refuse.
#
# The same function serves the gridgate tree and vendors, who get it from
# find_package(GridgatePluginSDK).
function(gridgate_add_plugin name)
    cmake_parse_arguments(P "NO_INSTALL" "OUTPUT_DIR" "SOURCES;LIBS" ${ARGN})
    if(NOT P_SOURCES)
        message(FATAL_ERROR "gridgate_add_plugin(${name}): SOURCES is required")
    endif()
    if(GRIDGATE_SDK_CXX_COMPILER_ID AND NOT (
            CMAKE_CXX_COMPILER_ID STREQUAL GRIDGATE_SDK_CXX_COMPILER_ID AND
            CMAKE_CXX_COMPILER_VERSION VERSION_EQUAL GRIDGATE_SDK_CXX_COMPILER_VERSION))
        message(FATAL_ERROR
            "gridgate_add_plugin(${name}): this project compiles with ${CMAKE_CXX_COMPILER_ID} "
            "${CMAKE_CXX_COMPILER_VERSION} (${CMAKE_CXX_COMPILER}), but the gateway was built "
            "with ${GRIDGATE_SDK_CXX_COMPILER_ID} ${GRIDGATE_SDK_CXX_COMPILER_VERSION}, and it "
            "refuses a plugin built by another compiler. Configure a fresh build directory with "
            "-DCMAKE_CXX_COMPILER=<the gateway's compiler>.")
    endif()
    add_library(${name} MODULE ${P_SOURCES})
    set_target_properties(${name} PROPERTIES CXX_STANDARD 20 CXX_STANDARD_REQUIRED ON)
    target_link_libraries(${name} PRIVATE gridgate::plugin ${P_LIBS})
    if(P_OUTPUT_DIR)
        set(out ${P_OUTPUT_DIR})
    elseif(GRIDGATE_PLUGIN_OUTPUT_DIR)
        set(out ${GRIDGATE_PLUGIN_OUTPUT_DIR})
    else()
        set(out ${CMAKE_CURRENT_BINARY_DIR})
    endif()
    set_target_properties(${name} PROPERTIES
        PREFIX ""
        LIBRARY_OUTPUT_DIRECTORY ${out}
        CXX_VISIBILITY_PRESET hidden
        VISIBILITY_INLINES_HIDDEN ON)
    if(NOT P_NO_INSTALL)
        install(TARGETS ${name} LIBRARY DESTINATION lib/gridgate/plugins COMPONENT plugins)
    endif()
endfunction()
