// What a charge point can send the central system: OCPP-J frames, handled as
// a connection's session handles them. The input is one or more frames
// separated by NUL bytes, all from one charge point to one CentralSystemCore,
// so sequences (boot, start, meter values, stop, ...) are reached too.
//
// Refusing a frame or a payload is fine. Broken promises:
//  - a crash, or an exception out of the parser or the validator;
//  - the core throwing for a payload that passed its schema (from_json says
//    such payloads always fit);
//  - the core answering with a payload its own response schema refuses;
//  - an answer (CALLRESULT or CALLERROR) that does not parse back as one,
//    with the charger's message id;
//  - a CALLRESULT whose payload passed the schema of the call it answers
//    and still does not fit the typed response the adapter reads;
//  - a StartTransaction sent again (its answer lost) getting another
//    transaction id.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "fuzz_support.hpp"
#include "gridgate/ocpp/central_system_core.hpp"
#include "gridgate/ocpp/rpc.hpp"
#include "gridgate/ocpp/schema.hpp"

using namespace gridgate::ocpp;
using gridgate::fuzz::broken;
using gridgate::fuzz::check;

namespace {

// The answer we would send must read back as what it is, for the same id.
void check_answer(const std::string& frame, std::string_view message_id, bool is_result) {
    rapidjson::Document doc;
    const Frame back = parse_frame(frame, doc);
    if (is_result) {
        const auto* result = std::get_if<CallResult>(&back);
        check(result && result->message_id == message_id,
              "a CALLRESULT we send does not parse back");
    } else if (message_id.size() > kMaxMessageIdLength) {
        // Echoed on purpose, so the charger can match it to its call; too
        // long to be a valid id, it reads back as a broken frame naming it.
        const auto* broken_frame = std::get_if<FrameError>(&back);
        check(broken_frame && broken_frame->message_id == message_id,
              "a CALLERROR we send does not name the charger's long message id");
    } else {
        const auto* error = std::get_if<CallError>(&back);
        check(error && error->message_id == message_id, "a CALLERROR we send does not parse back");
    }
}

void handle(CentralSystemCore& core, std::string_view text) {
    const SchemaRegistry& schemas = SchemaRegistry::v16();
    rapidjson::Document doc;
    const Frame frame = parse_frame(text, doc);
    if (const auto* call = std::get_if<Call>(&frame)) {
        if (!sent_by_charge_point(call->action) && schemas.has_action(call->action)) return;
        if (auto violation = schemas.validate(call->action, PayloadKind::Request, *call->payload)) {
            check_answer(
                serialize_call_error(call->message_id, violation->code, violation->message),
                call->message_id, false);
            return;
        }
        rapidjson::Document response;
        response.SetObject();
        std::optional<HandlerError> refusal;
        try {
            refusal = core.on_call("CP1", call->action, *call->payload, response);
        } catch (const std::exception& e) {
            broken(std::string(call->action) +
                   " passed its schema and the core threw: " + e.what());
        }
        if (refusal) {
            check_answer(
                serialize_call_error(call->message_id, refusal->code, refusal->description),
                call->message_id, false);
            return;
        }
        if (auto violation = schemas.validate(call->action, PayloadKind::Response, response))
            broken(std::string(call->action) +
                   ": the core's answer breaks its schema: " + violation->message);
        if (call->action == "StartTransaction") {
            // A charger that did not get the answer sends the same start again.
            rapidjson::Document again;
            again.SetObject();
            if (core.on_call("CP1", call->action, *call->payload, again))
                broken("a replayed StartTransaction was refused");
            check(again["transactionId"] == response["transactionId"],
                  "a replayed StartTransaction got another transaction id");
        }
        check_answer(serialize_call_result(call->message_id, response), call->message_id, true);
    } else if (const auto* result = std::get_if<CallResult>(&frame)) {
        // Which call it answers is the session's to know; try every call the
        // adapter makes.
        for (const char* action :
             {"SetChargingProfile", "ClearChargingProfile", "ChangeAvailability",
              "RemoteStartTransaction", "RemoteStopTransaction", "GetConfiguration"}) {
            if (schemas.validate(action, PayloadKind::Response, *result->payload)) continue;
            if (std::string_view(action) != "GetConfiguration") continue;
            try {
                (void)from_json<GetConfigurationResponse>(*result->payload);
            } catch (const std::exception& e) {
                broken(
                    std::string("a GetConfiguration answer passed its schema and did not fit: ") +
                    e.what());
            }
        }
    } else if (const auto* error = std::get_if<FrameError>(&frame)) {
        if (!error->answer_expected) return;
        const std::string_view id =
            error->message_id.empty() ? kUnknownMessageId : std::string_view(error->message_id);
        check_answer(serialize_call_error(id, error->code, error->description), id, false);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    CoreOptions options;
    options.clock = [] { return Timestamp{std::chrono::milliseconds(1'700'000'000'000)}; };
    CentralSystemCore core(std::move(options));
    std::string_view rest(reinterpret_cast<const char*>(data), size);
    while (true) {
        const std::size_t end = rest.find('\0');
        handle(core, rest.substr(0, end));
        if (end == std::string_view::npos) break;
        rest.remove_prefix(end + 1);
    }
    return 0;
}
