// The ocpp16 plugin's mapping of a setpoint to SetChargingProfile.
#include <gtest/gtest.h>

#include <cmath>
#include <iomanip>

#include "charging_profile.hpp"
#include "gridgate/ocpp/schema.hpp"

namespace gridgate::ocpp16 {
namespace {

using namespace std::chrono;
using ocpp::ChargingProfileKind;
using ocpp::ChargingProfilePurpose;
using ocpp::ChargingRateUnit;

const ocpp::Timestamp kNow = ocpp::Timestamp{sys_days{2026y / 11 / 26}} + 10h + 250ms;

// Every profile the mapping makes must pass the official schema.
ocpp::SetChargingProfileRequest valid(ocpp::SetChargingProfileRequest request) {
    rapidjson::Document doc;
    auto json = ocpp::to_json(request, doc.GetAllocator());
    auto violation = ocpp::SchemaRegistry::v16().validate("SetChargingProfile",
                                                          ocpp::PayloadKind::Request, json);
    EXPECT_FALSE(violation) << violation->message;
    return request;
}

double limit_of(const ocpp::SetChargingProfileRequest& r) {
    return r.cs_charging_profiles.charging_schedule.charging_schedule_period.at(0).limit;
}

TEST(Ocpp16ChargingProfile, WattsWithoutTransactionIsTxDefaultAbsoluteAMinuteAgo) {
    ChargerProfileSettings settings;
    const auto& r =
        valid(charge_rate_profile(7.4, settings, ChargingRateUnit::W, std::nullopt, kNow));
    const auto& p = r.cs_charging_profiles;
    EXPECT_EQ(r.connector_id, 1);
    EXPECT_EQ(p.charging_profile_purpose, ChargingProfilePurpose::TxDefaultProfile);
    EXPECT_FALSE(p.transaction_id);
    EXPECT_EQ(p.charging_profile_kind, ChargingProfileKind::Absolute);
    EXPECT_EQ(ocpp::format_timestamp(*p.charging_schedule.start_schedule), "2026-11-26T09:59:00Z");
    EXPECT_EQ(p.charging_schedule.charging_rate_unit, ChargingRateUnit::W);
    EXPECT_DOUBLE_EQ(limit_of(r), 7400.0);
    EXPECT_FALSE(p.charging_schedule.charging_schedule_period[0].number_phases);
    EXPECT_EQ(p.charging_schedule.charging_schedule_period[0].start_period, 0);
}

TEST(Ocpp16ChargingProfile, RunningTransactionGivesTxProfileWithItsId) {
    ChargerProfileSettings settings;
    const auto r = valid(charge_rate_profile(11.0, settings, ChargingRateUnit::W, 42, kNow));
    EXPECT_EQ(r.cs_charging_profiles.charging_profile_purpose, ChargingProfilePurpose::TxProfile);
    EXPECT_EQ(r.cs_charging_profiles.transaction_id, 42);
}

TEST(Ocpp16ChargingProfile, AmpsAreRoundedDownWithPhases) {
    ChargerProfileSettings settings;  // 3 phases, 230 V
    const auto r = valid(charge_rate_profile(11.0, settings, ChargingRateUnit::A, 7, kNow));
    EXPECT_DOUBLE_EQ(limit_of(r), 15.9);  // 15.94 A
    EXPECT_EQ(r.cs_charging_profiles.charging_schedule.charging_schedule_period[0].number_phases,
              3);
    // Exactly 9.1 A stays 9.1 and passes multipleOf 0.1.
    const auto exact = valid(charge_rate_profile(6.279, settings, ChargingRateUnit::A, {}, kNow));
    EXPECT_DOUBLE_EQ(limit_of(exact), 9.1);
    settings.phases = 1;
    const auto single = valid(charge_rate_profile(22.0, settings, ChargingRateUnit::A, {}, kNow));
    EXPECT_DOUBLE_EQ(limit_of(single), 95.6);  // 95.65 A, never rounded up
    EXPECT_LE(limit_of(single) * 230.0 / 1000.0, 22.0);
}

TEST(Ocpp16ChargingProfile, WattsAreRoundedDownToATenth) {
    const auto r = valid(
        charge_rate_profile(7.38567, ChargerProfileSettings{}, ChargingRateUnit::W, {}, kNow));
    EXPECT_DOUBLE_EQ(limit_of(r), 7385.6);
}

// Found by fuzz_ocpp_outbound: the limit never ends up above the setpoint,
// also for a value a hair below a tenth, or too large for tenths to exist.
TEST(Ocpp16ChargingProfile, RoundingDownNeverGoesAboveTheValue) {
    EXPECT_EQ(round_down_to_tenth(9.1), 9.1);
    EXPECT_EQ(round_down_to_tenth(0.29999999999), 0.2);
    EXPECT_EQ(round_down_to_tenth(15.94), 15.9);
    EXPECT_EQ(round_down_to_tenth(0.0), 0.0);
    for (double v : {0.29999999999, 1e17 + 0.3, 9.8e129, 4.46e46, 123456789.123456789}) {
        EXPECT_LE(round_down_to_tenth(v), v) << v;
        EXPECT_GT(round_down_to_tenth(v), v - 0.1 - 1e-9 * v) << v;
    }
    // Where value * 10 passes 2^53 (tenths no longer exact), up to 2^53.
    for (double v = 9.007199254740992e14 / 1.001; v < 1e16; v *= 1.0007) {
        ASSERT_LE(round_down_to_tenth(v), v) << std::setprecision(17) << v;
        ASSERT_GE(round_down_to_tenth(v), v - 1.0) << std::setprecision(17) << v;
    }
    // As the charger is sent it: 2.2e130 kW on 3 phases at 753.127 V.
    ChargerProfileSettings settings;
    settings.voltage = 753.1270220624579;
    const double kw = 2.2181357596864767e+130;
    const auto r = valid(charge_rate_profile(kw, settings, ChargingRateUnit::A, {}, kNow));
    EXPECT_LE(limit_of(r), kw * 1000.0 / (settings.voltage * 3));
}

TEST(Ocpp16ChargingProfile, RelativeHasNoStartSchedule) {
    ChargerProfileSettings settings;
    settings.profile_kind = ChargingProfileKind::Relative;
    const auto r = valid(charge_rate_profile(3.0, settings, ChargingRateUnit::W, {}, kNow));
    EXPECT_EQ(r.cs_charging_profiles.charging_profile_kind, ChargingProfileKind::Relative);
    EXPECT_FALSE(r.cs_charging_profiles.charging_schedule.start_schedule);
}

TEST(Ocpp16ChargingProfile, StackLevelAndTxDefaultQuirks) {
    ChargerProfileSettings settings;
    settings.stack_level = 5;
    settings.profile_purpose = PurposeSetting::TxDefault;
    const auto r = valid(charge_rate_profile(3.0, settings, ChargingRateUnit::W, 42, kNow));
    EXPECT_EQ(r.cs_charging_profiles.stack_level, 5);
    EXPECT_EQ(r.cs_charging_profiles.charging_profile_purpose,
              ChargingProfilePurpose::TxDefaultProfile);
    EXPECT_FALSE(r.cs_charging_profiles.transaction_id);
}

TEST(Ocpp16ChargingProfile, BelowMinCurrentBecomesAPause) {
    ChargerProfileSettings settings;
    settings.min_current_a = 6.0;
    EXPECT_DOUBLE_EQ(
        limit_of(valid(charge_rate_profile(3.0, settings, ChargingRateUnit::A, {}, kNow))), 0.0);
    EXPECT_DOUBLE_EQ(
        limit_of(valid(charge_rate_profile(3.0, settings, ChargingRateUnit::W, {}, kNow))), 0.0);
    EXPECT_DOUBLE_EQ(
        limit_of(valid(charge_rate_profile(5.0, settings, ChargingRateUnit::A, {}, kNow))), 7.2);
    EXPECT_DOUBLE_EQ(
        limit_of(valid(charge_rate_profile(0.0, settings, ChargingRateUnit::A, {}, kNow))), 0.0);
}

TEST(Ocpp16ChargingProfile, ProfileIdIsStablePerConnectorAndPurpose) {
    ChargerProfileSettings settings;
    const auto a = charge_rate_profile(3.0, settings, ChargingRateUnit::W, {}, kNow);
    const auto b = charge_rate_profile(9.0, settings, ChargingRateUnit::W, {}, kNow + 15min);
    EXPECT_EQ(a.cs_charging_profiles.charging_profile_id,
              b.cs_charging_profiles.charging_profile_id);
    const auto tx = charge_rate_profile(9.0, settings, ChargingRateUnit::W, 3, kNow);
    EXPECT_NE(a.cs_charging_profiles.charging_profile_id,
              tx.cs_charging_profiles.charging_profile_id);
    settings.connector_id = 2;
    const auto other = charge_rate_profile(3.0, settings, ChargingRateUnit::W, {}, kNow);
    EXPECT_NE(a.cs_charging_profiles.charging_profile_id,
              other.cs_charging_profiles.charging_profile_id);
}

TEST(Ocpp16ChargingProfile, AutoUnitFollowsTheCharger) {
    EXPECT_EQ(unit_from_allowed("Current"), ChargingRateUnit::A);
    EXPECT_EQ(unit_from_allowed("Power"), ChargingRateUnit::W);
    EXPECT_EQ(unit_from_allowed("Current,Power"), ChargingRateUnit::W);
    EXPECT_EQ(unit_from_allowed("power"), ChargingRateUnit::W);
    EXPECT_EQ(unit_from_allowed("CURRENT"), ChargingRateUnit::A);
    EXPECT_EQ(unit_from_allowed("W"), ChargingRateUnit::W);
    EXPECT_EQ(unit_from_allowed("a"), ChargingRateUnit::A);
    EXPECT_FALSE(unit_from_allowed("Volts"));
    EXPECT_FALSE(unit_from_allowed(""));
    EXPECT_EQ(resolve_unit(RateUnitSetting::Auto, ChargingRateUnit::W), ChargingRateUnit::W);
    EXPECT_EQ(resolve_unit(RateUnitSetting::Auto, std::nullopt), ChargingRateUnit::A);
    EXPECT_EQ(resolve_unit(RateUnitSetting::W, ChargingRateUnit::A), ChargingRateUnit::W);
}

TEST(Ocpp16ChargingProfile, PowerLimitIsChargePointMaxOnConnectorZero) {
    ChargerProfileSettings settings;
    settings.min_current_a = 6.0;
    const auto r = valid(power_limit_profile(2.0, settings, ChargingRateUnit::A, kNow));
    EXPECT_EQ(r.connector_id, 0);
    EXPECT_EQ(r.cs_charging_profiles.charging_profile_purpose,
              ChargingProfilePurpose::ChargePointMaxProfile);
    EXPECT_DOUBLE_EQ(limit_of(r), 2.8);  // not paused: a station limit is no pause
}

TEST(Ocpp16ChargingProfile, RefusesNegativeOrNonFinitePower) {
    ChargerProfileSettings settings;
    EXPECT_THROW(charge_rate_profile(-1.0, settings, ChargingRateUnit::W, {}, kNow),
                 std::invalid_argument);
    EXPECT_THROW(charge_rate_profile(std::nan(""), settings, ChargingRateUnit::W, {}, kNow),
                 std::invalid_argument);
    settings.voltage = 0;
    EXPECT_THROW(charge_rate_profile(1.0, settings, ChargingRateUnit::A, {}, kNow),
                 std::invalid_argument);
}

}  // namespace
}  // namespace gridgate::ocpp16
