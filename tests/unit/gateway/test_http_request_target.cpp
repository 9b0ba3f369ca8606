#include "gridgate/http/detail/request_target.hpp"

#include <gtest/gtest.h>

namespace gridgate::http::detail {
namespace {

TEST(PercentDecode, DecodesEscapesOfBothCases) {
    EXPECT_EQ(percent_decode("ast%20x%2Fy%2fz", false), "ast x/y/z");
    EXPECT_EQ(percent_decode("%e2%82%AC", false), "\xE2\x82\xAC");
}

TEST(PercentDecode, PlusIsSpaceOnlyInQueries) {
    EXPECT_EQ(percent_decode("a+b", true), "a b");
    EXPECT_EQ(percent_decode("a+b", false), "a+b");
    EXPECT_EQ(percent_decode("a%2Bb", true), "a+b");
}

TEST(PercentDecode, RefusesTruncatedOrNonHexEscapes) {
    EXPECT_EQ(percent_decode("abc%", true), std::nullopt);
    EXPECT_EQ(percent_decode("abc%4", true), std::nullopt);
    EXPECT_EQ(percent_decode("%zz", true), std::nullopt);
    EXPECT_EQ(percent_decode("%4g", true), std::nullopt);
}

TEST(ParseQuery, SplitsNamesAndValues) {
    auto r = parse_query("asset_id=ast%5Fbatt+1&status=PENDING&flag&&x=");
    ASSERT_TRUE(r.error.empty()) << r.error;
    ASSERT_EQ(r.parameters.size(), 4u);
    EXPECT_EQ(r.parameters[0].name, "asset_id");
    EXPECT_EQ(r.parameters[0].value, "ast_batt 1");
    EXPECT_EQ(r.parameters[1].name, "status");
    EXPECT_EQ(r.parameters[1].value, "PENDING");
    EXPECT_EQ(r.parameters[2].name, "flag");
    EXPECT_EQ(r.parameters[2].value, "");
    EXPECT_EQ(r.parameters[3].name, "x");
    EXPECT_EQ(r.parameters[3].value, "");
}

TEST(ParseQuery, NamesTheParameterWithABadEscape) {
    auto r = parse_query("status=PENDING&asset_id=%G1");
    EXPECT_EQ(r.error, "malformed percent-encoding in query parameter 'asset_id'");
}

TEST(SplitTarget, SeparatesPathAndQuery) {
    auto t = split_target("/api/v1/commands?status=PENDING");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->path, "/api/v1/commands");
    EXPECT_EQ(t->query, "status=PENDING");
    auto bare = split_target("/healthz");
    ASSERT_TRUE(bare);
    EXPECT_EQ(bare->path, "/healthz");
    EXPECT_EQ(bare->query, "");
    EXPECT_FALSE(split_target("http://host/healthz"));
    EXPECT_FALSE(split_target("*"));
    EXPECT_FALSE(split_target(""));
}

TEST(ConstantTimeEquals, EqualOnlyForIdenticalStrings) {
    EXPECT_TRUE(constant_time_equals("s3cret", "s3cret"));
    EXPECT_FALSE(constant_time_equals("s3cret", "s3creT"));
    EXPECT_FALSE(constant_time_equals("s3cret", "s3cre"));
    EXPECT_FALSE(constant_time_equals("s3cret", "s3cret!"));
    EXPECT_FALSE(constant_time_equals("s3cret", ""));
    EXPECT_TRUE(constant_time_equals("", ""));
    // A shorter given string padded with NULs must not compare equal.
    EXPECT_FALSE(constant_time_equals(std::string_view("ab\0", 3), "ab"));
}

TEST(BearerToken, ExtractsTheTokenWithACaseInsensitiveScheme) {
    EXPECT_EQ(bearer_token("Bearer abc.def"), "abc.def");
    EXPECT_EQ(bearer_token("bearer   abc  "), "abc");
    EXPECT_EQ(bearer_token("BEARER\tabc"), "abc");
    EXPECT_EQ(bearer_token("Basic dXNlcjpwYXNz"), std::nullopt);
    EXPECT_EQ(bearer_token("Bearerabc"), std::nullopt);
    EXPECT_EQ(bearer_token("Bearer "), std::nullopt);
    EXPECT_EQ(bearer_token("Bearer"), std::nullopt);
}

}  // namespace
}  // namespace gridgate::http::detail
