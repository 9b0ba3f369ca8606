# Plays a vendor: installs the SDK from the gridgate build into a fresh
# prefix, builds plugins/examples/linebattery against it as a separate CMake
# project, and drops the plugin into a plugin directory.
#
# cmake -DGRIDGATE_BUILD=... -DWORK=... -DEXAMPLE=... -DGENERATOR=...
#       -DCXX=... -DBUILD_TYPE=... -DCXX_FLAGS=... -P build_example.cmake
foreach(var GRIDGATE_BUILD WORK EXAMPLE GENERATOR CXX BUILD_TYPE)
    if(NOT DEFINED ${var})
        message(FATAL_ERROR "build_example.cmake: ${var} is not set")
    endif()
endforeach()

function(run)
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}")
    endif()
endfunction()

file(REMOVE_RECURSE ${WORK}/prefix ${WORK}/build ${WORK}/plugins)
run(${CMAKE_COMMAND} --install ${GRIDGATE_BUILD} --component sdk --prefix ${WORK}/prefix)
run(${CMAKE_COMMAND} -S ${EXAMPLE} -B ${WORK}/build -G ${GENERATOR}
    -DCMAKE_PREFIX_PATH=${WORK}/prefix
    -DCMAKE_CXX_COMPILER=${CXX}
    -DCMAKE_BUILD_TYPE=${BUILD_TYPE}
    "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}"
    "-DCMAKE_MODULE_LINKER_FLAGS=${CXX_FLAGS}")
run(${CMAKE_COMMAND} --build ${WORK}/build)
file(MAKE_DIRECTORY ${WORK}/plugins)
file(COPY ${WORK}/build/linebattery.so DESTINATION ${WORK}/plugins)
message(STATUS "linebattery.so built against the installed SDK in ${WORK}/plugins")
