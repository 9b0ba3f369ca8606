// The example files shipped in config/examples/ load without a single
// complaint, plugin keys included.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "gridgate/config/plugin_keys.hpp"
#include "gridgate/config/site_loader.hpp"
#include "site_file_testing.hpp"

using namespace gridgate::config;
using gridgate::config::testing::bundled_plugins;
using gridgate::config::testing::lines;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

namespace {

SiteConfig load_example(const std::string& name) {
    auto result = load_site_file(std::string(GRIDGATE_EXAMPLES_DIR) + "/" + name, {});
    EXPECT_TRUE(result.ok()) << ::testing::PrintToString(lines(result.errors));
    if (!result.ok()) return {};
    EXPECT_THAT(lines(validate_adapter_keys(*result.config, bundled_plugins())), IsEmpty());
    return *result.config;
}

std::vector<std::string> ids(const SiteConfig& c) {
    std::vector<std::string> out;
    for (const auto& a : c.assets) out.push_back(a.id);
    return out;
}

}  // namespace

TEST(Examples, DemoSiteIsValidAndLocal) {
    SiteConfig c = load_example("demo-site.toml");
    EXPECT_EQ(c.api.listen, (ListenAddress{"127.0.0.1", 8080}));
    const AdapterConfig* ocpp = c.find_adapter("ocpp");
    ASSERT_NE(ocpp, nullptr);
    EXPECT_EQ(*ocpp->options.find("listen")->as_string(), "127.0.0.1:9000");
    EXPECT_EQ(*ocpp->options.find("path")->as_string(), "/ocpp");
    EXPECT_THAT(ids(c), ElementsAre("ast_charger_bay_1", "ast_charger_bay_2", "ast_batt_001"));
    EXPECT_EQ(*c.assets[0].options.find("charging_rate_unit")->as_string(), "W");
    EXPECT_EQ(*c.assets[1].options.find("charging_rate_unit")->as_string(), "A");
    EXPECT_EQ(*c.assets[1].options.find("charge_point_id")->as_string(), "CP002");
    EXPECT_EQ(*c.assets[2].options.find("port")->as_integer(), 1502);
    EXPECT_NE(c.find_register_map("generic_battery"), nullptr);
    EXPECT_EQ(c.asset_map, (std::map<std::string, std::string>{{"ev_001", "ast_charger_bay_1"},
                                                               {"ev_002", "ast_charger_bay_2"},
                                                               {"battery", "ast_batt_001"}}));
}

TEST(Examples, TemplateIsValidAndShowsEveryKey) {
    SiteConfig c = load_example("site.toml");
    EXPECT_EQ(c.site.name, "depot-1");
    EXPECT_EQ(c.engine.max_retries, 3);
    EXPECT_DOUBLE_EQ(c.engine.max_retry_backoff_seconds, 300.0);
    EXPECT_EQ(c.api.body_limit_bytes, 8u * 1024 * 1024);
    EXPECT_THAT(ids(c), ElementsAre("ast_charger_bay_1", "ast_batt_001"));

    // An installer learns every key from the template, commented-out ones too.
    std::ifstream in(std::string(GRIDGATE_EXAMPLES_DIR) + "/site.toml");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (std::string_view key : {"[site]",
                                 "name =",
                                 "[api]",
                                 "listen =",
                                 "token =",
                                 "body_limit_bytes =",
                                 "[engine]",
                                 "max_retries =",
                                 "timeout_seconds =",
                                 "retry_backoff_seconds =",
                                 "max_retry_backoff_seconds =",
                                 "[plugins]",
                                 "dirs =",
                                 "plugin =",
                                 "path =",
                                 "heartbeat_interval_seconds =",
                                 "security_profile =",
                                 "tls_certificate =",
                                 "tls_private_key =",
                                 "poll_interval_seconds =",
                                 "id =",
                                 "type =",
                                 "adapter =",
                                 "charge_point_id =",
                                 "connector_id =",
                                 "charging_rate_unit =",
                                 "phases =",
                                 "voltage =",
                                 "password =",
                                 "host =",
                                 "port =",
                                 "unit_id =",
                                 "register_map =",
                                 "max_charge_kw =",
                                 "max_discharge_kw =",
                                 "[register_maps.",
                                 "[schedule.asset_map]"})
        EXPECT_NE(text.find(key), std::string::npos) << key;
}
