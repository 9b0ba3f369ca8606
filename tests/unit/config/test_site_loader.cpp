#include "gridgate/config/site_loader.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "site_file_testing.hpp"

using namespace gridgate::config;
using gridgate::config::testing::lines;
using gridgate::config::testing::TemporaryFolder;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

namespace {

constexpr std::string_view kSite = "[site]\nname = \"depot-1\"\n";

LoadResult parse(std::string_view text, const LoadOptions& options = {}) {
    return parse_site(text, "site.toml", options);
}

std::vector<std::string> errors_of(std::string_view text, const LoadOptions& options = {}) {
    return lines(parse(text, options).errors);
}

std::string with_site(std::string_view rest) {
    return std::string(kSite) + std::string(rest);
}

void write_file(const std::filesystem::path& path, std::string_view text) {
    std::ofstream out(path, std::ios::binary);
    out << text;
}

}  // namespace

TEST(SiteLoader, MinimalFileGetsEveryDefault) {
    auto result = parse(kSite);
    ASSERT_TRUE(result.ok()) << ::testing::PrintToString(lines(result.errors));
    const SiteConfig& c = *result.config;
    EXPECT_EQ(c.source_file, "site.toml");
    EXPECT_EQ(c.site.name, "depot-1");
    EXPECT_EQ(c.api.listen, (ListenAddress{"127.0.0.1", 8080}));
    EXPECT_FALSE(c.api.token.has_value());
    EXPECT_EQ(c.api.body_limit_bytes, 8u * 1024 * 1024);
    EXPECT_EQ(c.engine.max_retries, 3);
    EXPECT_DOUBLE_EQ(c.engine.timeout_seconds, 30.0);
    EXPECT_DOUBLE_EQ(c.engine.retry_backoff_seconds, 5.0);
    EXPECT_DOUBLE_EQ(c.engine.max_retry_backoff_seconds, 300.0);
    EXPECT_TRUE(c.plugins.dirs.empty());
    EXPECT_TRUE(c.adapters.empty());
    EXPECT_TRUE(c.assets.empty());
    EXPECT_TRUE(c.asset_map.empty());
    EXPECT_TRUE(c.register_maps.empty());
}

