// How a power setpoint becomes an OCPP 1.6 SetChargingProfile: the limit in W
// or A (rounded down to 0.1, never above the schedule), TxProfile with the
// running transaction or TxDefaultProfile, Absolute or Relative, a stable
// chargingProfileId per connector and purpose so each send replaces the
// last, and the per-charger quirks some chargers need.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "gridgate/ocpp/datetime.hpp"
#include "gridgate/ocpp/messages.hpp"

namespace gridgate::ocpp16 {

enum class RateUnitSetting { W, A, Auto };
enum class PurposeSetting { Auto, TxDefault };

// The asset's electrical facts and its charger's quirks (the asset table's
// keys). Each quirk exists because some chargers in the field need it:
struct ChargerProfileSettings {
    std::int32_t connector_id = 1;
    std::int32_t phases = 3;
    double voltage = 230.0;
    // `relative`: chargers whose clock is unreliable or that refuse
    // Absolute profiles without a schedule start they like.
    ocpp::ChargingProfileKind profile_kind = ocpp::ChargingProfileKind::Absolute;
    // Above the stack level of the charger's own or a backend's profiles.
    std::int32_t stack_level = 0;
    // `A` for chargers that only take current limits (many AC wallboxes),
    // `W` for DC chargers, `auto` to follow what GetConfiguration reports.
    RateUnitSetting charging_rate_unit = RateUnitSetting::W;
    // Chargers (and cars) that fault below IEC 61851's 6 A get 0 (pause).
    double min_current_a = 0.0;
    // `tx_default` for chargers that reject TxProfile during a transaction.
    PurposeSetting profile_purpose = PurposeSetting::Auto;
};

// The unit of ChargingScheduleAllowedChargingRateUnit ("Current", "Power",
// "Current,Power"); W when both are allowed (no conversion), nullopt when
// the value names neither.
std::optional<ocpp::ChargingRateUnit> unit_from_allowed(std::string_view allowed);

// The unit a profile is sent in: the setting, or for `auto` what the charger
// reported; A when it reported nothing (OCPP 1.6 chargers must take A).
ocpp::ChargingRateUnit resolve_unit(RateUnitSetting setting,
                                    std::optional<ocpp::ChargingRateUnit> reported);

// Rounds down to one decimal place (the schemas' multipleOf 0.1).
double round_down_to_tenth(double value);

// A stable id per connector and purpose: sending again replaces the last one.
std::int32_t charging_profile_id(std::int32_t connector_id, ocpp::ChargingProfilePurpose purpose);

// SET_CHARGE_RATE. Throws std::invalid_argument for a negative or
// non-finite power, or settings that cannot convert kW to A.
ocpp::SetChargingProfileRequest charge_rate_profile(double power_kw,
                                                    const ChargerProfileSettings& settings,
                                                    ocpp::ChargingRateUnit unit,
                                                    std::optional<std::int32_t> running_transaction,
                                                    ocpp::Timestamp now);

// SET_POWER_LIMIT: ChargePointMaxProfile on connector 0.
ocpp::SetChargingProfileRequest power_limit_profile(double power_kw,
                                                    const ChargerProfileSettings& settings,
                                                    ocpp::ChargingRateUnit unit,
                                                    ocpp::Timestamp now);

}  // namespace gridgate::ocpp16
