// Validation of OCPP 1.6 payloads against the official JSON schemas: one
// compiled schema per action and direction, built once and shared by every
// connection. Violations map to the CALLERROR code OCPP-J prescribes and name
// the JSON pointer of the offending value.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/writer.h>

#include "gridgate/ocpp/rpc.hpp"

namespace gridgate::ocpp {

namespace detail {
class StringOutput;
// The library's frame writer; its nesting stack comes from a WriterStack.
using StringWriter = rapidjson::Writer<StringOutput, rapidjson::UTF8<>, rapidjson::UTF8<>,
                                       rapidjson::MemoryPoolAllocator<>>;
}  // namespace detail

// Which half of an exchange a payload is: the CALL's (Request, the schema file
// `<Action>.json`) or the CALLRESULT's (Response, `<Action>Response.json`).
enum class PayloadKind { Request, Response };

struct SchemaViolation {
    ErrorCode code;       // the CALLERROR code that answers an inbound violation
    std::string message;  // e.g. "SetChargingProfile request: /csChargingProfiles/...: ..."
};

// A set of compiled schemas, keyed by action.
//
// Beyond RapidJSON's validator, two checks are made here: `multipleOf` with a
// decimal tolerance (RapidJSON's exact floating-point test refuses 9.1 as a
// multiple of 0.1, the classic trap of OCPP's charging limits), and `format:
// date-time` (RFC 3339), which RapidJSON ignores.
//
// Thread-safety: immutable once built; validate() may run on any number of
// threads at once.
class SchemaRegistry {
  public:
    // The schemas embedded into the library at build time (ocpp/schemas/v16),
    // compiled on first use.
    static const SchemaRegistry& v16();

    // Loads every `*.json` file of `directory`. Throws std::runtime_error
    // naming the file and the offset of a parse error, or a schema feature
    // this registry does not support (`$ref`).
    static SchemaRegistry from_directory(const std::filesystem::path& directory);

    SchemaRegistry(SchemaRegistry&&) noexcept;
    SchemaRegistry& operator=(SchemaRegistry&&) noexcept;
    ~SchemaRegistry();

    // True when both the request and the response schema of `action` are known.
    bool has_action(std::string_view action) const;
    std::vector<std::string> actions() const;
    // The registry's own copy of the name of `action`, when it holds its
    // request schema (empty otherwise): valid for as long as the registry,
    // so a call in flight names its action without a string of its own.
    std::string_view request_action(std::string_view action) const;

    // nullopt when `payload` is valid. An action without a schema is reported
    // as NotImplemented.
    std::optional<SchemaViolation> validate(std::string_view action, PayloadKind kind,
                                            const rapidjson::Value& payload) const;

    // validate(), then the payload's JSON text to `writer` (the library's
    // frame serializer). On a violation, whatever was written is to be
    // thrown away. A payload holding NaN or infinity is a
    // TypeConstraintViolation.
    std::optional<SchemaViolation> validate_into(std::string_view action, PayloadKind kind,
                                                 const rapidjson::Value& payload,
                                                 detail::StringWriter& writer) const;

    class CompiledSchema;

  private:
    SchemaRegistry() = default;
    // The compiled schema of `action`'s `kind`, or null.
    const CompiledSchema* find(std::string_view action, PayloadKind kind) const;
    void add(std::string_view file_name, std::string_view text);

    // Looked up by a string_view on every message, in and out: a hash, then
    // one comparison (an ordered map made about five).
    struct NameHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view name) const noexcept {
            return std::hash<std::string_view>{}(name);
        }
    };
    using Table =
        std::unordered_map<std::string, std::unique_ptr<CompiledSchema>, NameHash, std::equal_to<>>;
    Table requests_;
    Table responses_;
};

}  // namespace gridgate::ocpp
