# Turns the OCPP JSON schema files into a C++ source file, so the library
# carries its schemas and never has to find data files at run time.
# Usage: cmake -DOUTPUT=file.cpp -DSCHEMA_DIR=dir -P EmbedSchemas.cmake
file(GLOB schema_files ${SCHEMA_DIR}/*.json)
list(SORT schema_files)
set(entries "")
set(count 0)
foreach(path IN LISTS schema_files)
    get_filename_component(name ${path} NAME_WE)
    file(READ ${path} text)
    string(FIND "${text}" ")ocppschema\"" clash)
    if(NOT clash EQUAL -1)
        message(FATAL_ERROR "${path}: contains the raw-string delimiter")
    endif()
    string(APPEND entries "    {\"${name}\", R\"ocppschema(${text})ocppschema\"},\n")
    math(EXPR count "${count} + 1")
endforeach()
if(count EQUAL 0)
    message(FATAL_ERROR "no schema files in ${SCHEMA_DIR}")
endif()
file(WRITE ${OUTPUT}.tmp
"// Generated from ${SCHEMA_DIR} by EmbedSchemas.cmake. Do not edit.
#include \"embedded_schemas.hpp\"

namespace gridgate::ocpp::detail {

const EmbeddedSchema kEmbeddedSchemasV16[] = {
${entries}};
const std::size_t kEmbeddedSchemasV16Count = ${count};

}  // namespace gridgate::ocpp::detail
")
file(COPY_FILE ${OUTPUT}.tmp ${OUTPUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUTPUT}.tmp)
