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
# The same function serves the gridgate tree and vendors, who get it from
# find_package(GridgatePluginSDK).
function(gridgate_add_plugin name)
    cmake_parse_arguments(P "NO_INSTALL" "OUTPUT_DIR" "SOURCES;LIBS" ${ARGN})
    if(NOT P_SOURCES)
        message(FATAL_ERROR "gridgate_add_plugin(${name}): SOURCES is required")
    endif()
    add_library(${name} MODULE ${P_SOURCES})
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
