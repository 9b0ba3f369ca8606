// OCPP-J RPC framing (OCPP 1.6-J, section 4): CALL, CALLRESULT and CALLERROR
// frames, the CALLERROR codes with their 1.6 spellings, and the one place where
// a malformed frame is mapped to the CALLERROR that answers it. No sockets here.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <rapidjson/document.h>

namespace gridgate::ocpp {

// The CALLERROR codes of OCPP 1.6-J; the spelling of the wire (including the
// standard's "Occurence") is what to_string() returns.
enum class ErrorCode {
    NotImplemented,
    NotSupported,
    InternalError,
    ProtocolError,
    SecurityError,
    FormationViolation,
    PropertyConstraintViolation,
    OccurenceConstraintViolation,
    TypeConstraintViolation,
    GenericError,
};

std::string_view to_string(ErrorCode code) noexcept;
std::optional<ErrorCode> error_code_from_string(std::string_view text) noexcept;

enum class MessageType : int { Call = 2, CallResult = 3, CallError = 4 };

// OCPP-J caps a unique message id at 36 characters (a UUID's length).
inline constexpr std::size_t kMaxMessageIdLength = 36;

// The parsed frames below point into the rapidjson::Document they were parsed
// into; they are valid as long as that document is.
struct Call {
    std::string_view message_id;
    std::string_view action;
    const rapidjson::Value* payload = nullptr;
};

struct CallResult {
    std::string_view message_id;
    const rapidjson::Value* payload = nullptr;
};

struct CallError {
    std::string_view message_id;
    // The code as the peer spelled it, and its value when it is a 1.6 code
    // (GenericError otherwise, so an unknown code still fails the call).
    std::string_view code_text;
    ErrorCode code = ErrorCode::GenericError;
    std::string_view description;
    // Null when the peer sent no details object (missing, or not an
    // object): its code and description are still taken for what they say.
    const rapidjson::Value* details = nullptr;
};

// A frame that is not a well-formed CALL, CALLRESULT or CALLERROR.
struct FrameError {
    // The message id when it is a string (also one that breaks the length
    // limit, so the answer names the charger's own id), else empty.
    std::string message_id;
    ErrorCode code = ErrorCode::FormationViolation;
    std::string description;
    // True when the sender expects an answer: the frame claimed to be a CALL,
    // or its type could not be read. A broken CALLRESULT or CALLERROR is
    // never answered (OCPP-J forbids answering an answer).
    bool answer_expected = true;
    // A broken CALLRESULT or CALLERROR whose message id is a number rather
    // than a string: the number's digits, so the call it answers can be
    // named and failed (message_id is then empty).
    std::string numeric_message_id;
};

using Frame = std::variant<Call, CallResult, CallError, FrameError>;

// How deep a frame's JSON may nest. OCPP 1.6's deepest message nests seven
// levels. RapidJSON's parser, its schema validator and deep copies recurse
// once per level: unbounded, a 64 KiB frame of brackets would run the
// connection's thread off its stack.
inline constexpr unsigned kMaxJsonDepth = 32;

// Parses JSON text into `document`, refusing nesting deeper than
// kMaxJsonDepth as soon as it is met. Returns what is wrong, with the byte
// offset, or nullopt when `document` holds the text's value.
std::optional<std::string> parse_json(std::string_view text, rapidjson::Document& document);

// True for the actions OCPP 1.6 has a charge point send to its central
// system (DataTransfer goes both ways). A charge point that sends one of the
// others (Reset, SetChargingProfile, ...) is answered NotSupported: the
// action is known, but not in that direction.
bool sent_by_charge_point(std::string_view action) noexcept;

// Parses one WebSocket text message. `document` receives the parsed JSON and
// must outlive the returned views.
Frame parse_frame(std::string_view text, rapidjson::Document& document);

// The message id used to answer a CALL whose own id could not be read (not
// a string, or empty); the 1.6 standard has none, this is the value OCPP
// 2.0.1 prescribes.
inline constexpr std::string_view kUnknownMessageId = "-1";

std::string serialize_call(std::string_view message_id, std::string_view action,
                           const rapidjson::Value& payload);
std::string serialize_call_result(std::string_view message_id, const rapidjson::Value& payload);
// `details` null means `{}`; an empty description is sent as "".
std::string serialize_call_error(std::string_view message_id, ErrorCode code,
                                 std::string_view description,
                                 const rapidjson::Value* details = nullptr);

// Serializes a JSON value compactly.
std::string to_json_text(const rapidjson::Value& value);

}  // namespace gridgate::ocpp
