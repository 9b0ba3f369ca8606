# Plays a vendor's strict build: one source that includes every SDK header
# (each twice, so the include guards are exercised too), compiled with
# -std=c++20 -Wall -Wextra -Wpedantic -Wshadow -Werror by each compiler given:
# the gateway's, and clang when it is installed. A plugin built with clang is
# refused at load time (its fingerprint differs), but a vendor's clangd,
# clang-tidy or header-only unit tests still parse these headers.
#
# cmake -DHEADERS=dir "-DCOMPILERS=c++;clang++" -DWORK=dir [-DBOOST_INCLUDE=dir] -P compile_headers.cmake
foreach(var HEADERS COMPILERS WORK)
    if(NOT DEFINED ${var})
        message(FATAL_ERROR "compile_headers.cmake: ${var} is not set")
    endif()
endforeach()

file(GLOB headers RELATIVE ${HEADERS} ${HEADERS}/gridgate/sdk/*.hpp)
if(NOT headers)
    message(FATAL_ERROR "no SDK headers in ${HEADERS}/gridgate/sdk")
endif()
set(source "")
foreach(header IN LISTS headers)
    string(APPEND source "#include \"${header}\"\n#include \"${header}\"\n")
endforeach()
file(MAKE_DIRECTORY ${WORK})
file(WRITE ${WORK}/all_sdk_headers.cpp "${source}")

set(includes -I${HEADERS})
if(BOOST_INCLUDE)
    list(APPEND includes -isystem ${BOOST_INCLUDE})
endif()
set(failures "")
foreach(cxx IN LISTS COMPILERS)
    execute_process(
        COMMAND ${cxx} -std=c++20 -Wall -Wextra -Wpedantic -Wshadow -Werror -fsyntax-only
                ${includes} ${WORK}/all_sdk_headers.cpp
        RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
    if(NOT rc EQUAL 0)
        string(APPEND failures "\n${cxx}:\n${out}")
    endif()
endforeach()
if(failures)
    message(FATAL_ERROR "the SDK headers do not compile cleanly:${failures}")
endif()
list(LENGTH headers count)
message(STATUS "${count} SDK headers compile cleanly with: ${COMPILERS}")
