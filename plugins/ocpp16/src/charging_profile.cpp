#include "charging_profile.hpp"

#include <cctype>
#include <cmath>
#include <stdexcept>
#include <string>

namespace gridgate::ocpp16 {
namespace {

using ocpp::ChargingProfileKind;
using ocpp::ChargingProfilePurpose;
using ocpp::ChargingRateUnit;

// Chargers' clocks drift; a schedule that starts a minute ago is in force
// on a charger that is up to a minute behind.
constexpr std::chrono::seconds kClockSkewAllowance{60};

double limit_in_unit(double power_kw, const ChargerProfileSettings& settings,
                     ChargingRateUnit unit) {
    if (!std::isfinite(power_kw) || power_kw < 0) {
        throw std::invalid_argument("power_kw must be a finite value >= 0, got " +
                                    std::to_string(power_kw));
    }
    const double watts = power_kw * 1000.0;
    if (settings.voltage <= 0 || settings.phases <= 0) {
        throw std::invalid_argument("voltage and phases must be positive to convert kW to A");
    }
    const double amps = watts / (settings.voltage * settings.phases);
    if (settings.min_current_a > 0 && amps > 0 && amps < settings.min_current_a) return 0.0;
    return round_down_to_tenth(unit == ChargingRateUnit::W ? watts : amps);
}

ocpp::SetChargingProfileRequest profile(double limit, std::int32_t connector_id,
                                        ChargingProfilePurpose purpose,
                                        std::optional<std::int32_t> transaction,
                                        const ChargerProfileSettings& settings,
                                        ChargingRateUnit unit, ocpp::Timestamp now) {
    ocpp::SetChargingProfileRequest request;
    request.connector_id = connector_id;
    auto& p = request.cs_charging_profiles;
    p.charging_profile_id = charging_profile_id(connector_id, purpose);
    p.transaction_id = transaction;
    p.stack_level = settings.stack_level;
    p.charging_profile_purpose = purpose;
    p.charging_profile_kind = settings.profile_kind;
    if (settings.profile_kind == ChargingProfileKind::Absolute) {
        p.charging_schedule.start_schedule =
            std::chrono::floor<std::chrono::seconds>(now) - kClockSkewAllowance;
    }
    p.charging_schedule.charging_rate_unit = unit;
    ocpp::ChargingSchedulePeriod period;
    period.start_period = 0;
    period.limit = limit;
    if (unit == ChargingRateUnit::A) period.number_phases = settings.phases;
    p.charging_schedule.charging_schedule_period.push_back(period);
    return request;
}

}  // namespace

std::optional<ChargingRateUnit> unit_from_allowed(std::string_view allowed) {
    // The spec's words are "Current", "Power" and "Current,Power"; firmware
    // also says "power", "CURRENT" or the unit itself.
    std::string text;
    for (char c : allowed) text += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const bool power = text.find("power") != std::string::npos || text == "w";
    const bool current = text.find("current") != std::string::npos || text == "a";
    if (power) return ChargingRateUnit::W;
    if (current) return ChargingRateUnit::A;
    return std::nullopt;
}

ChargingRateUnit resolve_unit(RateUnitSetting setting, std::optional<ChargingRateUnit> reported) {
    switch (setting) {
        case RateUnitSetting::W:
            return ChargingRateUnit::W;
        case RateUnitSetting::A:
            return ChargingRateUnit::A;
        case RateUnitSetting::Auto:
            return reported.value_or(ChargingRateUnit::A);
    }
    return ChargingRateUnit::A;
}

double round_down_to_tenth(double value) {
    // Where tenths no longer fit a double's 53 bits, the whole number below
    // (from 2^53 on, the value itself) is a multiple of 0.1 all the same.
    if (std::fabs(value) >= 9007199254740992.0 / 10) return std::floor(value);
    // The epsilon keeps 9.1 at 9.1 (9.1 * 10 is 90.99999999999999).
    const double tenths = std::floor(value * 10.0 + 1e-9);
    const double rounded = tenths / 10.0;
    // A value within the epsilon below a tenth (0.29999999999), or one the
    // rounding of * 10 and / 10 carried up, would end above itself: the limit
    // never does.
    return rounded > value ? (tenths - 1.0) / 10.0 : rounded;
}

std::int32_t charging_profile_id(std::int32_t connector_id, ChargingProfilePurpose purpose) {
    return 1000 + connector_id * 10 + static_cast<std::int32_t>(purpose);
}

ocpp::SetChargingProfileRequest charge_rate_profile(double power_kw,
                                                    const ChargerProfileSettings& settings,
                                                    ChargingRateUnit unit,
                                                    std::optional<std::int32_t> running_transaction,
                                                    ocpp::Timestamp now) {
    const double limit = limit_in_unit(power_kw, settings, unit);
    const bool tx_profile = running_transaction && settings.profile_purpose == PurposeSetting::Auto;
    return profile(
        limit, settings.connector_id,
        tx_profile ? ChargingProfilePurpose::TxProfile : ChargingProfilePurpose::TxDefaultProfile,
        tx_profile ? running_transaction : std::nullopt, settings, unit, now);
}

ocpp::SetChargingProfileRequest power_limit_profile(double power_kw,
                                                    const ChargerProfileSettings& settings,
                                                    ChargingRateUnit unit, ocpp::Timestamp now) {
    ChargerProfileSettings whole_station = settings;
    whole_station.min_current_a = 0.0;  // a station limit is never turned into a pause
    return profile(limit_in_unit(power_kw, whole_station, unit), 0,
                   ChargingProfilePurpose::ChargePointMaxProfile, std::nullopt, whole_station, unit,
                   now);
}

}  // namespace gridgate::ocpp16
