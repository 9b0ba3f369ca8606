#include "gridgate/ocpp/rpc.hpp"

#include <array>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <utility>

#include <rapidjson/encodedstream.h>
#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include "gridgate/ocpp/json_arena.hpp"
#include "json_output.hpp"
#include "json_scan.hpp"

// parse_json()'s reader takes a string's characters one at a time through its
// input stream and onto its stack; it skips ahead only for its own string
// streams (and with SSE). This does the same for ours: the run up to the next
// '"', '\\' or control character is copied at once, and the reader takes that
// one as before (an escape, the end, or an error at the same offset).
// Declared before parse_json() instantiates the reader; no other file uses
// this reader with this stream.
using JsonReader = rapidjson::GenericReader<rapidjson::UTF8<>, rapidjson::UTF8<>,
                                            rapidjson::MemoryPoolAllocator<>>;
using JsonInput = rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream>;

template <>
template <>
inline void JsonReader::ScanCopyUnescapedString(JsonInput& is, JsonReader::StackStream<char>& os) {
    const char* const run = is.is_.src_;
    const char* const p = gridgate::ocpp::detail::find_string_special(run, is.is_.end_);
    if (p == run) return;
    const auto length = static_cast<rapidjson::SizeType>(p - run);
    std::memcpy(os.Push(length), run, length);
    is.is_.src_ = p;
}

namespace gridgate::ocpp {
namespace {

constexpr std::array<std::pair<ErrorCode, std::string_view>, 10> kErrorCodeNames{{
    {ErrorCode::NotImplemented, "NotImplemented"},
    {ErrorCode::NotSupported, "NotSupported"},
    {ErrorCode::InternalError, "InternalError"},
    {ErrorCode::ProtocolError, "ProtocolError"},
    {ErrorCode::SecurityError, "SecurityError"},
    {ErrorCode::FormationViolation, "FormationViolation"},
    {ErrorCode::PropertyConstraintViolation, "PropertyConstraintViolation"},
    {ErrorCode::OccurenceConstraintViolation, "OccurenceConstraintViolation"},
    {ErrorCode::TypeConstraintViolation, "TypeConstraintViolation"},
    {ErrorCode::GenericError, "GenericError"},
}};

// RapidJSON's writer refuses NaN and infinity; a frame that holds one is a
// caller's bug and must not reach the wire half-written.
void write_value(const rapidjson::Value& value, detail::StringWriter& writer) {
    if (!value.Accept(writer)) {
        throw std::invalid_argument("payload holds a number JSON cannot carry (NaN or infinity)");
    }
}

std::string_view view_of(const rapidjson::Value& v) {
    return {v.GetString(), v.GetStringLength()};
}

FrameError frame_error(std::string message_id, ErrorCode code, std::string description,
                       bool answer_expected = true) {
    return FrameError{std::move(message_id), code, std::move(description), answer_expected};
}

// Hands a parser's events on to a Document, refusing to open a level deeper
// than kMaxJsonDepth; the parser stops at the first refusal.
class DepthLimited {
  public:
    explicit DepthLimited(StackDocument& document) : doc_(document) {}
    bool too_deep() const { return depth_ > kMaxJsonDepth; }

    bool Null() { return doc_.Null(); }
    bool Bool(bool b) { return doc_.Bool(b); }
    bool Int(int i) { return doc_.Int(i); }
    bool Uint(unsigned u) { return doc_.Uint(u); }
    bool Int64(std::int64_t i) { return doc_.Int64(i); }
    bool Uint64(std::uint64_t u) { return doc_.Uint64(u); }
    bool Double(double d) { return doc_.Double(d); }
    bool RawNumber(const char* s, rapidjson::SizeType n, bool copy) {
        return doc_.RawNumber(s, n, copy);
    }
    bool String(const char* s, rapidjson::SizeType n, bool copy) { return doc_.String(s, n, copy); }
    bool Key(const char* s, rapidjson::SizeType n, bool copy) { return doc_.Key(s, n, copy); }
    bool StartObject() { return enter() && doc_.StartObject(); }
    bool EndObject(rapidjson::SizeType members) {
        --depth_;
        return doc_.EndObject(members);
    }
    bool StartArray() { return enter() && doc_.StartArray(); }
    bool EndArray(rapidjson::SizeType elements) {
        --depth_;
        return doc_.EndArray(elements);
    }

