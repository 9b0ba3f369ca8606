// The library's JSON writer (StringOutput, and its run-at-once string
// writing) writes exactly what RapidJSON's own writer does, for strings of
// every kind: escapes, control characters, UTF-8, and runs longer than its
// buffer.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <random>
#include <string>
#include <vector>

#include "json_output.hpp"

namespace gridgate::ocpp {
namespace {

std::string reference(const rapidjson::Value& value) {
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    value.Accept(writer);
    return {buffer.GetString(), buffer.GetSize()};
}

std::string ours(const rapidjson::Value& value) {
    std::string text = "prefix:";  // appended to, never replaced
    {
        detail::StringOutput out(text);
        detail::WriterStack stack;
        detail::StringWriter writer(out, stack.allocator());
        EXPECT_TRUE(value.Accept(writer));
    }
    EXPECT_EQ(text.rfind("prefix:", 0), 0u);
    return text.substr(7);
}

// An object with `s` as a key and as a value, in an array beside it.
rapidjson::Document holding(const std::string& s) {
    rapidjson::Document doc(rapidjson::kArrayType);
    auto& a = doc.GetAllocator();
    rapidjson::Value key(s.data(), static_cast<rapidjson::SizeType>(s.size()), a);
    rapidjson::Value value(s.data(), static_cast<rapidjson::SizeType>(s.size()), a);
    rapidjson::Value object(rapidjson::kObjectType);
    object.AddMember(key, value, a);
    doc.PushBack(object, a);
    doc.PushBack(rapidjson::Value(s.data(), static_cast<rapidjson::SizeType>(s.size()), a), a);
    doc.PushBack(7, a);
    return doc;
}

TEST(JsonOutput, WritesStringsAsRapidJsonDoes) {
    const std::vector<std::string> cases = {
        "",
        "plain",
        "\"",
        "\\",
        "a\"b\\c",
        std::string("nul\0inside", 10),
        "\x01\x02\x1f\x7f",
        "tab\there\nline\rcr\bbs\ffeed",
        "/slash/is/not/escaped",
        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x8c",
        "ends with escape\n",
        "\nstarts with escape",
        std::string(255, 'x') + "\"",
        std::string(256, 'y'),
        std::string(257, 'z') + "\\" + std::string(600, 'w'),
        std::string(1000, '"'),
    };
    for (const auto& s : cases) {
        const auto doc = holding(s);
        EXPECT_EQ(ours(doc), reference(doc)) << "string of " << s.size() << " bytes";
    }
}

TEST(JsonOutput, RandomStringsMatchRapidJson) {
    std::mt19937 random(20261129);
    // Mostly plain text, with every byte value now and then.
    std::uniform_int_distribution<int> length(0, 700), byte(0, 255), plain(0x20, 0x7e), kind(0, 9);
    for (int round = 0; round < 2000; ++round) {
        std::string s(static_cast<std::size_t>(length(random)), ' ');
        for (char& c : s) c = static_cast<char>(kind(random) == 0 ? byte(random) : plain(random));
        const auto doc = holding(s);
        ASSERT_EQ(ours(doc), reference(doc)) << "round " << round;
    }
}

}  // namespace
}  // namespace gridgate::ocpp