TEST(SiteLoader, ReadsEveryHostSetting) {
    auto result = parse(with_site(R"(
[api]
listen = "[::1]:0"
token = "s3cret"
body_limit_bytes = 65536

[engine]
max_retries = 0
timeout_seconds = 12   # an integer is a fine float
retry_backoff_seconds = 0.5
max_retry_backoff_seconds = 60
)"));
    ASSERT_TRUE(result.ok()) << ::testing::PrintToString(lines(result.errors));
    const SiteConfig& c = *result.config;
    EXPECT_EQ(c.api.listen, (ListenAddress{"::1", 0}));
    EXPECT_EQ(c.api.listen.str(), "[::1]:0");
    EXPECT_EQ(c.api.token, "s3cret");
    EXPECT_EQ(c.api.body_limit_bytes, 65536u);
    EXPECT_EQ(c.engine.max_retries, 0);
    EXPECT_DOUBLE_EQ(c.engine.timeout_seconds, 12.0);
    EXPECT_DOUBLE_EQ(c.engine.retry_backoff_seconds, 0.5);
    EXPECT_DOUBLE_EQ(c.engine.max_retry_backoff_seconds, 60.0);
}

TEST(SiteLoader, ArchitectureExampleLoadsWithItsValuesInFileOrder) {
    std::string path = std::string(GRIDGATE_TEST_DATA_DIR) + "/architecture-example.toml";
    auto result = load_site_file(path, {});
    ASSERT_TRUE(result.ok()) << ::testing::PrintToString(lines(result.errors));
    const SiteConfig& c = *result.config;
    EXPECT_EQ(c.source_file, path);
    EXPECT_EQ(c.site.name, "depot-1");
    EXPECT_EQ(c.api.listen.str(), "127.0.0.1:8080");
    EXPECT_EQ(c.engine.max_retries, 3);

    ASSERT_EQ(c.adapters.size(), 2u);
    const AdapterConfig& ocpp = c.adapters[0];
    EXPECT_EQ(ocpp.name, "ocpp");
    EXPECT_EQ(ocpp.plugin, "ocpp16");
    EXPECT_EQ(ocpp.where.str(), path + ":16:1");
    EXPECT_EQ(ocpp.plugin_where.str(), path + ":17:1");
    EXPECT_EQ(ocpp.options.find("plugin"), nullptr);  // the host's key, not the plugin's
    std::vector<std::string> ocpp_keys;
    for (const auto& [key, value] : ocpp.options.entries()) ocpp_keys.push_back(key);
    EXPECT_THAT(ocpp_keys,
                ElementsAre("listen", "path", "heartbeat_interval_seconds", "security_profile"));
    EXPECT_EQ(*ocpp.options.find("listen")->as_string(), "0.0.0.0:9000");
    EXPECT_EQ(ocpp.options.find("heartbeat_interval_seconds")->where().str(), path + ":20:1");
    EXPECT_EQ(c.adapters[1].name, "modbus");
    EXPECT_DOUBLE_EQ(*c.adapters[1].options.find("poll_interval_seconds")->as_number(), 5.0);

    ASSERT_EQ(c.assets.size(), 2u);
    const AssetConfig& charger = c.assets[0];
    EXPECT_EQ(charger.id, "ast_charger_bay_1");
    EXPECT_EQ(charger.type, "ev_charger");
    EXPECT_EQ(charger.adapter, "ocpp");
    EXPECT_EQ(charger.where.str(), path + ":28:1");
    EXPECT_EQ(charger.options.find("id"), nullptr);
    EXPECT_EQ(*charger.options.find("charge_point_id")->as_string(), "CP001");
    EXPECT_EQ(*charger.options.find("phases")->as_integer(), 3);
    const AssetConfig& battery = c.assets[1];
    EXPECT_EQ(battery.type, "battery");
    EXPECT_EQ(*battery.options.find("port")->as_integer(), 502);
    EXPECT_EQ(c.find_asset("ast_batt_001"), &battery);
    EXPECT_EQ(c.find_adapter("modbus"), &c.adapters[1]);

    const RegisterMapConfig* map = c.find_register_map("generic_battery");
    ASSERT_NE(map, nullptr);
    EXPECT_TRUE(map->defined_in_site_file);
    EXPECT_EQ(map->source_file, path);
    std::vector<std::string> points;
    for (const auto& [key, value] : map->table.entries()) points.push_back(key);
    EXPECT_THAT(points, ElementsAre("power_setpoint", "soc", "active_power"));
    const auto* soc = map->table.find("soc")->as_table();
    ASSERT_NE(soc, nullptr);
    EXPECT_EQ(*soc->find("table")->as_string(), "input");
    EXPECT_EQ(soc->find("scale")->where().str(), path + ":56:52");

    EXPECT_EQ(c.asset_map, (std::map<std::string, std::string>{{"ev_001", "ast_charger_bay_1"},
                                                               {"battery", "ast_batt_001"}}));
}

TEST(SiteLoader, UnknownKeySuggestsTheClosest) {
    EXPECT_THAT(
        errors_of(with_site("[api]\nlisen = \"127.0.0.1:1\"\n")),
        ElementsAre("site.toml:4:1: unknown key 'lisen' in [api] (did you mean 'listen'?)"));
    EXPECT_THAT(errors_of(with_site("[engine]\nflux = 1\n")),
                ElementsAre("site.toml:4:1: unknown key 'flux' in [engine]"));
}

TEST(SiteLoader, UnknownTableSuggestsTheClosest) {
    EXPECT_THAT(errors_of(with_site("[engin]\nmax_retries = 1\n")),
                ElementsAre("site.toml:3:2: unknown table [engin] (did you mean [engine]?)"));
    EXPECT_THAT(errors_of("colour = 1\n" + std::string(kSite)),
                ElementsAre("site.toml:1:1: unknown key 'colour'"));
    EXPECT_THAT(errors_of("sites = 1\n" + std::string(kSite)),
                ElementsAre("site.toml:1:1: unknown key 'sites' (did you mean 'site'?)"));
}

TEST(SiteLoader, WrongTypeIsReportedAtTheKey) {
    EXPECT_THAT(errors_of("[site]\n  name = true\n"),
                ElementsAre("site.toml:2:3: 'name' must be a string, not a boolean"));
    EXPECT_THAT(errors_of(with_site("[engine]\ntimeout_seconds = \"30\"\n")),
                ElementsAre("site.toml:4:1: 'timeout_seconds' must be a float, not a string"));
    EXPECT_THAT(errors_of("api = \"127.0.0.1:80\"\n" + std::string(kSite)),
                ElementsAre("site.toml:1:1: 'api' must be a table ([api]), not a string"));
    EXPECT_THAT(errors_of(with_site("[plugins]\ndirs = [\"/opt/p\", 7]\n")),
                ElementsAre("site.toml:4:19: each entry of 'dirs' must be a string (a folder), "
                            "not an integer"));
}

TEST(SiteLoader, OutOfRangeValuesAreRefused) {
    EXPECT_THAT(errors_of(with_site("[engine]\nmax_retries = -1\n")),
                ElementsAre("site.toml:4:1: 'max_retries' must be from 0 to 100, got -1"));
    EXPECT_THAT(errors_of(with_site("[engine]\ntimeout_seconds = 0\n")),
                ElementsAre("site.toml:4:1: 'timeout_seconds' must be greater than 0 and at most "
                            "86400, got 0"));
    EXPECT_THAT(errors_of(with_site("[engine]\nretry_backoff_seconds = -0.5\n")),
                ElementsAre("site.toml:4:1: 'retry_backoff_seconds' must be from 0 to 86400, got "
                            "-0.5"));
    EXPECT_THAT(errors_of(with_site("[engine]\ntimeout_seconds = nan\n")),
                ElementsAre("site.toml:4:1: 'timeout_seconds' must be a finite number"));
    EXPECT_THAT(errors_of(with_site("[api]\nbody_limit_bytes = 10\n")),
                ElementsAre("site.toml:4:1: 'body_limit_bytes' must be from 1024 to 1073741824, "
                            "got 10"));
}

TEST(SiteLoader, BackoffCeilingMayNotBeBelowTheBackoff) {
    EXPECT_THAT(errors_of(with_site("[engine]\nretry_backoff_seconds = 10\n"
                                    "max_retry_backoff_seconds = 2\n")),
                ElementsAre("site.toml:5:1: 'max_retry_backoff_seconds' (2) must not be less than "
                            "'retry_backoff_seconds' (10)"));
}

// ARCHITECTURE.md's [engine] has no ceiling: a backoff above the default
// ceiling (300) raises it instead of refusing the file.
TEST(SiteLoader, UnwrittenBackoffCeilingFollowsALongerBackoff) {
    auto result = parse(with_site("[engine]\nretry_backoff_seconds = 600\n"));
    ASSERT_TRUE(result.ok()) << ::testing::PrintToString(lines(result.errors));
    EXPECT_DOUBLE_EQ(result.config->engine.retry_backoff_seconds, 600.0);
    EXPECT_DOUBLE_EQ(result.config->engine.max_retry_backoff_seconds, 600.0);
}

TEST(SiteLoader, ListenAddressMustBeHostColonPort) {
    EXPECT_THAT(errors_of(with_site("[api]\nlisten = \"localhost\"\n")),
                ElementsAre("site.toml:4:1: 'listen' must be \"HOST:PORT\": the port is missing; "
                            "got \"localhost\""));
    EXPECT_THAT(errors_of(with_site("[api]\nlisten = \"::1:80\"\n")),
                ElementsAre(HasSubstr("an IPv6 address is written in brackets")));
    EXPECT_THAT(errors_of(with_site("[api]\nlisten = \"0.0.0.0:70000\"\n")),
                ElementsAre(HasSubstr("the port must be a number from 0 to 65535")));
    EXPECT_THAT(errors_of(with_site("[api]\nlisten = \":80\"\n")),
                ElementsAre(HasSubstr("the host is missing")));
    EXPECT_THAT(errors_of(with_site("[api]\nlisten = \"\"\n")),
                ElementsAre("site.toml:4:1: 'listen' must not be empty"));
}

TEST(SiteLoader, ParseListenAddress) {
    EXPECT_EQ(parse_listen_address("0.0.0.0:9000"), (ListenAddress{"0.0.0.0", 9000}));
    EXPECT_EQ(parse_listen_address("gw.example:443"), (ListenAddress{"gw.example", 443}));
    EXPECT_EQ(parse_listen_address("[fe80::1]:8080"), (ListenAddress{"fe80::1", 8080}));
    std::string why;
    EXPECT_FALSE(parse_listen_address("[::1]8080", &why));
    EXPECT_EQ(why, "the port is missing");
    EXPECT_FALSE(parse_listen_address("[::1:80", &why));
    EXPECT_FALSE(parse_listen_address("host:80x", &why));
    EXPECT_FALSE(parse_listen_address("host:-1", &why));
}

TEST(SiteLoader, EmptyTokenIsRefused) {
    EXPECT_THAT(errors_of(with_site("[api]\ntoken = \"\"\n")),
                ElementsAre("site.toml:4:1: 'token' must not be empty (leave the key out to turn "
                            "authentication off)"));
}

TEST(SiteLoader, SiteTableAndNameAreRequired) {
    EXPECT_THAT(errors_of("[api]\nlisten = \"127.0.0.1:1\"\n"),
                ElementsAre("site.toml:1:1: missing required table [site] (with name = \"...\")"));
    EXPECT_THAT(errors_of("\n[site]\n"),
                ElementsAre("site.toml:2:1: missing required key 'name' in [site]"));
    EXPECT_THAT(errors_of("[site]\nname = \"\"\n"),
                ElementsAre("site.toml:2:1: 'name' must not be empty"));
}

TEST(SiteLoader, DuplicateAssetIdIsReportedAtTheSecondOccurrence) {
    auto text = with_site(R"(
[adapters.modbus]
plugin = "modbus_tcp"

[[assets]]
id = "ast_batt_001"
type = "battery"
adapter = "modbus"

[[assets]]
type = "battery"
  id = "ast_batt_001"
adapter = "modbus"
)");
    EXPECT_THAT(errors_of(text), ElementsAre("site.toml:14:3: duplicate asset id 'ast_batt_001' "
                                             "(first defined at site.toml:8:1)"));
}

TEST(SiteLoader, AssetHostKeysAreRequiredAndTyped) {
    auto text = with_site(R"(
[adapters.modbus]
plugin = "modbus_tcp"

[[assets]]
type = 5
adapter = "modbus"
)");
    EXPECT_THAT(errors_of(text),
                ElementsAre("site.toml:7:1: missing required key 'id' in [[assets]]",
                            StartsWith("site.toml:8:1: 'type' must be a string, not ")));
}

TEST(SiteLoader, AssetTypeIsAKindWord) {
    auto text = with_site(R"(
[adapters.v]
plugin = "vendor"
[[assets]]
id = "a"
type = "Battery"
adapter = "v"
[[assets]]
id = "b"
type = "heat_pump"   # a vendor plugin's kind is fine
adapter = "v"
)");
    EXPECT_THAT(errors_of(text),
                ElementsAre("site.toml:8:1: 'type' must be \"ev_charger\", \"battery\" or a "
                            "plugin's asset kind (lowercase letters, digits and '_'); got "
                            "\"Battery\""));
}

TEST(SiteLoader, AssetNamingAnUndefinedAdapter) {
    auto text = with_site(R"(
[adapters.modbus]
plugin = "modbus_tcp"

[[assets]]
id = "ast_batt_001"
type = "battery"
adapter = "modbsu"
)");
    EXPECT_THAT(errors_of(text),
                ElementsAre("site.toml:10:1: asset 'ast_batt_001' names adapter 'modbsu', which "
                            "is not defined (did you mean 'modbus'?)"));
    auto no_adapters = with_site("[[assets]]\nid = \"a\"\ntype = \"battery\"\nadapter = \"m\"\n");
    EXPECT_THAT(errors_of(no_adapters),
                ElementsAre("site.toml:6:1: asset 'a' names adapter 'm', which is not defined "
                            "(add an [adapters.m] table)"));
}

TEST(SiteLoader, AdapterNeedsAPlugin) {
    EXPECT_THAT(errors_of(with_site("\n[adapters.ocpp]\nlisten = \"0.0.0.0:9000\"\n")),
                ElementsAre("site.toml:4:1: missing required key 'plugin' in [adapters.ocpp]"));
    EXPECT_THAT(errors_of(with_site("[adapters.ocpp]\nplugin = 16\n")),
                ElementsAre(StartsWith("site.toml:4:1: 'plugin' must be a string, not ")));
    EXPECT_THAT(errors_of(with_site("[adapters]\nocpp = \"ocpp16\"\n")),
                ElementsAre("site.toml:4:1: adapter 'ocpp' must be a table ([adapters.ocpp]), "
                            "not a string"));
}

TEST(SiteLoader, DuplicateChargePointIdOnOneAdapter) {
    auto text = with_site(R"(
[adapters.ocpp]
plugin = "ocpp16"
[adapters.ocpp_b]
plugin = "ocpp16"

[[assets]]
id = "bay_1"
type = "ev_charger"
adapter = "ocpp"
charge_point_id = "CP001"

[[assets]]
id = "bay_2"
type = "ev_charger"
adapter = "ocpp_b"
charge_point_id = "CP001"   # another server: no clash

[[assets]]
id = "bay_3"
type = "ev_charger"
adapter = "ocpp"
charge_point_id = "CP001"
)");
    EXPECT_THAT(errors_of(text),
                ElementsAre("site.toml:25:1: duplicate charge_point_id 'CP001' on adapter 'ocpp' "
                            "(first used by asset 'bay_1' at site.toml:13:1)"));
}

TEST(SiteLoader, AssetsMustBeAnArrayOfTables) {
    EXPECT_THAT(errors_of(with_site("[assets]\nid = \"a\"\n")),
                ElementsAre("site.toml:3:2: 'assets' must be an array of tables: write each entry "
                            "as [[assets]]"));
    EXPECT_THAT(errors_of("assets = [1]\n" + std::string(kSite)),
                ElementsAre("site.toml:1:11: each entry of 'assets' must be a table ([[assets]]), "
                            "not an integer"));
}

TEST(SiteLoader, AssetMapEntriesNameKnownAssets) {
    auto text = with_site(R"(
[adapters.modbus]
plugin = "modbus_tcp"
[[assets]]
id = "ast_batt_001"
type = "battery"
adapter = "modbus"

[schedule.asset_map]
battery = "ast_bat_001"
ev_001 = 7
battery_2 = "ast_batt_001"
ev_002 = ""
)");
    EXPECT_THAT(errors_of(text),
                ElementsAre("site.toml:12:1: asset_map entry 'battery' names unknown asset "
                            "'ast_bat_001' (did you mean 'ast_batt_001'?)",
                            "site.toml:13:1: asset_map entry 'ev_001' must be a string (an asset "
                            "id), not an integer",
                            "site.toml:15:1: asset_map entry 'ev_002' must name an asset"));
    EXPECT_THAT(errors_of(with_site("[schedule]\nasset_mpa = {}\n")),
                ElementsAre("site.toml:4:1: unknown key 'asset_mpa' in [schedule] (did you mean "
                            "'asset_map'?)"));
}

TEST(SiteLoader, RegisterMapMustExist) {
    TemporaryFolder dir;
    LoadOptions options{.register_map_dirs = {dir.path()}};
    write_file(dir.path() / "sunspec_battery.toml", "soc = { address = 1, type = \"uint16\" }\n");
    auto text = with_site(R"(
[adapters.modbus]
plugin = "modbus_tcp"
[[assets]]
id = "ast_batt_001"
type = "battery"
adapter = "modbus"
register_map = "sunspec_batery"
)");
    EXPECT_THAT(errors_of(text, options),
                ElementsAre("site.toml:10:1: asset 'ast_batt_001' names register map "
                            "'sunspec_batery', which is neither defined in [register_maps] nor a "
                            "file sunspec_batery.toml in " +
                            dir.path().string() + " (did you mean 'sunspec_battery'?)"));
    EXPECT_THAT(errors_of(text), ElementsAre(HasSubstr("(no register map folder is configured)")));
}

TEST(SiteLoader, RegisterMapIsLoadedFromTheFirstFolderThatHasIt) {
    TemporaryFolder first;
    TemporaryFolder second;
    write_file(second.path() / "vendor_x.toml",
               "# a vendor's map\nsoc = { address = 10, type = \"uint16\", table = \"input\" }\n");
    LoadOptions options{.register_map_dirs = {first.path(), second.path()}};
    auto text = with_site(R"(
[adapters.modbus]
plugin = "modbus_tcp"
[[assets]]
id = "b1"
type = "battery"
adapter = "modbus"
register_map = "vendor_x"
[[assets]]
id = "b2"
type = "battery"
adapter = "modbus"
register_map = "vendor_x"
)");
    auto result = parse(text, options);
    ASSERT_TRUE(result.ok()) << ::testing::PrintToString(lines(result.errors));
    const RegisterMapConfig* map = result.config->find_register_map("vendor_x");
    ASSERT_NE(map, nullptr);
    std::string file = (second.path() / "vendor_x.toml").string();
    EXPECT_FALSE(map->defined_in_site_file);
    EXPECT_EQ(map->source_file, file);
    ASSERT_NE(map->table.find("soc"), nullptr);
    EXPECT_EQ(map->table.find("soc")->where().str(), file + ":2:1");
}

TEST(SiteLoader, InlineRegisterMapWinsOverAFile) {
    TemporaryFolder dir;
    write_file(dir.path() / "m.toml", "this is not TOML\n");
    auto text = with_site(R"(
[adapters.modbus]
plugin = "modbus_tcp"
[[assets]]
id = "b1"
type = "battery"
adapter = "modbus"
register_map = "m"
[register_maps.m]
soc = { address = 1, type = "uint16" }
)");
    auto result = parse(text, {.register_map_dirs = {dir.path()}});
    ASSERT_TRUE(result.ok()) << ::testing::PrintToString(lines(result.errors));
    EXPECT_TRUE(result.config->find_register_map("m")->defined_in_site_file);
}

TEST(SiteLoader, BrokenRegisterMapFileIsReportedInThatFile) {
    TemporaryFolder dir;
    write_file(dir.path() / "broken.toml", "soc = { address = 1,\n");
    auto text = with_site(R"(
[adapters.modbus]
plugin = "modbus_tcp"
[[assets]]
id = "b1"
type = "battery"
adapter = "modbus"
register_map = "broken"
[[assets]]
id = "b2"
type = "battery"
adapter = "modbs"
register_map = "broken"
)");
    auto errors = errors_of(text, {.register_map_dirs = {dir.path()}});
    // The site file's own errors first, then the map file's, reported once.
    ASSERT_EQ(errors.size(), 2u);
    EXPECT_THAT(errors[0], StartsWith("site.toml:14:1: asset 'b2' names adapter 'modbs'"));
    EXPECT_THAT(errors[1], StartsWith((dir.path() / "broken.toml").string() + ":1:"));
    EXPECT_THAT(errors[1], HasSubstr("invalid TOML: "));
}

TEST(SiteLoader, RegisterMapNameThatIsNoFileName) {
    TemporaryFolder dir;
    auto text = with_site(R"(
[adapters.modbus]
plugin = "modbus_tcp"
[[assets]]
id = "b1"
type = "battery"
adapter = "modbus"
register_map = "../../etc/passwd"
)");
    EXPECT_THAT(errors_of(text, {.register_map_dirs = {dir.path()}}),
                ElementsAre("site.toml:10:1: asset 'b1' names register map '../../etc/passwd', "
                            "which [register_maps] does not define (a map kept in a file has a "
                            "name of letters, digits, '_', '-' and '.')"));
}

TEST(SiteLoader, RegisterMapsAreTables) {
    EXPECT_THAT(errors_of(with_site("[register_maps]\ngeneric = 5\n")),
                ElementsAre("site.toml:4:1: register map 'generic' must be a table "
                            "([register_maps.generic]), not an integer"));
}

TEST(SiteLoader, SyntaxErrorIsReportedAloneWithItsPosition) {
    auto result = parse("[site]\nname = \"x\"\nflux = \n[engine]\nmax_retries = -1\n");
    EXPECT_FALSE(result.ok());
    ASSERT_EQ(result.errors.size(), 1u);
    EXPECT_THAT(result.errors[0].str(), StartsWith("site.toml:3:8: invalid TOML: "));
}

TEST(SiteLoader, TomlDuplicateKeyIsReportedAtTheSecond) {
    auto errors = errors_of("[site]\nname = \"a\"\nname = \"b\"\n");
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_THAT(errors[0], StartsWith("site.toml:3:"));
    EXPECT_THAT(errors[0], HasSubstr("'name'"));
}

TEST(SiteLoader, DatesAreNoSetting) {
    EXPECT_THAT(errors_of("[site]\nname = 1979-05-27\n"),
                ElementsAre("site.toml:1:1: missing required key 'name' in [site]",
                            "site.toml:2:1: 'name' is a date or time, which no setting accepts"));
}

TEST(SiteLoader, EveryErrorOfTheFileIsReportedInFileOrder) {
    auto text = R"([schedule.asset_map]
ev_001 = "nobody"

[site]
name = 3

[engine]
max_retries = -2
timout_seconds = 5

[adapters.ocpp]
listen = "0.0.0.0:9000"

[[assets]]
id = "a"
type = "ev_charger"
adapter = "ocp"

[[assets]]
id = "a"
type = "ev_charger"
adapter = "ocpp"
)";
    EXPECT_THAT(
        errors_of(text),
        ElementsAre("site.toml:2:1: asset_map entry 'ev_001' names unknown asset 'nobody'",
                    StartsWith("site.toml:5:1: 'name' must be a string, not "),
                    "site.toml:8:1: 'max_retries' must be from 0 to 100, got -2",
                    "site.toml:9:1: unknown key 'timout_seconds' in [engine] (did you mean "
                    "'timeout_seconds'?)",
                    "site.toml:11:1: missing required key 'plugin' in [adapters.ocpp]",
                    "site.toml:17:1: asset 'a' names adapter 'ocp', which is not defined (did you "
                    "mean 'ocpp'?)",
                    "site.toml:20:1: duplicate asset id 'a' (first defined at site.toml:15:1)"));
}

