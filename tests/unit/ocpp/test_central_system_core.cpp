// The central system's inbound handlers on their own, without a socket:
// what they answer and what they tell their observers.
#include "gridgate/ocpp/central_system_core.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace gridgate::ocpp {
namespace {

using Quantity = TelemetrySample::Quantity;

class CentralSystemCoreTest : public ::testing::Test {
  protected:
    CentralSystemCore& make(CoreOptions options = {}) {
        options.log = [this](LogLevel level, std::string_view message) {
            log.push_back({level, std::string(message)});
        };
        CoreObservers observers;
        observers.on_telemetry = [this](std::string_view, const std::vector<TelemetrySample>& s) {
            telemetry.push_back(s);
        };
        core = std::make_unique<CentralSystemCore>(std::move(options), std::move(observers));
        return *core;
    }

    rapidjson::Document call(std::string_view action, std::string_view payload) {
        rapidjson::Document request;
        request.Parse(payload.data(), payload.size());
        EXPECT_FALSE(request.HasParseError()) << payload;
        rapidjson::Document response;
        response.SetObject();
        EXPECT_FALSE(core->on_call("CP1", action, request, response));
        return response;
    }

    std::string id_tag_status(std::string_view action, std::string_view tag) {
        std::string payload = R"({"idTag":")" + std::string(tag) + "\"";
        if (action == "StartTransaction")
            payload += R"(,"connectorId":1,"meterStart":0,"timestamp":"2026-11-26T10:00:00Z")";
        auto response = call(action, payload + "}");
        return response["idTagInfo"]["status"].GetString();
    }

    // The values of `quantity` without a phase in the last telemetry.
    std::vector<double> totals(Quantity quantity) const {
        std::vector<double> out;
        if (telemetry.empty()) return out;
        for (const auto& s : telemetry.back())
            if (s.quantity == quantity && !s.phase) out.push_back(s.value);
        return out;
    }

    bool logged(LogLevel level, std::string_view needle) const {
        for (const auto& [l, text] : log)
            if (l == level && text.find(needle) != std::string::npos) return true;
        return false;
    }

    std::unique_ptr<CentralSystemCore> core;
    std::vector<std::vector<TelemetrySample>> telemetry;
    std::vector<std::pair<LogLevel, std::string>> log;
};

// IdToken is a CiString20Type: a listed tag matches in any ASCII case.
TEST_F(CentralSystemCoreTest, IdTagsMatchWithoutRegardToCase) {
    CoreOptions options;
    options.accept_all_id_tags = false;
    options.accepted_id_tags = {"TAG1", "Fleet-07"};
    make(std::move(options));
    for (const char* tag : {"TAG1", "tag1", "Tag1", "fleet-07", "FLEET-07"}) {
        EXPECT_EQ(id_tag_status("Authorize", tag), "Accepted") << tag;
        EXPECT_EQ(id_tag_status("StartTransaction", tag), "Accepted") << tag;
    }
    for (const char* tag : {"TAG2", "TAG", "TAG11", "fleet_07"}) {
        EXPECT_EQ(id_tag_status("Authorize", tag), "Invalid") << tag;
        EXPECT_EQ(id_tag_status("StartTransaction", tag), "Invalid") << tag;
    }
}

std::string meter_values(std::string_view sampled_values) {
    return R"({"connectorId":1,"meterValue":[{"timestamp":"2026-11-26T10:00:00Z","sampledValue":[)" +
           std::string(sampled_values) + "]}]}";
}

