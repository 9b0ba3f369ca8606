#include "gridgate/config/plugin_keys.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "gridgate/config/site_loader.hpp"
#include "site_file_testing.hpp"

using namespace gridgate::config;
using gridgate::config::testing::bundled_plugins;
using gridgate::config::testing::lines;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::StartsWith;

namespace {

SiteConfig load(std::string_view text) {
    auto result = parse_site(text, "site.toml", {});
    EXPECT_TRUE(result.ok()) << ::testing::PrintToString(lines(result.errors));
    return result.ok() ? *result.config : SiteConfig{};
}

std::vector<std::string> plugin_errors(std::string_view text,
                                       const PluginKeyLookup& lookup = bundled_plugins()) {
    return lines(validate_adapter_keys(load(text), lookup));
}

}  // namespace

TEST(PluginKeys, ArchitectureExampleIsValid) {
    std::string path = std::string(GRIDGATE_TEST_DATA_DIR) + "/architecture-example.toml";
    auto result = load_site_file(path, {});
    ASSERT_TRUE(result.ok()) << ::testing::PrintToString(lines(result.errors));
    EXPECT_THAT(lines(validate_adapter_keys(*result.config, bundled_plugins())), IsEmpty());
}

TEST(PluginKeys, UnknownPluginIsReportedAtThePluginKey) {
    auto text = R"([site]
name = "x"
[adapters.ocpp]
  plugin = "ocpp61"
listen = "0.0.0.0:9000"
[adapters.vendor]
plugin = "acme_inverter"
)";
    EXPECT_THAT(plugin_errors(text),
                ElementsAre("site.toml:4:3: adapter 'ocpp' names plugin 'ocpp61', which was not "
                            "found (searched: /opt/gridgate/lib/gridgate/plugins) (did you mean "
                            "'ocpp16'?)",
                            "site.toml:7:1: adapter 'vendor' names plugin 'acme_inverter', which "
                            "was not found (searched: /opt/gridgate/lib/gridgate/plugins)"));
    PluginKeyLookup nothing;
    EXPECT_THAT(plugin_errors(text, nothing),
                ElementsAre(StartsWith("site.toml:4:3: adapter 'ocpp' names plugin 'ocpp61', "
                                       "which was not found (searched: no plugin folder)"),
                            StartsWith("site.toml:7:1: ")));
}

TEST(PluginKeys, AdapterKeysAreCheckedByTheirPlugin) {
    auto text = R"([site]
name = "x"
[adapters.ocpp]
plugin = "ocpp16"
listen = "0.0.0.0:9000"
heartbeat_intervall_seconds = 60
security_profile = 3
path = 1.5
)";
    auto errors = plugin_errors(text);
    ASSERT_EQ(errors.size(), 3u);
    EXPECT_EQ(errors[0],
              "site.toml:6:1: unknown key 'heartbeat_intervall_seconds' in [adapters.ocpp] (did "
              "you mean 'heartbeat_interval_seconds'?)");
    EXPECT_THAT(errors[1], StartsWith("site.toml:7:1: 'security_profile' must be between "));
    EXPECT_EQ(errors[2], "site.toml:8:1: 'path' must be a string, not a float");
}

TEST(PluginKeys, AssetKeysAreCheckedByTheirAdaptersPlugin) {
    auto text = R"([site]
name = "x"
[adapters.ocpp]
plugin = "ocpp16"
[adapters.modbus]
plugin = "modbus_tcp"

[[assets]]
id = "bay_1"
type = "ev_charger"
adapter = "ocpp"
charging_rate_unit = "kW"
host = "127.0.0.1"

[[assets]]
id = "batt"
type = "battery"
adapter = "modbus"
hots = "127.0.0.1"
register_map = "generic_battery"
[register_maps.generic_battery]
soc = { address = 200, type = "uint16" }
)";
    EXPECT_THAT(plugin_errors(text),
                ElementsAre("site.toml:8:1: missing required key 'charge_point_id' in asset "
                            "'bay_1'",
                            "site.toml:12:1: 'charging_rate_unit' must be one of \"W\", \"A\"; "
                            "got \"kW\"",
                            "site.toml:13:1: unknown key 'host' in asset 'bay_1'",
                            "site.toml:15:1: missing required key 'host' in asset 'batt'",
                            "site.toml:19:1: unknown key 'hots' in asset 'batt' (did you mean "
                            "'host'?)"));
}

TEST(PluginKeys, MisspeltHostKeySuggestsTheHostKey) {
    // "adaptr" is not a host key, so it is left to the plugin, which has no
    // such key either; the suggestion still names the host's key.
    auto text = R"([site]
name = "x"
[adapters.modbus]
plugin = "modbus_tcp"
[adapters.modbus2]
plugin = "modbus_tcp"
plugn = "x"
[[assets]]
id = "b"
type = "battery"
adapter = "modbus"
adaptr = "modbus2"
host = "h"
register_map = "m"
[register_maps.m]
)";
    EXPECT_THAT(plugin_errors(text),
                ElementsAre("site.toml:7:1: unknown key 'plugn' in [adapters.modbus2] (did you "
                            "mean 'plugin'?)",
                            "site.toml:12:1: unknown key 'adaptr' in asset 'b' (did you mean "
                            "'adapter'?)"));
}

TEST(PluginKeys, AssetsOfAnUnknownPluginAreNotCheckedTwice) {
    auto text = R"([site]
name = "x"
[adapters.v]
plugin = "vendor"
[[assets]]
id = "a"
type = "heat_pump"
adapter = "v"
anything = 1
)";
    EXPECT_THAT(plugin_errors(text),
                ElementsAre(StartsWith("site.toml:4:1: adapter 'v' names "
                                       "plugin 'vendor', which was not found")));
}