TEST(SiteLoader, FileIsNamedAsGiven) {
    TemporaryFolder dir;
    std::filesystem::create_directories(dir.path() / "sub");
    write_file(dir.path() / "site.toml", "[site]\nname = \"x\"\n[api]\nport = 1\n");
    std::string as_given = dir.path().string() + "/sub/../site.toml";
    auto result = load_site_file(as_given, {});
    EXPECT_THAT(lines(result.errors), ElementsAre(as_given + ":4:1: unknown key 'port' in [api]"));
}

TEST(SiteLoader, MissingFileIsAnError) {
    TemporaryFolder dir;
    std::string path = (dir.path() / "nope.toml").string();
    auto result = load_site_file(path, {});
    EXPECT_FALSE(result.ok());
    EXPECT_THAT(lines(result.errors),
                ElementsAre(path + ": cannot read the file: No such file or directory"));
    EXPECT_THAT(lines(load_site_file(dir.path().string(), {}).errors),
                ElementsAre(dir.path().string() + ": cannot read the file: it is a directory"));
}

TEST(SiteLoader, PluginFoldersAreRelativeToTheSiteFile) {
    auto result = parse_site(with_site("[plugins]\ndirs = [\"plugins\", \"/opt/vendor\"]\n"),
                             "/etc/gridgate/site.toml", {});
    ASSERT_TRUE(result.ok()) << ::testing::PrintToString(lines(result.errors));
    EXPECT_THAT(result.config->plugins.dirs,
                ElementsAre(std::filesystem::path("/etc/gridgate/plugins"),
                            std::filesystem::path("/opt/vendor")));
    EXPECT_THAT(errors_of(with_site("[plugins]\ndirs = [\"\"]\n")),
                ElementsAre("site.toml:4:9: an entry of 'dirs' is empty"));
}

TEST(SiteLoader, DefaultRegisterMapFolders) {
    auto dirs = default_register_map_dirs("/opt/gg/bin/gridgate");
    ASSERT_EQ(dirs.size(), 2u);
    EXPECT_EQ(dirs[0], std::filesystem::path("/opt/gg/share/gridgate/register_maps"));
    EXPECT_EQ(dirs[1].filename(), "register_maps");
    EXPECT_EQ(dirs[1].parent_path().filename(), "config");
}

TEST(SiteLoader, SortPutsThePrimaryFileFirst) {
    std::vector<gridgate::sdk::ConfigDiagnostic> d = {
        {{"/a/map.toml", 1, 1}, "m"},
        {{"site.toml", 9, 2}, "late"},
        {{"site.toml", 9, 1}, "early"},
        {{"site.toml", 2, 5}, "first"},
    };
    sort_diagnostics(d, "site.toml");
    EXPECT_THAT(lines(d), ElementsAre("site.toml:2:5: first", "site.toml:9:1: early",
                                      "site.toml:9:2: late", "/a/map.toml:1:1: m"));
}