// Chargers that meter each phase alone: power and energy are the sum of the
// phases (L1-N counts as L1), the offered current is the largest phase's.
TEST_F(CentralSystemCoreTest, PerPhaseValuesMakeATotalWhenNoneIsGiven) {
    make();
    call("MeterValues", meter_values(R"(
        {"value":"2000","measurand":"Power.Active.Import","unit":"W","phase":"L1"},
        {"value":"2100","measurand":"Power.Active.Import","unit":"W","phase":"L2"},
        {"value":"1900","measurand":"Power.Active.Import","unit":"W","phase":"L3"},
        {"value":"16","measurand":"Current.Offered","unit":"A","phase":"L1"},
        {"value":"10","measurand":"Current.Offered","unit":"A","phase":"L2"},
        {"value":"16.5","measurand":"Current.Offered","unit":"A","phase":"L3"},
        {"value":"1000","measurand":"Energy.Active.Import.Register","unit":"Wh","phase":"L1-N"},
        {"value":"1000","measurand":"Energy.Active.Import.Register","unit":"Wh","phase":"L2-N"},
        {"value":"1500","measurand":"Energy.Active.Import.Register","unit":"Wh","phase":"L3-N"})"));
    ASSERT_EQ(telemetry.size(), 1U);
    EXPECT_EQ(totals(Quantity::PowerKw), std::vector<double>{6.0});
    EXPECT_EQ(totals(Quantity::CurrentOfferedA), std::vector<double>{16.5});
    EXPECT_EQ(totals(Quantity::EnergyKwh), std::vector<double>{3.5});

    // A total given is the total; the phases do not add a second one.
    call("MeterValues", meter_values(R"(
        {"value":"7400","measurand":"Power.Active.Import","unit":"W"},
        {"value":"2000","measurand":"Power.Active.Import","unit":"W","phase":"L1"},
        {"value":"2000","measurand":"Power.Active.Import","unit":"W","phase":"L2"})"));
    ASSERT_EQ(telemetry.size(), 2U);
    EXPECT_EQ(totals(Quantity::PowerKw), std::vector<double>{7.4});

    // A phase named twice (L1 and L1-N) counts once; N and line-to-line
    // values are not phases to add.
    call("MeterValues", meter_values(R"(
        {"value":"3000","measurand":"Power.Active.Import","unit":"W","phase":"L1"},
        {"value":"3000","measurand":"Power.Active.Import","unit":"W","phase":"L1-N"},
        {"value":"50","measurand":"Power.Active.Import","unit":"W","phase":"N"},
        {"value":"900","measurand":"Power.Active.Import","unit":"W","phase":"L1-L2"})"));
    ASSERT_EQ(telemetry.size(), 3U);
    EXPECT_EQ(totals(Quantity::PowerKw), std::vector<double>{3.0});
}

// A security event (OCPP 1.6 security extension) is answered and logged:
// the charger's routine life at info, anything else at warning, its texts
// escaped.
TEST_F(CentralSystemCoreTest, SecurityEventsAreLoggedAndAnswered) {
    make();
    auto answer = call("SecurityEventNotification",
                       R"({"type":"StartupOfTheDevice","timestamp":"2026-11-29T10:00:00Z"})");
    EXPECT_TRUE(answer.IsObject() && answer.ObjectEmpty());
    EXPECT_TRUE(logged(LogLevel::Info,
                       "CP1: SecurityEventNotification: StartupOfTheDevice at "
                       "2026-11-29T10:00:00Z"));
    call("SecurityEventNotification",
         R"({"type":"TamperDetectionActivated","timestamp":"2026-11-29T10:05:00+01:00",)"
         R"("techInfo":"door\nopened"})");
    EXPECT_TRUE(logged(LogLevel::Warning,
                       "CP1: SecurityEventNotification: TamperDetectionActivated at "
                       "2026-11-29T09:05:00Z (door\\nopened)"));
    call("SecurityEventNotification",
         R"({"type":"VendorAlarm","timestamp":"2026-11-29T10:00:00Z"})");
    EXPECT_TRUE(logged(LogLevel::Warning, "CP1: SecurityEventNotification: VendorAlarm at"));
    EXPECT_EQ(log.size(), 3u);
}

// A charger reporting security events in a loop: the first ten of a
// minute are logged, the tenth saying that the rest are counted (their count
// comes with the next one logged: test_log_budget.cpp); every one is answered.
TEST_F(CentralSystemCoreTest, SecurityEventsInALoopAreLoggedTenTimesAMinute) {
    make();
    for (int i = 0; i < 12; ++i) {
        auto answer =
            call("SecurityEventNotification", R"({"type":"InvalidCentralSystemCertificate",)"
                                              R"("timestamp":"2026-11-29T10:00:00Z"})");
        EXPECT_TRUE(answer.IsObject() && answer.ObjectEmpty());
    }
    ASSERT_EQ(log.size(), 10u);
    EXPECT_EQ(log.back().first, LogLevel::Warning);
    EXPECT_EQ(log.back().second,
              "CP1: SecurityEventNotification: InvalidCentralSystemCertificate at "
              "2026-11-29T10:00:00Z (10 security events this minute: the rest of the minute's "
              "are counted, not logged)");
    // Another charger's events have their own budget.
    rapidjson::Document request, response;
    request.Parse(R"({"type":"StartupOfTheDevice","timestamp":"2026-11-29T10:00:00Z"})");
    response.SetObject();
    EXPECT_FALSE(core->on_call("CP2", "SecurityEventNotification", request, response));
    ASSERT_EQ(log.size(), 11u);
    EXPECT_EQ(log.back().first, LogLevel::Info);
    EXPECT_EQ(log.back().second,
              "CP2: SecurityEventNotification: StartupOfTheDevice at 2026-11-29T10:00:00Z");
}

// Values that are no reading are dropped, and said so at debug level; a
// value with spaces around it is read.
TEST_F(CentralSystemCoreTest, ValuesThatAreNoReadingAreDroppedAndLogged) {
    make();
    call("MeterValues", meter_values(R"(
        {"value":"NaN","measurand":"Power.Active.Import","unit":"W"},
        {"value":"inf","measurand":"Energy.Active.Import.Register","unit":"Wh"},
        {"value":"150","measurand":"SoC","unit":"Percent"},
        {"value":"7,4","measurand":"Current.Offered","unit":"A"},
        {"value":"1\n\u009b\u00fc","measurand":"Power.Active.Import","unit":"W"})"));
    EXPECT_TRUE(telemetry.empty());
    // The charger's text escaped: no line break, no C1 control (CSI).
    EXPECT_TRUE(logged(LogLevel::Debug, "Power.Active.Import value '1\\n\\xc2\\x9b\xc3\xbc'"));
    EXPECT_TRUE(logged(LogLevel::Debug, "CP1"));
    EXPECT_TRUE(logged(LogLevel::Debug, "Power.Active.Import value 'NaN'"));
    EXPECT_TRUE(logged(LogLevel::Debug, "Energy.Active.Import.Register value 'inf'"));
    EXPECT_TRUE(logged(LogLevel::Debug, "SoC value '150'"));
    EXPECT_TRUE(logged(LogLevel::Debug, "Current.Offered value '7,4'"));
    for (const auto& [level, text] : log) EXPECT_TRUE(text.starts_with("CP1: ")) << text;

    call("MeterValues", meter_values(R"(
        {"value":" 7400 ","measurand":"Power.Active.Import","unit":"W"},
        {"value":"-0.5","measurand":"SoC","unit":"Percent"},
        {"value":"100","measurand":"SoC","unit":"Percent"})"));
    ASSERT_EQ(telemetry.size(), 1U);
    EXPECT_EQ(totals(Quantity::PowerKw), std::vector<double>{7.4});
    EXPECT_EQ(totals(Quantity::SocPercent), std::vector<double>{100.0});
    EXPECT_TRUE(logged(LogLevel::Debug, "SoC value '-0.5'"));

    // A sign in front, as some meters write every reading; one sign only.
    call("MeterValues", meter_values(R"(
        {"value":"+11.5","measurand":"Power.Active.Import","unit":"kW"},
        {"value":"+-55","measurand":"SoC","unit":"Percent"},
        {"value":"++55","measurand":"SoC","unit":"Percent"},
        {"value":"+","measurand":"Current.Offered","unit":"A"})"));
    ASSERT_EQ(telemetry.size(), 2U);
    EXPECT_EQ(totals(Quantity::PowerKw), std::vector<double>{11.5});
    EXPECT_TRUE(totals(Quantity::SocPercent).empty());
    EXPECT_TRUE(logged(LogLevel::Debug, "SoC value '+-55'"));
    EXPECT_TRUE(logged(LogLevel::Debug, "SoC value '++55'"));
    EXPECT_TRUE(logged(LogLevel::Debug, "Current.Offered value '+'"));
}

}  // namespace
}  // namespace gridgate::ocpp
