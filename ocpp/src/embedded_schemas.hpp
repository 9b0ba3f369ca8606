// The OCPP JSON schema files, compiled into the library by EmbedSchemas.cmake.
#pragma once

#include <cstddef>

namespace gridgate::ocpp::detail {

struct EmbeddedSchema {
    const char* name;  // file name without ".json": "Authorize", "AuthorizeResponse"
    const char* text;
};

extern const EmbeddedSchema kEmbeddedSchemasV16[];
extern const std::size_t kEmbeddedSchemasV16Count;

}  // namespace gridgate::ocpp::detail
