#include <gtest/gtest.h>

#include <cmath>

#include "gridgate/ocpp/rpc.hpp"

namespace gridgate::ocpp {
namespace {

Frame parse(std::string_view text, rapidjson::Document& doc) {
    return parse_frame(text, doc);
}

TEST(Rpc, ParsesCall) {
    rapidjson::Document doc;
    auto frame = parse(R"([2,"19223201","BootNotification",{"chargePointVendor":"V"}])", doc);
    auto* call = std::get_if<Call>(&frame);
    ASSERT_NE(call, nullptr);
    EXPECT_EQ(call->message_id, "19223201");
    EXPECT_EQ(call->action, "BootNotification");
    EXPECT_STREQ((*call->payload)["chargePointVendor"].GetString(), "V");
}

TEST(Rpc, ParsesCallResultAndCallError) {
    rapidjson::Document doc;
    auto frame = parse(R"([3,"a",{"status":"Accepted"}])", doc);
    ASSERT_TRUE(std::holds_alternative<CallResult>(frame));
    EXPECT_EQ(std::get<CallResult>(frame).message_id, "a");

    rapidjson::Document doc2;
    auto error = parse(R"([4,"b","NotSupported","no",{"x":1}])", doc2);
    auto* e = std::get_if<CallError>(&error);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->code, ErrorCode::NotSupported);
    EXPECT_EQ(e->code_text, "NotSupported");
    EXPECT_EQ(e->description, "no");

    rapidjson::Document doc3;
    auto unknown = parse(R"([4,"c","Weird","",{}])", doc3);
    EXPECT_EQ(std::get<CallError>(unknown).code, ErrorCode::GenericError);
    EXPECT_EQ(std::get<CallError>(unknown).code_text, "Weird");
}

struct BadFrame {
    const char* text;
    ErrorCode code;
    const char* message_id;
    bool answer_expected;
};

class RpcBadFrames : public ::testing::TestWithParam<BadFrame> {};

TEST_P(RpcBadFrames, MapToTheRightCallError) {
    rapidjson::Document doc;
    auto frame = parse(GetParam().text, doc);
    auto* problem = std::get_if<FrameError>(&frame);
    ASSERT_NE(problem, nullptr) << GetParam().text;
    EXPECT_EQ(problem->code, GetParam().code) << GetParam().text << ": " << problem->description;
    EXPECT_EQ(problem->message_id, GetParam().message_id) << GetParam().text;
    EXPECT_EQ(problem->answer_expected, GetParam().answer_expected) << GetParam().text;
    EXPECT_FALSE(problem->description.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Frames, RpcBadFrames,
    ::testing::Values(
        BadFrame{"not json", ErrorCode::FormationViolation, "", true},
        BadFrame{R"({"a":1})", ErrorCode::FormationViolation, "", true},
        BadFrame{"[]", ErrorCode::FormationViolation, "", true},
        BadFrame{R"(["2","id","Heartbeat",{}])", ErrorCode::FormationViolation, "", true},
        BadFrame{R"([7,"id","Heartbeat",{}])", ErrorCode::ProtocolError, "id", true},
        BadFrame{R"([2,"id","Heartbeat"])", ErrorCode::ProtocolError, "id", true},
        BadFrame{R"([2,"id",5,{}])", ErrorCode::FormationViolation, "id", true},
        BadFrame{R"([2,"id","Heartbeat",[]])", ErrorCode::FormationViolation, "id", true},
        BadFrame{R"([2,17,"Heartbeat",{}])", ErrorCode::FormationViolation, "", true},
        BadFrame{R"([2,"0123456789012345678901234567890123456","Heartbeat",{}])",
                 ErrorCode::FormationViolation, "", true},
        BadFrame{R"([3,"id"])", ErrorCode::FormationViolation, "id", false},
        BadFrame{R"([4,"id","GenericError"])", ErrorCode::FormationViolation, "id", false}));

TEST(Rpc, MessageIdOf36CharactersIsAccepted) {
    rapidjson::Document doc;
    auto frame = parse(R"([2,"012345678901234567890123456789012345","Heartbeat",{}])", doc);
    EXPECT_TRUE(std::holds_alternative<Call>(frame));
}

TEST(Rpc, SerializesFrames) {
    rapidjson::Document payload;
    payload.Parse(R"({"status":"Accepted","limit":9.1})");
    EXPECT_EQ(serialize_call("1", "SetChargingProfile", payload),
              R"([2,"1","SetChargingProfile",{"status":"Accepted","limit":9.1}])");
    EXPECT_EQ(serialize_call_result("x", payload), R"([3,"x",{"status":"Accepted","limit":9.1}])");
    EXPECT_EQ(serialize_call_error("y", ErrorCode::OccurenceConstraintViolation, ""),
              R"([4,"y","OccurenceConstraintViolation","",{}])");
}

TEST(Rpc, RefusesToSerializeNaN) {
    rapidjson::Document payload;
    payload.SetObject();
    payload.AddMember("limit", std::nan(""), payload.GetAllocator());
    EXPECT_THROW(serialize_call("1", "SetChargingProfile", payload), std::invalid_argument);
}

TEST(Rpc, ErrorCodesUseThe16Spellings) {
    const std::vector<std::string_view> names{
        "FormationViolation",      "OccurenceConstraintViolation",
        "NotImplemented",          "NotSupported",
        "ProtocolError",           "PropertyConstraintViolation",
        "TypeConstraintViolation", "GenericError",
        "InternalError",           "SecurityError"};
    for (auto name : names) {
        auto code = error_code_from_string(name);
        ASSERT_TRUE(code) << name;
        EXPECT_EQ(to_string(*code), name);
    }
    EXPECT_FALSE(error_code_from_string("OccurrenceConstraintViolation"));
}

}  // namespace
}  // namespace gridgate::ocpp
