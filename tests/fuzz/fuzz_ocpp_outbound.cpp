// A power setpoint on its way to a charger: the bytes make up the setpoint
// (any double), the charger's settings (within the ranges the site file
// takes), the unit, the running transaction and the clock; charge_rate_profile
// or power_limit_profile turns them into a SetChargingProfile, which goes
// through the schema and onto the wire as the adapter sends it.
//
// A setpoint refused as such (negative, not finite: std::invalid_argument) is
// fine. Broken promises:
//  - a crash, or any other exception;
//  - a limit above the setpoint (in W, or in A at the asset's voltage and
//    phases), or one that is not a multiple of 0.1;
//  - a setpoint JSON can carry that the schema refuses (the command would
//    fail for a value the site asked for);
//  - a frame that does not read back as the request that was written.
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <variant>

#include "charging_profile.hpp"
#include "fuzz_support.hpp"
#include "gridgate/ocpp/json_arena.hpp"
#include "gridgate/ocpp/rpc.hpp"
#include "gridgate/ocpp/schema.hpp"

using namespace gridgate;
using fuzz::broken;
using fuzz::Bytes;
using fuzz::check;

namespace {

bool multiple_of_tenth(double v) {
    if (std::fabs(v) >= 9007199254740992.0) return true;  // 2^53 on: whole numbers
    const double tenths = v * 10.0;
    return std::fabs(tenths - std::round(tenths)) <= 1e-6 * std::max(1.0, std::fabs(tenths));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Bytes in(data, size);
    const double power_kw = in.take<double>();
    ocpp16::ChargerProfileSettings settings;
    settings.connector_id = in.in(1, 255);
    settings.phases = in.in(1, 3);
    settings.voltage = in.in(1.0, 1000.0);
    settings.stack_level = in.in(0, 100);
    settings.min_current_a = in.in(0.0, 100.0);
    const auto flags = in.take<std::uint8_t>();
    settings.profile_kind =
        flags & 1 ? ocpp::ChargingProfileKind::Relative : ocpp::ChargingProfileKind::Absolute;
    settings.profile_purpose =
        flags & 2 ? ocpp16::PurposeSetting::TxDefault : ocpp16::PurposeSetting::Auto;
    const auto unit = flags & 4 ? ocpp::ChargingRateUnit::A : ocpp::ChargingRateUnit::W;
    const std::optional<std::int32_t> transaction =
        flags & 8 ? std::optional<std::int32_t>(in.take<std::int32_t>()) : std::nullopt;
    const ocpp::Timestamp now{std::chrono::milliseconds(in.in(0, INT32_MAX)) * 1000};

    ocpp::SetChargingProfileRequest request;
    try {
        request = flags & 16
                      ? ocpp16::power_limit_profile(power_kw, settings, unit, now)
                      : ocpp16::charge_rate_profile(power_kw, settings, unit, transaction, now);
    } catch (const std::invalid_argument&) {
        check(!std::isfinite(power_kw) || power_kw < 0, "a finite setpoint >= 0 was refused");
        return 0;
    }
    check(std::isfinite(power_kw) && power_kw >= 0, "a negative or non-finite setpoint was taken");

    const auto& periods = request.cs_charging_profiles.charging_schedule.charging_schedule_period;
    check(periods.size() == 1, "a profile without exactly one period");
    const double limit = periods[0].limit;
    const double asked = unit == ocpp::ChargingRateUnit::W
                             ? power_kw * 1000.0
                             : power_kw * 1000.0 / (settings.voltage * settings.phases);
    if (!std::isfinite(limit)) return 0;  // beyond a double in W: the writer refuses it, below
    check(limit >= 0 && limit <= asked, "the limit is above the setpoint");
    check(multiple_of_tenth(limit), "the limit is not a multiple of 0.1");

    ocpp::JsonArena<> arena;
    const rapidjson::Value json = ocpp::to_json(request, arena.pool);
    if (auto violation = ocpp::SchemaRegistry::v16().validate("SetChargingProfile",
                                                              ocpp::PayloadKind::Request, json))
        broken("the schema refuses the profile of a setpoint of " + std::to_string(power_kw) +
               " kW: " + violation->message);
    const std::string frame = ocpp::serialize_call("1", "SetChargingProfile", json);
    rapidjson::Document doc;
    const ocpp::Frame back = ocpp::parse_frame(frame, doc);
    const auto* call = std::get_if<ocpp::Call>(&back);
    check(call && call->action == "SetChargingProfile", "the frame does not read back as a call");
    // The number as a charger's exact reader takes it (RapidJSON's default
    // reading, ours, may be an ULP off for large exponents).
    const auto at = frame.find("\"limit\":");
    check(at != std::string::npos, "no limit on the wire");
    const char* first = frame.data() + at + 8;
    double on_wire = -1;
    std::from_chars(first, frame.data() + frame.size(), on_wire);
    check(on_wire == limit, "the limit on the wire is not the limit written");
    const auto read = ocpp::from_json<ocpp::SetChargingProfileRequest>(*call->payload);
    check(read.connector_id == request.connector_id &&
              read.cs_charging_profiles.transaction_id ==
                  request.cs_charging_profiles.transaction_id &&
              read.cs_charging_profiles.charging_schedule.start_schedule ==
                  request.cs_charging_profiles.charging_schedule.start_schedule,
          "the frame does not read back as the request written");
    return 0;
}