  private:
    bool enter() { return ++depth_ <= kMaxJsonDepth; }

    StackDocument& doc_;
    unsigned depth_ = 0;
};

// Reads the message id of a frame, or says why it cannot be used.
std::optional<std::string> message_id_problem(const rapidjson::Value& id) {
    if (id.IsInt64() || id.IsUint64())
        return "message id " + to_json_text(id) + " is a number, not a string";
    if (!id.IsString()) return "message id is not a string";
    if (id.GetStringLength() == 0) return "message id is empty";
    if (id.GetStringLength() > kMaxMessageIdLength) {
        return "message id is longer than " + std::to_string(kMaxMessageIdLength) + " characters";
    }
    return std::nullopt;
}

}  // namespace

std::string_view to_string(ErrorCode code) noexcept {
    for (const auto& [value, name] : kErrorCodeNames) {
        if (value == code) return name;
    }
    return "GenericError";
}

std::optional<ErrorCode> error_code_from_string(std::string_view text) noexcept {
    for (const auto& [value, name] : kErrorCodeNames) {
        if (name == text) return value;
    }
    return std::nullopt;
}

std::optional<std::string> parse_json(std::string_view text, rapidjson::Document& document) {
    // The reader's own stack (strings with escapes) lives here too: a
    // default reader takes it from the heap for every parse.
    alignas(std::max_align_t) char stack[256];
    rapidjson::MemoryPoolAllocator<> stack_pool(stack, sizeof stack);
    JsonReader reader(&stack_pool, sizeof stack / 2);
    rapidjson::MemoryStream bytes(text.data(), text.size());
    JsonInput in(bytes);
    bool too_deep = false;
    build_value(document, document.GetAllocator(), [&](StackDocument& into) {
        DepthLimited limited(into);
        const bool ok = !reader.Parse(in, limited).IsError();
        too_deep = limited.too_deep();
        return ok;
    });
    if (!reader.HasParseError()) return std::nullopt;
    if (too_deep) {
        // The parser stopped just past the bracket that opens one level too many.
        return "nested deeper than " + std::to_string(kMaxJsonDepth) + " levels (offset " +
               std::to_string(reader.GetErrorOffset() - 1) + ")";
    }
    return std::string("not valid JSON: ") +
           rapidjson::GetParseError_En(reader.GetParseErrorCode()) + " (offset " +
           std::to_string(reader.GetErrorOffset()) + ")";
}

Frame parse_frame(std::string_view text, rapidjson::Document& document) {
    if (auto problem = parse_json(text, document)) {
        return frame_error({}, ErrorCode::FormationViolation, "frame is " + *problem);
    }
    if (!document.IsArray() || document.Empty()) {
        return frame_error({}, ErrorCode::FormationViolation,
                           "frame is not a non-empty JSON array");
    }
    const auto& frame = document.GetArray();
    if (!frame[0].IsInt()) {
        return frame_error({}, ErrorCode::FormationViolation,
                           "frame's first element (message type) is not an integer");
    }
    const int type = frame[0].GetInt();
    const bool is_call = type == static_cast<int>(MessageType::Call);
    const bool known_type = is_call || type == static_cast<int>(MessageType::CallResult) ||
                            type == static_cast<int>(MessageType::CallError);

    // Any string id is echoed in the answer, even one too long to be
    // valid: the charger can match the error to its call (the frame limit
    // bounds its length).
    std::string readable_id;
    if (frame.Size() >= 2 && frame[1].IsString()) {
        readable_id.assign(frame[1].GetString(), frame[1].GetStringLength());
    }
    if (!known_type) {
        return frame_error(readable_id, ErrorCode::ProtocolError,
                           "unknown message type " + std::to_string(type));
    }
    if (frame.Size() < 2) {
        return frame_error({}, ErrorCode::ProtocolError, "frame has no message id", is_call);
    }
    if (auto problem = message_id_problem(frame[1])) {
        FrameError error =
            frame_error(readable_id, ErrorCode::FormationViolation, *problem, is_call);
        if (!is_call && (frame[1].IsInt64() || frame[1].IsUint64()))
            error.numeric_message_id = to_json_text(frame[1]);
        return error;
    }
    const std::string_view message_id = view_of(frame[1]);

    switch (static_cast<MessageType>(type)) {
        case MessageType::Call: {
            // OCPP-J 1.6: ProtocolError is for what is incomplete,
            // FormationViolation for what breaks the PDU's structure.
            if (frame.Size() != 4) {
                return frame_error(
                    readable_id,
                    frame.Size() < 4 ? ErrorCode::ProtocolError : ErrorCode::FormationViolation,
                    "CALL must have 4 elements, has " + std::to_string(frame.Size()));
            }
            if (!frame[2].IsString() || frame[2].GetStringLength() == 0) {
                return frame_error(readable_id, ErrorCode::FormationViolation,
                                   "CALL action is not a non-empty string");
            }
            if (!frame[3].IsObject()) {
                return frame_error(readable_id, ErrorCode::FormationViolation,
                                   "CALL payload is not a JSON object");
            }
            return Call{message_id, view_of(frame[2]), &frame[3]};
        }
        case MessageType::CallResult: {
            if (frame.Size() != 3 || !frame[2].IsObject()) {
                return frame_error(readable_id, ErrorCode::FormationViolation,
                                   "CALLRESULT must be [3, id, {payload}]", false);
            }
            return CallResult{message_id, &frame[2]};
        }
        case MessageType::CallError: {
            // A usable code and description with the details missing or
            // not an object still say why the call failed: taken, without
            // the details, rather than thrown away.
            if (frame.Size() < 4 || frame.Size() > 5 || !frame[2].IsString() ||
                !frame[3].IsString()) {
                return frame_error(readable_id, ErrorCode::FormationViolation,
                                   "CALLERROR must be [4, id, code, description, {details}]",
                                   false);
            }
            const bool has_details = frame.Size() == 5 && frame[4].IsObject();
            CallError error{message_id, view_of(frame[2]), ErrorCode::GenericError,
                            view_of(frame[3]), has_details ? &frame[4] : nullptr};
            if (auto code = error_code_from_string(error.code_text)) error.code = *code;
            return error;
        }
    }
    return frame_error(readable_id, ErrorCode::ProtocolError, "unknown message type");
}

bool sent_by_charge_point(std::string_view action) noexcept {
    for (std::string_view a :
         {"Authorize", "BootNotification", "DataTransfer", "DiagnosticsStatusNotification",
          "FirmwareStatusNotification", "Heartbeat", "MeterValues", "SecurityEventNotification",
          "StartTransaction", "StatusNotification", "StopTransaction"})
        if (a == action) return true;
    return false;
}

std::string serialize_call(std::string_view message_id, std::string_view action,
                           const rapidjson::Value& payload) {
    std::string out;
    detail::write_call(out, message_id, action, [&](detail::StringWriter& writer) {
        write_value(payload, writer);  // throws for NaN and infinity
        return true;
    });
    return out;
}

std::string serialize_call_result(std::string_view message_id, const rapidjson::Value& payload) {
    std::string out;
    out.reserve(256);
    detail::StringOutput stream(out);
    detail::WriterStack stack;
    detail::StringWriter writer(stream, stack.allocator());
    writer.StartArray();
    writer.Int(static_cast<int>(MessageType::CallResult));
    writer.String(message_id.data(), static_cast<rapidjson::SizeType>(message_id.size()));
    write_value(payload, writer);
    writer.EndArray();
    return out;
}

std::string serialize_call_error(std::string_view message_id, ErrorCode code,
                                 std::string_view description, const rapidjson::Value* details) {
    std::string out;
    detail::StringOutput stream(out);
    detail::WriterStack stack;
    detail::StringWriter writer(stream, stack.allocator());
    const std::string_view code_text = to_string(code);
    writer.StartArray();
    writer.Int(static_cast<int>(MessageType::CallError));
    writer.String(message_id.data(), static_cast<rapidjson::SizeType>(message_id.size()));
    writer.String(code_text.data(), static_cast<rapidjson::SizeType>(code_text.size()));
    writer.String(description.data(), static_cast<rapidjson::SizeType>(description.size()));
    if (details != nullptr && details->IsObject()) {
        write_value(*details, writer);
    } else {
        writer.StartObject();
        writer.EndObject();
    }
    writer.EndArray();
    return out;
}

std::string to_json_text(const rapidjson::Value& value) {
    std::string out;
    detail::StringOutput stream(out);
    detail::WriterStack stack;
    detail::StringWriter writer(stream, stack.allocator());
    write_value(value, writer);
    return out;
}

}  // namespace gridgate::ocpp
