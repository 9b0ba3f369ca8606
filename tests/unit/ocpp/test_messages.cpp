#include <gtest/gtest.h>

#include "gridgate/ocpp/messages.hpp"
#include "gridgate/ocpp/rpc.hpp"
#include "gridgate/ocpp/schema.hpp"

namespace gridgate::ocpp {
namespace {

using namespace std::chrono;

template <class Message>
std::optional<SchemaViolation> validate_request(const Message& message) {
    rapidjson::Document doc;
    rapidjson::Value json = to_json(message, doc.GetAllocator());
    return SchemaRegistry::v16().validate(Message::action, PayloadKind::Request, json);
}

SetChargingProfileRequest profile(ChargingRateUnit unit, double limit,
                                  std::optional<std::int32_t> transaction) {
    SetChargingProfileRequest request;
    request.connector_id = 1;
    auto& p = request.cs_charging_profiles;
    p.charging_profile_id = 101;
    p.transaction_id = transaction;
    p.charging_profile_purpose =
        transaction ? ChargingProfilePurpose::TxProfile : ChargingProfilePurpose::TxDefaultProfile;
    p.charging_profile_kind = ChargingProfileKind::Absolute;
    p.charging_schedule.start_schedule = Timestamp{sys_days{2026y / 11 / 26}} + 10h;
    p.charging_schedule.charging_rate_unit = unit;
    ChargingSchedulePeriod period;
    period.limit = limit;
    if (unit == ChargingRateUnit::A) period.number_phases = 3;
    p.charging_schedule.charging_schedule_period.push_back(period);
    return request;
}

TEST(Messages, SetChargingProfileInWattsAndAmpsValidates) {
    EXPECT_FALSE(validate_request(profile(ChargingRateUnit::W, 11000.0, std::nullopt)));
    EXPECT_FALSE(validate_request(profile(ChargingRateUnit::W, 7400.0, 42)));
    EXPECT_FALSE(validate_request(profile(ChargingRateUnit::A, 9.1, std::nullopt)));
    EXPECT_FALSE(validate_request(profile(ChargingRateUnit::A, 15.9, 42)));
    auto relative = profile(ChargingRateUnit::A, 6.0, std::nullopt);
    relative.cs_charging_profiles.charging_profile_kind = ChargingProfileKind::Relative;
    relative.cs_charging_profiles.charging_schedule.start_schedule.reset();
    EXPECT_FALSE(validate_request(relative));
}

TEST(Messages, SetChargingProfileSerializesTheWireNames) {
    rapidjson::Document doc;
    auto json = to_json(profile(ChargingRateUnit::A, 9.1, 42), doc.GetAllocator());
    EXPECT_EQ(
        to_json_text(json),
        R"({"connectorId":1,"csChargingProfiles":{"chargingProfileId":101,"transactionId":42,)"
        R"("stackLevel":0,"chargingProfilePurpose":"TxProfile","chargingProfileKind":"Absolute",)"
        R"("chargingSchedule":{"startSchedule":"2026-11-26T10:00:00Z","chargingRateUnit":"A",)"
        R"("chargingSchedulePeriod":[{"startPeriod":0,"limit":9.1,"numberPhases":3}]}}})");
}

TEST(Messages, RoundTripsThroughJson) {
    const auto original = profile(ChargingRateUnit::W, 22000.0, 7);
    rapidjson::Document doc;
    auto json = to_json(original, doc.GetAllocator());
    const auto back = from_json<SetChargingProfileRequest>(json);
    EXPECT_EQ(back.cs_charging_profiles.transaction_id, 7);
    EXPECT_EQ(back.cs_charging_profiles.charging_schedule.start_schedule,
              original.cs_charging_profiles.charging_schedule.start_schedule);
    EXPECT_DOUBLE_EQ(back.cs_charging_profiles.charging_schedule.charging_schedule_period[0].limit,
                     22000.0);
}

TEST(Messages, OtherOutboundCallsValidate) {
    EXPECT_FALSE(validate_request(RemoteStartTransactionRequest{1, "TAG1", std::nullopt}));
    EXPECT_FALSE(validate_request(RemoteStopTransactionRequest{42}));
    EXPECT_FALSE(validate_request(ChangeAvailabilityRequest{1, AvailabilityType::Inoperative}));
    EXPECT_FALSE(validate_request(GetConfigurationRequest{
        std::vector<std::string>{"ChargingScheduleAllowedChargingRateUnit"}}));
}

TEST(Messages, FromJsonNamesTheBadMember) {
    rapidjson::Document doc;
    doc.Parse(R"({"connectorId":1,"csChargingProfiles":{"chargingProfileId":"x"}})");
    try {
        (void)from_json<SetChargingProfileRequest>(doc);
        ADD_FAILURE() << "accepted a bad payload";
    } catch (const MessageError& e) {
        EXPECT_STREQ(e.what(), "/csChargingProfiles/chargingProfileId: expected a 32-bit integer");
    }
}

TEST(Messages, ParsesChargerMessages) {
    rapidjson::Document doc;
    doc.Parse(
        R"({"connectorId":2,"transactionId":5,"meterValue":[{"timestamp":"2026-11-26T10:00:00Z",
        "sampledValue":[{"value":"7.2","measurand":"Power.Active.Import","unit":"kW"}]}]})");
    const auto values = from_json<MeterValuesRequest>(doc);
    EXPECT_EQ(values.connector_id, 2);
    EXPECT_EQ(values.transaction_id, 5);
    ASSERT_EQ(values.meter_value.size(), 1u);
    EXPECT_EQ(values.meter_value[0].sampled_value[0].measurand, "Power.Active.Import");
}

}  // namespace
}  // namespace gridgate::ocpp
