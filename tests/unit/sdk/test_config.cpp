#include "gridgate/sdk/config.hpp"

#include <gtest/gtest.h>

#include <cmath>

using namespace gridgate::sdk;

namespace {
ConfigValue num(double v, int line) {
    return {ConfigValue::Storage{v}, {"site.toml", line, 5}};
}
ConfigValue str(std::string v, int line) {
    return {ConfigValue::Storage{std::move(v)}, {"site.toml", line, 5}};
}

const std::vector<ConfigKey> kKeys = {
    {.name = "poll_interval_seconds",
     .type = ConfigType::Float,
     .default_value = "5.0",
     .description = "poll period",
     .min = 0.1},
    {.name = "mode", .type = ConfigType::String, .one_of = {"fast", "slow"}},
    {.name = "host", .type = ConfigType::String, .required = true},
};
}  // namespace

TEST(ConfigValidation, AcceptsDeclaredKeys) {
    ConfigTable t({"site.toml", 3, 1});
    t.add("poll_interval_seconds", num(2.0, 4));
    t.add("host", str("10.0.0.1", 5));
    EXPECT_TRUE(validate_keys(t, kKeys, "[adapters.x]").empty());
}

TEST(ConfigValidation, UnknownKeySuggestsTheClosest) {
    ConfigTable t({"site.toml", 3, 1});
    t.add("host", str("h", 4));
    t.add("pol_interval_seconds", num(2.0, 7));
    auto d = validate_keys(t, kKeys, "[adapters.x]");
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].str(),
              "site.toml:7:5: unknown key 'pol_interval_seconds' in [adapters.x] (did you mean "
              "'poll_interval_seconds'?)");
}

TEST(ConfigValidation, ReportsEveryProblem) {
    ConfigTable t({"site.toml", 3, 1});
    t.add("poll_interval_seconds", str("fast", 4));
    t.add("mode", str("medium", 5));
    t.add("plugin", str("x", 6));  // the host's key, ignored
    std::vector<std::string_view> ignore{"plugin"};
    auto d = validate_keys(t, kKeys, "[adapters.x]", ignore);
    ASSERT_EQ(d.size(), 3u);
    EXPECT_EQ(d[0].str(), "site.toml:4:5: 'poll_interval_seconds' must be a float, not a string");
    EXPECT_EQ(d[1].str(),
              "site.toml:5:5: 'mode' must be one of \"fast\", \"slow\"; got \"medium\"");
    EXPECT_EQ(d[2].str(), "site.toml:3:1: missing required key 'host' in [adapters.x]");
}

TEST(ConfigValidation, RangeIsChecked) {
    ConfigTable t({"site.toml", 3, 1});
    t.add("host", str("h", 4));
    t.add("poll_interval_seconds", num(0.0, 5));
    auto d = validate_keys(t, kKeys, "[adapters.x]");
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].where.line, 5);
    EXPECT_NE(d[0].message.find("at least"), std::string::npos);
}

TEST(ConfigValidation, NanAndInfinityAreNotNumbersAKeyTakes) {
    // A float key without a range, and one with a lower bound only: nan
    // compares false with every bound, so it must be refused on its own.
    const std::vector<ConfigKey> keys = {
        {.name = "voltage", .type = ConfigType::Float},
        {.name = "poll_interval_seconds", .type = ConfigType::Float, .min = 0.1},
    };
    for (double bad : {std::nan(""), HUGE_VAL, -HUGE_VAL}) {
        ConfigTable t({"site.toml", 3, 1});
        t.add("voltage", num(bad, 4));
        t.add("poll_interval_seconds", num(bad, 5));
        auto d = validate_keys(t, keys, "[adapters.x]");
        ASSERT_EQ(d.size(), 2u) << bad;
        EXPECT_EQ(d[0].str(), "site.toml:4:5: 'voltage' must be a finite number");
        EXPECT_EQ(d[1].str(), "site.toml:5:5: 'poll_interval_seconds' must be a finite number");
    }
}

// A warning is a diagnostic like any other, told apart by its message's
// prefix; an error that merely mentions a warning is not one.
TEST(ConfigDiagnostics, AWarningReadsAsOneAndIsToldApart) {
    const ConfigDiagnostic w = warning({"site.toml", 7, 9}, "certificate expires in 3 days");
    EXPECT_EQ(w.str(), "site.toml:7:9: warning: certificate expires in 3 days");
    EXPECT_TRUE(is_warning(w));
    EXPECT_FALSE(is_warning({{"site.toml", 7, 9}, "'warning' must be a boolean"}));
    EXPECT_FALSE(is_warning({{"site.toml", 7, 9}, "warning:no space"}));
}
