# Plays a vendor who gets the build wrong, against the SDK installed by the
# plugins_example_build fixture (WORK/prefix):
#  - another compiler (clang, when installed and the gateway's is not clang):
#    the configuration stops, naming both compilers;
#  - a project that asks for C++23: the plugin is still compiled as C++20,
#    so its fingerprint matches the gateway's.
#
# cmake -DWORK=... -DEXAMPLE=... -DGENERATOR=... -DCXX=... -DCXX_ID=...
#       [-DCLANGXX=...] -P example_build_guards.cmake
foreach(var WORK EXAMPLE GENERATOR CXX CXX_ID)
    if(NOT DEFINED ${var})
        message(FATAL_ERROR "example_build_guards.cmake: ${var} is not set")
    endif()
endforeach()

set(prefix ${WORK}/prefix)
if(NOT EXISTS ${prefix}/lib/cmake/GridgatePluginSDK/GridgatePluginSDKConfig.cmake)
    message(FATAL_ERROR "no installed SDK in ${prefix} (the plugins_example_build fixture makes it)")
endif()

if(CLANGXX AND NOT CXX_ID STREQUAL "Clang")
    file(REMOVE_RECURSE ${WORK}/build-clang)
    execute_process(
        COMMAND ${CMAKE_COMMAND} -S ${EXAMPLE} -B ${WORK}/build-clang -G ${GENERATOR}
            -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_CXX_COMPILER=${CLANGXX}
        RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
    string(REGEX REPLACE "[ \t\r\n]+" " " flat "${out}")
    if(rc EQUAL 0 OR NOT flat MATCHES "but the gateway was built with ${CXX_ID} ")
        message(FATAL_ERROR "configuring the example with ${CLANGXX} should stop, naming both "
                            "compilers; it said (${rc}):\n${out}")
    endif()
    message(STATUS "another compiler is stopped at configure time")
endif()

file(REMOVE_RECURSE ${WORK}/build-cxx23)
foreach(step configure build)
    if(step STREQUAL "configure")
        set(cmd ${CMAKE_COMMAND} -S ${EXAMPLE} -B ${WORK}/build-cxx23 -G ${GENERATOR}
            -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_CXX_STANDARD=23)
    else()
        set(cmd ${CMAKE_COMMAND} --build ${WORK}/build-cxx23)
    endif()
    execute_process(COMMAND ${cmd} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "failed (${rc}): ${cmd}\n${out}")
    endif()
endforeach()
file(STRINGS ${WORK}/build-cxx23/linebattery.so strings REGEX "sdk-[0-9]")
if(NOT strings MATCHES " c\\+\\+202002L ")
    message(FATAL_ERROR "a project asking for C++23 built a plugin whose fingerprint "
                        "'${strings}' is not C++20's (c++202002L), which the gateway refuses")
endif()
message(STATUS "a project asking for C++23 still builds a loadable plugin")