TEST(PluginKeys, VendorPluginKeysGetTheSameChecks) {
    static const std::vector<gridgate::sdk::ConfigKey> kAdapter = {
        {.name = "endpoint", .type = gridgate::sdk::ConfigType::String, .required = true},
    };
    static const std::vector<gridgate::sdk::ConfigKey> kAsset = {
        {.name = "serial", .type = gridgate::sdk::ConfigType::String, .required = true},
    };
    PluginKeyLookup lookup;
    lookup.find = [](std::string_view name) -> std::optional<PluginKeys> {
        if (name == "acme") return PluginKeys{kAdapter, kAsset};
        return std::nullopt;
    };
    auto text = R"([site]
name = "x"
[adapters.acme]
plugin = "acme"
endpont = "https://acme.example"
[[assets]]
id = "inv_1"
type = "inverter"
adapter = "acme"
serial = "A-1"
)";
    EXPECT_THAT(plugin_errors(text, lookup),
                ElementsAre("site.toml:3:1: missing required key 'endpoint' in [adapters.acme]",
                            "site.toml:5:1: unknown key 'endpont' in [adapters.acme] (did you mean "
                            "'endpoint'?)"));
}

namespace {

class SiteFile {
  public:
    explicit SiteFile(std::string_view text) : path_(dir_.path() / "site.toml") {
        std::ofstream(path_, std::ios::binary) << text;
    }
    std::string path() const { return path_.string(); }

  private:
    gridgate::config::testing::TemporaryFolder dir_;
    std::filesystem::path path_;
};

}  // namespace

TEST(CheckSiteFile, ReportsHostAndPluginErrorsTogetherInFileOrder) {
    SiteFile file(R"([site]
name = "x"
[plugins]
dirs = ["vendor"]
[engine]
max_retries = -1
[adapters.ocpp]
plugin = "ocpp16"
lisen = "0.0.0.0:9000"
[adapters.broken]
port = 1
)");
    std::vector<std::filesystem::path> dirs_seen;
    auto result = check_site_file(file.path(), {}, [&](const SiteConfig& partial) {
        dirs_seen = partial.plugins.dirs;
        return bundled_plugins();
    });
    EXPECT_FALSE(result.ok());
    EXPECT_THAT(dirs_seen,
                ElementsAre(std::filesystem::path(file.path()).parent_path() / "vendor"));
    EXPECT_THAT(lines(result.errors),
                ElementsAre(file.path() + ":6:1: 'max_retries' must be from 0 to 100, got -1",
                            file.path() + ":9:1: unknown key 'lisen' in [adapters.ocpp] (did you "
                                          "mean 'listen'?)",
                            file.path() + ":10:1: missing required key 'plugin' in "
                                          "[adapters.broken]"));
}

TEST(CheckSiteFile, ValidFileGivesTheConfig) {
    SiteFile file("[site]\nname = \"x\"\n[adapters.m]\nplugin = \"modbus_tcp\"\n");
    auto result =
        check_site_file(file.path(), {}, [](const SiteConfig&) { return bundled_plugins(); });
    ASSERT_TRUE(result.ok()) << ::testing::PrintToString(lines(result.errors));
    EXPECT_EQ(result.config->adapters.at(0).plugin, "modbus_tcp");
}

TEST(CheckSiteFile, PluginKeyErrorAloneRefusesTheFile) {
    SiteFile file("[site]\nname = \"x\"\n[adapters.m]\nplugin = \"modbus_tcp\"\npoll = 1\n");
    auto result =
        check_site_file(file.path(), {}, [](const SiteConfig&) { return bundled_plugins(); });
    EXPECT_FALSE(result.ok());
    EXPECT_THAT(lines(result.errors),
                ElementsAre(file.path() + ":5:1: unknown key 'poll' in [adapters.m]"));
}

TEST(CheckSiteFile, SyntaxErrorLoadsNoPlugins) {
    SiteFile file("[site\n");
    bool called = false;
    auto result = check_site_file(file.path(), {}, [&](const SiteConfig&) {
        called = true;
        return bundled_plugins();
    });
    EXPECT_FALSE(called);
    EXPECT_FALSE(result.partial.has_value());
    ASSERT_EQ(result.errors.size(), 1u);
    EXPECT_THAT(result.errors[0].str(), StartsWith(file.path() + ":1:"));
}

// check_site(): the same check for text, as the site_config fuzz target feeds it.
TEST(CheckSite, TextGetsTheHostAndPluginKeyChecksUnderItsName) {
    const std::string text =
        "[site]\nname = \"x\"\n[engine]\nmax_retries = -1\n[adapters.m]\nplugin = "
        "\"modbus_tcp\"\npoll = 1\n";
    auto result =
        check_site(text, "given.toml", {}, [](const SiteConfig&) { return bundled_plugins(); });
    EXPECT_FALSE(result.ok());
    EXPECT_FALSE(result.config.has_value());
    EXPECT_THAT(lines(result.errors),
                ElementsAre("given.toml:4:1: 'max_retries' must be from 0 to 100, got -1",
                            "given.toml:7:1: unknown key 'poll' in [adapters.m]"));
    auto valid = check_site("[site]\nname = \"x\"\n[adapters.m]\nplugin = \"modbus_tcp\"\n",
                            "given.toml", {}, [](const SiteConfig&) { return bundled_plugins(); });
    ASSERT_TRUE(valid.ok()) << ::testing::PrintToString(lines(valid.errors));
    EXPECT_EQ(valid.config->adapters.at(0).plugin, "modbus_tcp");
}
