#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>

#include <rapidjson/error/en.h>

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

std::string nested(unsigned levels, std::string_view inside = "1") {
    return std::string(levels, '[') + std::string(inside) + std::string(levels, ']');
}

TEST(Rpc, ParseJsonTakesNestingUpToTheLimit) {
    rapidjson::Document doc;
    EXPECT_EQ(parse_json(nested(kMaxJsonDepth), doc), std::nullopt);
    const rapidjson::Value* v = &doc;
    for (unsigned level = 1; level < kMaxJsonDepth; ++level) v = &(*v)[0];
    EXPECT_EQ((*v)[0].GetInt(), 1);
}

TEST(Rpc, ParseJsonRefusesDeeperNestingWhereItBegins) {
    rapidjson::Document doc;
    auto problem = parse_json(R"({"a":)" + nested(kMaxJsonDepth) + "}", doc);
    ASSERT_TRUE(problem);
    // The object is level 1; the bracket at offset 5 + 31 opens level 33.
    EXPECT_EQ(*problem, "nested deeper than 32 levels (offset 36)");
    EXPECT_TRUE(doc.IsNull());  // nothing half-built is left behind
    // A deep answer is refused the same way, before anything walks it.
    rapidjson::Document doc2;
    auto frame = parse_frame(R"([4,"b","GenericError","",)" + nested(100000, "{}") + "]", doc2);
    auto* error = std::get_if<FrameError>(&frame);
    ASSERT_NE(error, nullptr);
    EXPECT_NE(error->description.find("nested deeper than 32 levels"), std::string::npos);
}

TEST(Rpc, ParseJsonNamesTheProblemAndWhere) {
    rapidjson::Document doc;
    EXPECT_EQ(parse_json(R"([1,2)", doc),
              "not valid JSON: Missing a comma or ']' after an "
              "array element. (offset 4)");
    EXPECT_EQ(parse_json(R"(["a\u00e9\n"])", doc), std::nullopt);  // escapes use the reader's stack
    EXPECT_EQ(doc[0].GetString(), std::string("a\xc3\xa9\n"));
}

// parse_json() copies a string's plain runs at once: it reads strings as
// RapidJSON's own Document::Parse does, values and errors (with their
// offsets) alike, for strings with escapes, control characters, UTF-8, NUL
// bytes, no closing quote, and runs longer than 16 bytes.
TEST(Rpc, ParseJsonReadsStringsAsRapidJsonDoes) {
    std::mt19937 random(112926);
    std::uniform_int_distribution<int> length(0, 60), kind(0, 9), plain(0x20, 0x7e), any(0, 255);
    const std::vector<std::string> pieces = {"\\n",   "\\\"", "\\u00e9", "\\ud83d\\ude00",    "\\x",
                                             "\\u12", "\\",   "\"",      std::string(1, '\0')};
    for (int round = 0; round < 5000; ++round) {
        std::string inner;
        const int n = length(random);
        for (int i = 0; i < n; ++i) {
            const int k = kind(random);
            if (k == 0)
                inner += pieces[static_cast<std::size_t>(any(random)) % pieces.size()];
            else if (k == 1)
                inner += static_cast<char>(any(random));
            else
                inner += static_cast<char>(plain(random));
        }
        // A string as a key and as a value; one in eight left unterminated.
        std::string text = "{\"" + inner + "\":[\"" + inner + "\",1]}";
        if (round % 8 == 0) text = "[\"" + inner;

        rapidjson::Document reference;
        reference.Parse(text.data(), text.size());
        rapidjson::Document ours;
        const auto problem = parse_json(text, ours);
        if (reference.HasParseError()) {
            ASSERT_TRUE(problem) << "round " << round;
            EXPECT_EQ(*problem, std::string("not valid JSON: ") +
                                    rapidjson::GetParseError_En(reference.GetParseError()) +
                                    " (offset " + std::to_string(reference.GetErrorOffset()) + ")")
                << "round " << round;
        } else {
            ASSERT_FALSE(problem) << "round " << round << ": " << *problem;
            EXPECT_TRUE(ours == reference) << "round " << round;
        }
    }
}

TEST(Rpc, ParseJsonBuildsDocumentsBeyondItsStackBufferAndKeepsTheOldOneOnFailure) {
    // 2,000 members: the build stack outgrows the bytes it starts in.
    std::string text = "{";
    for (int i = 0; i < 2000; ++i)
        text += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":[" + std::to_string(i) + "]";
    text += "}";
    rapidjson::Document doc;
    ASSERT_EQ(parse_json(text, doc), std::nullopt);
    ASSERT_TRUE(doc.IsObject());
    EXPECT_EQ(doc.MemberCount(), 2000u);
    EXPECT_EQ(doc["k1999"][0].GetInt(), 1999);
    // A text that fails leaves what the document held.
    EXPECT_TRUE(parse_json(R"({"k0":[1,)", doc).has_value());
    ASSERT_TRUE(doc.IsObject());
    EXPECT_EQ(doc.MemberCount(), 2000u);
    EXPECT_EQ(doc["k0"][0].GetInt(), 0);
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
        BadFrame{R"([2,"id","Heartbeat"])", ErrorCode::ProtocolError, "id", true},  // incomplete
        BadFrame{R"([2,"id","Heartbeat",{},{}])", ErrorCode::FormationViolation, "id", true},
        BadFrame{R"([2,"id",5,{}])", ErrorCode::FormationViolation, "id", true},
        BadFrame{R"([2,"id","Heartbeat",[]])", ErrorCode::FormationViolation, "id", true},
        BadFrame{R"([2,17,"Heartbeat",{}])", ErrorCode::FormationViolation, "", true},
        // Too long, but a string: the answer echoes it.
        BadFrame{R"([2,"0123456789012345678901234567890123456","Heartbeat",{}])",
                 ErrorCode::FormationViolation, "0123456789012345678901234567890123456", true},
        BadFrame{R"([2,"","Heartbeat",{}])", ErrorCode::FormationViolation, "", true},
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

// The writer's characters reach the frame in blocks: a text of any length,
// across every block boundary, comes out whole and in order.
TEST(Rpc, SerializesLongTextsWhole) {
    for (std::size_t length : {200u, 243u, 255u, 256u, 257u, 511u, 512u, 513u, 5000u}) {
        std::string text;
        for (std::size_t i = 0; i < length; ++i) text += static_cast<char>('a' + i % 26);
        rapidjson::Document payload;
        payload.SetObject();
        payload.AddMember("vendorId", rapidjson::StringRef(text.data(), text.size()),
                          payload.GetAllocator());
        const std::string tail = R"({"vendorId":")" + text + R"("}])";
        EXPECT_EQ(serialize_call("1", "DataTransfer", payload), R"([2,"1","DataTransfer",)" + tail)
            << length;
        EXPECT_EQ(serialize_call_result("1", payload), R"([3,"1",)" + tail) << length;
        EXPECT_EQ(serialize_call_error("1", ErrorCode::GenericError, text),
                  R"([4,"1","GenericError",")" + text + R"(",{}])")
            << length;
    }
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
