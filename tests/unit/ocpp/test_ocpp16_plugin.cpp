// The ocpp16 plugin as the gateway uses it: the real .so through the real
// loader and registry, against simulated chargers over 127.0.0.1.
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "gridgate/gateway/adapter_registry.hpp"
#include "gridgate/gateway/plugin_loader.hpp"
#include "gridgate/ocpp/datetime.hpp"
#include "gridgate/sim/charger_fleet.hpp"
#include "ocpp_test_support.hpp"

namespace gridgate {
namespace {

using namespace std::chrono_literals;
using ocpp::test::parse;
using ocpp::test::wait_until;

sdk::ConfigValue value(sdk::ConfigValue::Storage v, int line, int column = 8) {
    return {std::move(v), {"site.toml", line, column}};
}

struct Charger {
    std::string asset_id;
    std::string identity;
    std::vector<std::pair<std::string, sdk::ConfigValue::Storage>> keys;
};

sdk::AdapterConfig site(std::vector<Charger> chargers,
                        std::vector<std::pair<std::string, sdk::ConfigValue::Storage>> keys = {}) {
    sdk::AdapterConfig c{"ocpp", "ocpp16", sdk::ConfigTable({"site.toml", 5, 1}), {}, {}};
    c.table.add("listen", value(std::string("127.0.0.1:0"), 6));
    int line = 7;
    for (auto& [k, v] : keys) c.table.add(k, value(std::move(v), line++));
    line = 20;
    for (auto& ch : chargers) {
        sdk::AssetConfig a{ch.asset_id, "ev_charger", sdk::ConfigTable({"site.toml", line++, 1})};
        a.table.add("charge_point_id", value(ch.identity, line++));
        for (auto& [k, v] : ch.keys) a.table.add(k, value(std::move(v), line++));
        c.assets.push_back(std::move(a));
        line += 2;
    }
    return c;
}

sdk::Command command(std::string asset, sdk::CommandType type) {
    sdk::Command c;
    c.command_id = sdk::CommandId{42};
    c.asset_id = std::move(asset);
    c.command_type = type;
    return c;
}

sdk::Command power(std::string asset, sdk::CommandType type, double kw) {
    auto c = command(std::move(asset), type);
    c.parameters.power_kw = kw;
    return c;
}

sdk::CommandResult run(const gateway::AdapterRegistry& registry, const sdk::Command& c) {
    std::mutex mutex;
    std::condition_variable cv;
    std::optional<sdk::CommandResult> result;
    registry.dispatch(c, sdk::Completion([&](sdk::CommandResult r) {
                          std::lock_guard lock(mutex);
                          result = std::move(r);
                          cv.notify_all();
                      }));
    std::unique_lock lock(mutex);
    if (!cv.wait_for(lock, 5s, [&] { return result.has_value(); }))
        return sdk::CommandResult::failure("test: no completion");
    return *result;
}

struct Host {
    std::mutex mutex;
    std::vector<sdk::AssetEvent> events;
    std::vector<std::string> log;
    std::vector<sdk::LogLevel> levels;  // of each line in `log`

    gateway::HostHooks hooks() {
        return {[this](sdk::LogLevel level, std::string_view, std::string_view text) {
                    std::lock_guard lock(mutex);
                    log.emplace_back(text);
                    levels.push_back(level);
                },
                sdk::LogLevel::Info,
                [this](std::string_view, sdk::AssetEvent e) {
                    std::lock_guard lock(mutex);
                    events.push_back(std::move(e));
                }};
    }
    std::size_t count(sdk::AssetEventType type, std::string_view asset) {
        std::lock_guard lock(mutex);
        std::size_t n = 0;
        for (const auto& e : events) n += e.type == type && e.asset_id == asset;
        return n;
    }
    std::optional<sdk::AssetEvent> last(sdk::AssetEventType type) {
        std::lock_guard lock(mutex);
        for (auto it = events.rbegin(); it != events.rend(); ++it)
            if (it->type == type) return *it;
        return std::nullopt;
    }
    bool logged(std::string_view needle) {
        std::lock_guard lock(mutex);
        for (const auto& l : log)
            if (l.find(needle) != std::string::npos) return true;
        return false;
    }
    bool logged(sdk::LogLevel level, std::string_view needle) {
        std::lock_guard lock(mutex);
        for (std::size_t i = 0; i < log.size(); ++i)
            if (levels[i] == level && log[i].find(needle) != std::string::npos) return true;
        return false;
    }
    // The id of the transaction the adapter last logged as started.
    std::optional<int> last_started_transaction() {
        std::lock_guard lock(mutex);
        for (auto it = log.rbegin(); it != log.rend(); ++it) {
            // "CP1: transaction 42 started on connector 1"
            const auto at = it->find(": transaction ");
            if (at == std::string::npos || it->find(" started on ") == std::string::npos) continue;
            return std::stoi(it->substr(at + 14));
        }
        return std::nullopt;
    }
    // The port the central system reported it listens on.
    std::uint16_t port() {
        std::lock_guard lock(mutex);
        for (const auto& l : log) {
            // "... listening on ws://HOST:PORT/ocpp/<charge_point_id>, ..."
            if (l.find("listening on ") == std::string::npos) continue;
            const auto path = l.find('/', l.find("://") + 3);
            const auto colon = l.rfind(':', path);
            if (path != std::string::npos && colon != std::string::npos)
                return static_cast<std::uint16_t>(std::stoi(l.substr(colon + 1)));
        }
        return 0;
    }
};

// A fleet of simulated chargers on its own thread, recording every CALL.
class Fleet {
  public:
    Fleet(std::uint16_t port, std::vector<sim::ChargerOptions> chargers, std::string ca_file = {}) {
        sim::FleetOptions options;
        options.port = port;
        options.tls = !ca_file.empty();
        options.ca_file = std::move(ca_file);
        options.reconnect_delay = 50ms;
        fleet_ = std::make_unique<sim::ChargerFleet>(io_, options, std::move(chargers),
                                                     [this](const sim::SimEvent& e) {
                                                         std::lock_guard lock(mutex_);
                                                         events_.push_back(e);
                                                     });
        fleet_->start();
        thread_ = std::thread([this] { io_.run(); });
    }
    ~Fleet() { stop(); }
    void stop() {
        if (!thread_.joinable()) return;
        fleet_->stop();
        // Let the closes go out, so the central system sees them at once.
        wait_until([&] { return fleet_->connected_count() == 0; }, 2s);
        io_.stop();
        thread_.join();
    }
    sim::ChargerFleet& operator*() { return *fleet_; }
    sim::ChargerFleet* operator->() { return fleet_.get(); }

    // The payloads of `action` calls `identity` received, oldest first.
    std::vector<std::string> calls(std::string_view identity, std::string_view action) {
        std::lock_guard lock(mutex_);
        std::vector<std::string> out;
        for (const auto& e : events_)
            if (e.identity == identity && e.kind == "call" && e.action == action)
                out.push_back(e.payload);
        return out;
    }
    // The details of `kind` events of `identity`, oldest first.
    std::vector<std::string> details(std::string_view identity, std::string_view kind) {
        std::lock_guard lock(mutex_);
        std::vector<std::string> out;
        for (const auto& e : events_)
            if (e.identity == identity && e.kind == kind) out.push_back(e.detail);
        return out;
    }
    bool saw(std::string_view identity, std::string_view kind) { return count(identity, kind) > 0; }
    std::size_t count(std::string_view identity, std::string_view kind) {
        std::lock_guard lock(mutex_);
        std::size_t n = 0;
        for (const auto& e : events_)
            if (e.identity == identity && e.kind == kind) ++n;
        return n;
    }

  private:
    boost::asio::io_context io_;
    std::unique_ptr<sim::ChargerFleet> fleet_;
    std::thread thread_;
    std::mutex mutex_;
    std::vector<sim::SimEvent> events_;
};

sim::ChargerOptions charger(std::string identity) {
    sim::ChargerOptions o;
    o.identity = std::move(identity);
    return o;
}

std::string purpose_of(const rapidjson::Document& request) {
    return request["csChargingProfiles"]["chargingProfilePurpose"].GetString();
}
double limit_of(const rapidjson::Document& request) {
    return request["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"]
        .GetDouble();
}
std::optional<int> transaction_of(const rapidjson::Document& request) {
    const auto& profile = request["csChargingProfiles"];
    if (!profile.HasMember("transactionId")) return std::nullopt;
    return profile["transactionId"].GetInt();
}

// A charger driven frame by frame: the next CALL of `action` it receives,
// or nullopt when none comes (other frames are skipped).
std::optional<rapidjson::Document> next_call(ocpp::test::TestClient& client,
                                             std::string_view action) {
    while (auto text = client.next()) {
        auto message = parse(*text);
        if (message.IsArray() && message.Size() == 4 && message[0U].IsInt() &&
            message[0U].GetInt() == 2 && message[2].IsString() &&
            std::string_view(message[2].GetString()) == action) {
            return message;
        }
    }
    return std::nullopt;
}
void answer(ocpp::test::TestClient& client, const rapidjson::Document& call,
            std::string_view payload) {
    client.send(std::string(R"([3,")") + call[1].GetString() + R"(",)" + std::string(payload) +
                "]");
}
std::unique_ptr<ocpp::test::TestClient> connect(std::uint16_t port, std::string identity) {
    ocpp::test::ClientOptions options;
    options.target = "/ocpp/" + identity;
    return std::make_unique<ocpp::test::TestClient>(port, std::move(options));
}
constexpr std::string_view kBoot =
    R"([2,"b1","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}])";
constexpr std::string_view kAvailable =
    R"([2,"s1","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Available"}])";
constexpr std::string_view kPowerUnit =
    R"({"configurationKey":[{"key":"ChargingScheduleAllowedChargingRateUnit","readonly":true,"value":"Power"}]})";

std::string now_text() {
    return ocpp::format_timestamp(
        std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now()));
}

class Ocpp16Plugin : public ::testing::Test {
  protected:
    void SetUp() override {
        const auto& report = catalog.load_file(GRIDGATE_OCPP16_PLUGIN);
        ASSERT_TRUE(report.loaded) << report.reason;
        plugin = catalog.find_shared("ocpp16");
        ASSERT_TRUE(plugin);
    }
    void TearDown() override { registry.clear(); }

    // Adds and starts the adapter; returns its port.
    std::uint16_t start(sdk::AdapterConfig config) {
        auto errors = registry.add(plugin, std::move(config), host.hooks());
        EXPECT_TRUE(errors.empty()) << errors.front();
        auto status = registry.start();
        EXPECT_TRUE(status) << status.message();
        return host.port();
    }

    // Starts a site of one charger, CP1 (asset ast_ev_001, with `keys`), and
    // gives it a charge rate of 4 kW while it is away: the command fails, the
    // setpoint is kept for when it comes. Returns the port.
    std::uint16_t start_with_a_kept_setpoint(
        std::vector<std::pair<std::string, sdk::ConfigValue::Storage>> keys = {}) {
        const auto port = start(site({{"ast_ev_001", "CP1", std::move(keys)}}));
        EXPECT_EQ(run(registry, power("ast_ev_001", sdk::CommandType::SetChargeRate, 4)).error,
                  "not connected");
        return port;
    }

    gateway::PluginCatalog catalog;
    std::shared_ptr<const gateway::LoadedPlugin> plugin;
    gateway::AdapterRegistry registry;
    Host host;
};

TEST_F(Ocpp16Plugin, DeclaresWhatItCarries) {
    EXPECT_TRUE(plugin->can_carry(sdk::CommandType::SetChargeRate));
    EXPECT_TRUE(plugin->can_carry(sdk::CommandType::StartCharging));
    EXPECT_FALSE(plugin->can_carry(sdk::CommandType::SetDischargeRate));
    EXPECT_FALSE(plugin->can_carry(sdk::CommandType::SetSocTarget));
}

TEST_F(Ocpp16Plugin, RefusesBadKeysAtTheirPlace) {
    auto typo =
        site({{"ast_ev_001", "CP1", {}}}, {{"heartbeat_interval_second", std::int64_t{60}}});
    auto errors = registry.add(plugin, typo, host.hooks());
    ASSERT_EQ(errors.size(), 1U);
    EXPECT_EQ(errors[0],
              "site.toml:7:8: unknown key 'heartbeat_interval_second' in [adapters.ocpp] (did you "
              "mean 'heartbeat_interval_seconds'?)");

    auto tls = site({{"ast_ev_001", "CP1", {{"password", std::string("pw")}}}},
                    {{"security_profile", std::int64_t{2}},
                     {"tls_certificate", std::string("/nonexistent/cert.pem")}});
    errors = registry.add(plugin, tls, host.hooks());
    ASSERT_EQ(errors.size(), 1U);
    EXPECT_EQ(errors[0], "site.toml:5:1: security_profile 2 needs 'tls_private_key'");
    tls.table.add("tls_private_key", value(std::string("/nonexistent/key.pem"), 9));
    errors = registry.add(plugin, tls, host.hooks());
    ASSERT_EQ(errors.size(), 1U);
    EXPECT_EQ(errors[0],
              "site.toml:8:8: 'tls_certificate': /nonexistent/cert.pem: No such file or directory");

    auto no_password = site({{"ast_ev_001", "CP1", {}}}, {{"security_profile", std::int64_t{1}}});
    errors = registry.add(plugin, no_password, host.hooks());
    ASSERT_EQ(errors.size(), 1U);
    EXPECT_EQ(errors[0],
              "site.toml:20:1: asset 'ast_ev_001': security_profile 1 needs the charger's "
              "'password'");

    auto no_threads = site({{"ast_ev_001", "CP1", {}}}, {{"io_threads", std::int64_t{0}}});
    errors = registry.add(plugin, no_threads, host.hooks());
    ASSERT_EQ(errors.size(), 1U);
    EXPECT_EQ(errors[0], "site.toml:7:8: 'io_threads' must be between 1 and 16");

    auto bad_listen = site({{"ast_ev_001", "CP1", {}}});
    bad_listen.table = sdk::ConfigTable({"site.toml", 5, 1});
    bad_listen.table.add("listen", value(std::string("localhost"), 6));
    errors = registry.add(plugin, bad_listen, host.hooks());
    ASSERT_EQ(errors.size(), 1U);
    EXPECT_EQ(errors[0],
              "site.toml:6:8: 'listen' must be \"HOST:PORT\": the port is missing; got "
              "\"localhost\"");
}

// What --check-config must catch because the gateway could not run with it.
TEST_F(Ocpp16Plugin, RefusesWhatWouldFailAtRunTime) {
    auto errors_with = [&](std::vector<std::pair<std::string, sdk::ConfigValue::Storage>> asset,
                           std::vector<std::pair<std::string, sdk::ConfigValue::Storage>> adapter,
                           std::string listen = "127.0.0.1:0") {
        auto config = site({{"ast_ev_001", "CP1", std::move(asset)}}, std::move(adapter));
        sdk::ConfigTable table({"site.toml", 5, 1});
        table.add("listen", value(std::move(listen), 6));
        for (const auto& entry : config.table.entries())
            if (entry.first != "listen") table.add(entry.first, entry.second);
        config.table = std::move(table);
        return registry.add(plugin, config, host.hooks());
    };
    auto errors =
        errors_with({{"password", std::string("")}}, {{"security_profile", std::int64_t{1}}});
    ASSERT_EQ(errors.size(), 1U);
    EXPECT_EQ(errors[0],
              "site.toml:22:8: asset 'ast_ev_001': 'password' must not be empty under "
              "security_profile 1");

    errors = errors_with({{"id_tag", std::string(21, 'T')}},
                         {{"accept_all_id_tags", false},
                          {"id_tags", sdk::ConfigValue::Array{value(std::string("ok"), 8),
                                                              value(std::string(""), 8, 14)}}});
    ASSERT_EQ(errors.size(), 2U);
    EXPECT_EQ(errors[0],
              "site.toml:8:14: an id tag in 'id_tags' must be 1 to 20 characters (OCPP's idTag), "
              "not 0");
    EXPECT_EQ(errors[1],
              "site.toml:22:8: 'id_tag' must be 1 to 20 characters (OCPP's idTag), not 21");

    // Id tags match in any ASCII case: one that repeats another so is a
    // mistake, refused where it repeats.
    errors =
        errors_with({}, {{"accept_all_id_tags", false},
                         {"id_tags", sdk::ConfigValue::Array{value(std::string("TAG1"), 8, 12),
                                                             value(std::string("ok"), 8, 20),
                                                             value(std::string("tag1"), 8, 26)}}});
    ASSERT_EQ(errors.size(), 1U);
    EXPECT_EQ(errors[0],
              "site.toml:8:26: duplicate id tag 'tag1' in 'id_tags' (first as 'TAG1' at "
              "site.toml:8:12; id tags match in any case)");

    errors = errors_with({}, {}, "::1:9000");
    ASSERT_EQ(errors.size(), 1U);
    EXPECT_EQ(errors[0],
              "site.toml:6:8: 'listen' must be \"HOST:PORT\": an IPv6 address is written in "
              "brackets, e.g. [::1]:8080; got \"::1:9000\"");
    errors = errors_with({}, {}, "999.1.1.1:9000");
    ASSERT_EQ(errors.size(), 1U);
    EXPECT_EQ(errors[0],
              "site.toml:6:8: 'listen' must be \"HOST:PORT\": '999.1.1.1' is not an IPv4 "
              "address; got \"999.1.1.1:9000\"");

    ocpp::test::TestCertificate certificate;
    ocpp::test::TestCertificate other;
    errors = errors_with({{"password", std::string("pw")}},
                         {{"security_profile", std::int64_t{2}},
                          {"tls_certificate", certificate.certificate.string()},
                          {"tls_private_key", other.private_key.string()}});
    ASSERT_EQ(errors.size(), 1U);
    EXPECT_EQ(errors[0], "site.toml:9:8: 'tls_private_key': " + other.private_key.string() +
                             ": not the private key of the certificate in " +
                             certificate.certificate.string());
}

TEST_F(Ocpp16Plugin, ListensOnAHostNameAndReadsTlsFilesBesideTheSiteFile) {
    ocpp::test::TestCertificate certificate;
    // The site file sits in the certificate's folder and names its files
    // relative to itself, wherever the gateway was started from.
    const std::string site_file = (certificate.directory / "site.toml").string();
    auto config = site({{"ast_ev_001", "CP1", {{"password", std::string("s3cret")}}}});
    sdk::ConfigTable table({site_file, 5, 1});
    table.add("listen", {std::string("localhost:0"), {site_file, 6, 8}});
    table.add("security_profile", {std::int64_t{2}, {site_file, 7, 8}});
    table.add("tls_certificate", {std::string("cert.pem"), {site_file, 8, 8}});
    table.add("tls_private_key", {std::string("./key.pem"), {site_file, 9, 8}});
    config.table = std::move(table);
    const auto port = start(std::move(config));
    ASSERT_NE(port, 0);
    auto options = charger("CP1");
    options.password = "s3cret";
    Fleet fleet(port, {options}, certificate.certificate.string());
    EXPECT_TRUE(wait_until([&] { return fleet->booted_count() == 1; }));
}

TEST_F(Ocpp16Plugin, ChargeRateArrivesInWattsAndInAmps) {
    const auto port =
        start(site({{"ast_ev_w", "CPW", {}},
                    {"ast_ev_a", "CPA", {{"charging_rate_unit", std::string("A")}}}}));
    Fleet fleet(port, {charger("CPW"), charger("CPA")});
    ASSERT_TRUE(wait_until([&] { return fleet->booted_count() == 2; }));

    const auto before = sdk::Clock::now();
    ASSERT_TRUE(run(registry, power("ast_ev_w", sdk::CommandType::SetChargeRate, 11)).success);
    // The answer counts as the charger's latest sign of life.
    ASSERT_TRUE(registry.state("ast_ev_w")->last_seen);
    EXPECT_GE(*registry.state("ast_ev_w")->last_seen, before);
    auto sent = fleet.calls("CPW", "SetChargingProfile");
    ASSERT_FALSE(sent.empty());
    auto w = parse(sent.back());
    EXPECT_EQ(w["connectorId"].GetInt(), 1);
    const auto& wp = w["csChargingProfiles"];
    EXPECT_STREQ(wp["chargingProfilePurpose"].GetString(), "TxDefaultProfile");
    EXPECT_FALSE(wp.HasMember("transactionId"));
    EXPECT_STREQ(wp["chargingSchedule"]["chargingRateUnit"].GetString(), "W");
    EXPECT_DOUBLE_EQ(wp["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"].GetDouble(),
                     11000.0);

    // 7 kW over 3 x 230 V: 10.144 A, rounded down to 10.1.
    ASSERT_TRUE(run(registry, power("ast_ev_a", sdk::CommandType::SetChargeRate, 7)).success);
    sent = fleet.calls("CPA", "SetChargingProfile");
    ASSERT_FALSE(sent.empty());
    auto a = parse(sent.back());
    const auto& schedule = a["csChargingProfiles"]["chargingSchedule"];
    EXPECT_STREQ(schedule["chargingRateUnit"].GetString(), "A");
    EXPECT_DOUBLE_EQ(schedule["chargingSchedulePeriod"][0]["limit"].GetDouble(), 10.1);
    EXPECT_EQ(schedule["chargingSchedulePeriod"][0]["numberPhases"].GetInt(), 3);

    ASSERT_TRUE(run(registry, power("ast_ev_w", sdk::CommandType::SetPowerLimit, 22)).success);
    auto limit = parse(fleet.calls("CPW", "SetChargingProfile").back());
    EXPECT_EQ(limit["connectorId"].GetInt(), 0);
    EXPECT_STREQ(limit["csChargingProfiles"]["chargingProfilePurpose"].GetString(),
                 "ChargePointMaxProfile");
    EXPECT_FALSE(registry.supports("ast_ev_w", sdk::CommandType::SetDischargeRate));
}

TEST_F(Ocpp16Plugin, ServesChargersFromSeveralIoThreads) {
    const auto port = start(site({{"ast_ev_1", "CP1", {}}, {"ast_ev_2", "CP2", {}}},
                                 {{"io_threads", std::int64_t{2}}}));
    Fleet fleet(port, {charger("CP1"), charger("CP2")});
    ASSERT_TRUE(wait_until([&] { return fleet->booted_count() == 2; }));
    for (int i = 0; i < 20; ++i) {
        const double kw = 5 + i % 7;
        ASSERT_TRUE(run(registry,
                        power(i % 2 ? "ast_ev_1" : "ast_ev_2", sdk::CommandType::SetChargeRate, kw))
                        .success);
    }
    EXPECT_EQ(fleet.calls("CP1", "SetChargingProfile").size(), 10U);
    EXPECT_EQ(fleet.calls("CP2", "SetChargingProfile").size(), 10U);
}

// A charger with several connectors: STOP_CHARGING ends the transaction on
// the connector it names; naming none, the one on the asset's connector or
// else the charger's only one; with several elsewhere it asks to name one.
TEST_F(Ocpp16Plugin, StopChargingFindsTheTransactionToEnd) {
    const auto port = start(site({{"ast_ev_001", "CP1", {}}}));
    auto stop_on = [&](std::optional<int> connector) {
        auto c = command("ast_ev_001", sdk::CommandType::StopCharging);
        c.parameters.connector_id = connector;
        return run(registry, c);
    };
    auto offline = stop_on(std::nullopt);  // before any transaction is known
    EXPECT_FALSE(offline.success);
    EXPECT_EQ(offline.error, "not connected");
    EXPECT_TRUE(offline.retryable);

    auto options = charger("CP1");
    options.connectors = 3;
    options.transaction_connector = 2;
    options.start_transaction = true;
    Fleet fleet(port, {options});
    ASSERT_TRUE(wait_until([&] { return fleet.saw("CP1", "transaction_started"); }));
    auto r = stop_on(1);
    EXPECT_FALSE(r.success);
    EXPECT_EQ(r.error, "no transaction running on connector 1");
    EXPECT_TRUE(fleet.calls("CP1", "RemoteStopTransaction").empty());

    // None on the asset's connector (1): the only one, on connector 2.
    ASSERT_TRUE(stop_on(std::nullopt).success);
    ASSERT_EQ(fleet.calls("CP1", "RemoteStopTransaction").size(), 1U);
    ASSERT_TRUE(wait_until([&] {
        auto none = stop_on(std::nullopt);
        return !none.success && none.error == "no transaction running on the charger";
    }));

    // Two elsewhere: the command must say which.
    for (int connector : {2, 3}) {
        auto start_charging = command("ast_ev_001", sdk::CommandType::StartCharging);
        start_charging.parameters.connector_id = connector;
        ASSERT_TRUE(run(registry, start_charging).success);
    }
    ASSERT_TRUE(wait_until([&] { return fleet.count("CP1", "transaction_started") == 3; }));
    ASSERT_TRUE(wait_until([&] {
        auto several = stop_on(std::nullopt);
        return !several.success &&
               several.error ==
                   "no transaction on connector 1, and transactions run on connectors 2 and 3: "
                   "name one with parameters.connector_id";
    }));
    ASSERT_TRUE(stop_on(3).success);
    auto stopped = parse(fleet.calls("CP1", "RemoteStopTransaction").back());
    // Once the charger reports it stopped, only connector 2's is left.
    ASSERT_TRUE(wait_until([&] { return !stop_on(3).success; }));
    ASSERT_TRUE(stop_on(std::nullopt).success);
    auto last = parse(fleet.calls("CP1", "RemoteStopTransaction").back());
    // Connector 3's started last: it had the higher transaction id.
    EXPECT_LT(last["transactionId"].GetInt(), stopped["transactionId"].GetInt());
}

TEST_F(Ocpp16Plugin, DuringATransactionTxProfileAndRemoteStartStop) {
    const auto port = start(site({{"ast_ev_001", "CP1", {}}}));
    auto options = charger("CP1");
    options.start_transaction = true;
    Fleet fleet(port, {options});
    ASSERT_TRUE(wait_until([&] { return fleet.saw("CP1", "transaction_started"); }));

    ASSERT_TRUE(run(registry, power("ast_ev_001", sdk::CommandType::SetChargeRate, 7)).success);
    auto profile = parse(fleet.calls("CP1", "SetChargingProfile").back());
    const auto& p = profile["csChargingProfiles"];
    EXPECT_STREQ(p["chargingProfilePurpose"].GetString(), "TxProfile");
    ASSERT_TRUE(p.HasMember("transactionId"));
    const int transaction = p["transactionId"].GetInt();

    ASSERT_TRUE(run(registry, command("ast_ev_001", sdk::CommandType::StopCharging)).success);
    auto stop = parse(fleet.calls("CP1", "RemoteStopTransaction").back());
    EXPECT_EQ(stop["transactionId"].GetInt(), transaction);
    // The simulator ends the transaction; with none left STOP has nothing to stop.
    ASSERT_TRUE(wait_until([&] {
        auto r = run(registry, command("ast_ev_001", sdk::CommandType::StopCharging));
        return !r.success && r.error == "no transaction running on the charger";
    }));

    ASSERT_TRUE(run(registry, command("ast_ev_001", sdk::CommandType::StartCharging)).success);
    auto start = parse(fleet.calls("CP1", "RemoteStartTransaction").back());
    EXPECT_STREQ(start["idTag"].GetString(), "gridgate");
    EXPECT_EQ(start["connectorId"].GetInt(), 1);

    auto off = command("ast_ev_001", sdk::CommandType::ChangeAvailability);
    off.parameters.operative = false;
    ASSERT_TRUE(run(registry, off).success);
    auto availability = parse(fleet.calls("CP1", "ChangeAvailability").back());
    EXPECT_STREQ(availability["type"].GetString(), "Inoperative");
    EXPECT_EQ(availability["connectorId"].GetInt(), 1);
}

// A call lasts no longer than its command's timeout: the engine has given
// up by then, and the connection's one slot for calls is free for the retry.
TEST_F(Ocpp16Plugin, ACallEndsWithItsCommandsTimeout) {
    const auto port = start(site({{"ast_ev_001", "CP1", {}}}));  // call timeout: 30 s
    Fleet fleet(port, {charger("CP1")});
    ASSERT_TRUE(wait_until([&] { return fleet->booted_count() == 1; }));
    fleet->set_answer("CP1", {sim::AnswerMode::Kind::Silent, 0ms});
    auto c = power("ast_ev_001", sdk::CommandType::SetChargeRate, 5);
    c.timeout_seconds = 0.3;
    const auto before = std::chrono::steady_clock::now();
    auto silent = run(registry, c);
    EXPECT_EQ(silent.error, "timeout");
    EXPECT_LT(std::chrono::steady_clock::now() - before, 5s);
    fleet->set_answer("CP1", {sim::AnswerMode::Kind::Accept, 0ms});
    EXPECT_TRUE(run(registry, power("ast_ev_001", sdk::CommandType::SetChargeRate, 6)).success);
}

TEST_F(Ocpp16Plugin, RejectionTimeoutAndAbsenceAreFailures) {
    const auto port = start(site({{"ast_ev_001", "CP1", {}}, {"ast_ev_002", "CP2", {}}},
                                 {{"call_timeout_seconds", 0.2}}));
    // Before any charger connects: at once, retryable.
    const auto before = std::chrono::steady_clock::now();
    auto absent = run(registry, power("ast_ev_001", sdk::CommandType::SetChargeRate, 5));
    EXPECT_FALSE(absent.success);
    EXPECT_EQ(absent.error, "not connected");
    EXPECT_TRUE(absent.retryable);
    EXPECT_LT(std::chrono::steady_clock::now() - before, 1s);

    Fleet fleet(port, {charger("CP1"), charger("CP2")});
    ASSERT_TRUE(wait_until([&] { return fleet->booted_count() == 2; }));
    fleet->set_answer("CP1", {sim::AnswerMode::Kind::Reject, 0ms});
    fleet->set_answer("CP2", {sim::AnswerMode::Kind::Silent, 0ms});
    auto rejected = run(registry, power("ast_ev_001", sdk::CommandType::SetChargeRate, 5));
    EXPECT_FALSE(rejected.success);
    EXPECT_EQ(rejected.error, "Rejected");
    EXPECT_TRUE(rejected.retryable);  // chargers often accept the same profile a moment later
    auto silent = run(registry, power("ast_ev_002", sdk::CommandType::SetChargeRate, 5));
    EXPECT_FALSE(silent.success);
    EXPECT_EQ(silent.error, "timeout");
    EXPECT_TRUE(silent.retryable);
    fleet->set_answer("CP1", {sim::AnswerMode::Kind::Invalid, 0ms});
    auto invalid = run(registry, power("ast_ev_001", sdk::CommandType::SetChargeRate, 5));
    EXPECT_FALSE(invalid.success);
    EXPECT_TRUE(invalid.error.starts_with("invalid response: ")) << invalid.error;
    EXPECT_NE(invalid.error.find("chargerSim"), std::string::npos) << invalid.error;
    EXPECT_TRUE(invalid.retryable);  // a firmware glitch may not repeat

    auto negative = run(registry, power("ast_ev_001", sdk::CommandType::SetChargeRate, -1));
    EXPECT_FALSE(negative.success);
    EXPECT_FALSE(negative.retryable);
}

TEST_F(Ocpp16Plugin, RefusesUnknownChargePointsAndWrongPasswords) {
    const auto port = start(site({{"ast_ev_001", "CP1", {{"password", std::string("s3cret")}}}},
                                 {{"security_profile", std::int64_t{1}}}));
    auto upgrade = [&](std::string target, std::optional<std::string> authorization) {
        ocpp::test::ClientOptions options;
        options.target = std::move(target);
        options.authorization = std::move(authorization);
        return ocpp::test::probe_upgrade(port, options).result_int();
    };
    EXPECT_EQ(upgrade("/ocpp/CP9", "Basic Q1A5OnMzY3JldA=="), 404);  // CP9:s3cret
    EXPECT_EQ(upgrade("/ocpp/CP1", "Basic Q1AxOndyb25n"), 401);      // CP1:wrong
    // The user name is the charge point's identity: another name with the
    // right password is someone else's credential.
    EXPECT_EQ(upgrade("/ocpp/CP1", "Basic Q1AyOnMzY3JldA=="), 401);  // CP2:s3cret
    EXPECT_EQ(upgrade("/ocpp/CP1", std::nullopt), 401);

    auto options = charger("CP1");
    options.password = "s3cret";
    Fleet fleet(port, {options});
    ASSERT_TRUE(wait_until([&] { return fleet->booted_count() == 1; }));
}

TEST_F(Ocpp16Plugin, SetpointIsRestoredWhenTheChargerComesBack) {
    const auto port = start(site({{"ast_ev_001", "CP1", {}}}));
    EXPECT_EQ(run(registry, power("ast_ev_001", sdk::CommandType::SetChargeRate, 4)).error,
              "not connected");
    {
        Fleet fleet(port, {charger("CP1")});
        ASSERT_TRUE(wait_until([&] { return !fleet.calls("CP1", "SetChargingProfile").empty(); }));
        auto p = parse(fleet.calls("CP1", "SetChargingProfile").front());
        EXPECT_DOUBLE_EQ(
            p["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"]
                .GetDouble(),
            4000.0);
        EXPECT_EQ(host.count(sdk::AssetEventType::Connected, "ast_ev_001"), 1U);
        EXPECT_TRUE(registry.state("ast_ev_001")->connected);
        ASSERT_TRUE(run(registry, power("ast_ev_001", sdk::CommandType::SetChargeRate, 6)).success);
    }
    ASSERT_TRUE(wait_until(
        [&] { return host.count(sdk::AssetEventType::Disconnected, "ast_ev_001") == 1; }));
    EXPECT_FALSE(host.last(sdk::AssetEventType::Disconnected)->reason.empty());
    EXPECT_FALSE(registry.state("ast_ev_001")->connected);

    Fleet again(port, {charger("CP1")});
    ASSERT_TRUE(wait_until([&] { return !again.calls("CP1", "SetChargingProfile").empty(); }));
    auto p = parse(again.calls("CP1", "SetChargingProfile").front());
    EXPECT_DOUBLE_EQ(
        p["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"]
            .GetDouble(),
        6000.0);
}

// A charger that connects and boots gets its setpoint once, after the boot:
// not also at the connect, in the middle of its boot. With the unit `auto`
// it is asked for the unit once.
TEST_F(Ocpp16Plugin, ABootingChargerGetsItsSetpointOnceAfterTheBoot) {
    const auto port = start_with_a_kept_setpoint({{"charging_rate_unit", std::string("auto")}});
    Fleet fleet(port, {charger("CP1")});
    ASSERT_TRUE(wait_until([&] { return fleet.saw("CP1", "booted"); }));
    ASSERT_TRUE(wait_until([&] { return !fleet.calls("CP1", "SetChargingProfile").empty(); }));
    // Past the wait for a first message, when a second restore would come.
    std::this_thread::sleep_for(3500ms);
    EXPECT_EQ(fleet.calls("CP1", "GetConfiguration").size(), 1U);
    EXPECT_EQ(fleet.calls("CP1", "SetChargingProfile").size(), 1U);
}

// Back from a network drop, without a boot: the setpoint goes at the
// charger's first message, without waiting out the 3 s allowed for a boot.
TEST_F(Ocpp16Plugin, AChargerBackWithoutABootGetsItsSetpointAtItsFirstMessage) {
    const auto port = start_with_a_kept_setpoint();
    auto options = charger("CP1");
    options.greeting = sim::Greeting::Status;
    const auto connected = std::chrono::steady_clock::now();
    Fleet fleet(port, {options});
    ASSERT_TRUE(wait_until([&] { return !fleet.calls("CP1", "SetChargingProfile").empty(); }));
    EXPECT_LT(std::chrono::steady_clock::now() - connected, 2500ms);
    EXPECT_FALSE(fleet.saw("CP1", "booted"));
    // The log says what was restored, in the units an operator reads.
    EXPECT_TRUE(wait_until([&] { return host.logged("CP1: charge rate 4 kW restored"); }));
}

// A charger that says nothing after connecting gets its setpoint when the
// wait for its first message is over.
TEST_F(Ocpp16Plugin, ASilentChargerGetsItsSetpointAfterTheWaitForABoot) {
    const auto port = start_with_a_kept_setpoint();
    auto options = charger("CP1");
    options.greeting = sim::Greeting::Silent;
    Fleet fleet(port, {options});
    ASSERT_TRUE(wait_until([&] { return fleet.saw("CP1", "connected"); }));
    const auto connected = std::chrono::steady_clock::now();
    ASSERT_TRUE(wait_until([&] { return !fleet.calls("CP1", "SetChargingProfile").empty(); }, 10s));
    EXPECT_GE(std::chrono::steady_clock::now() - connected, 2500ms);
    auto p = parse(fleet.calls("CP1", "SetChargingProfile").front());
    EXPECT_DOUBLE_EQ(
        p["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"]
            .GetDouble(),
        4000.0);
}

TEST_F(Ocpp16Plugin, AutoUnitAsksTheChargerFirst) {
    const auto port =
        start(site({{"ast_ev_001", "CP1", {{"charging_rate_unit", std::string("auto")}}}}));
    auto options = charger("CP1");
    options.allowed_charging_rate_unit = "Current";
    Fleet fleet(port, {options});
    ASSERT_TRUE(wait_until([&] { return !fleet.calls("CP1", "GetConfiguration").empty(); }));
    ASSERT_TRUE(wait_until([&] {
        return run(registry, power("ast_ev_001", sdk::CommandType::SetChargeRate, 7)).success &&
               parse(fleet.calls("CP1", "SetChargingProfile")
                         .back())["csChargingProfiles"]["chargingSchedule"]["chargingRateUnit"] ==
                   "A";
    }));
}

TEST_F(Ocpp16Plugin, AutoUnitTheChargerCannotNameFallsBackToAmpsAndSaysSo) {
    const auto port =
        start(site({{"ast_ev_001", "CP1", {{"charging_rate_unit", std::string("auto")}}}}));
    auto options = charger("CP1");
    options.allowed_charging_rate_unit = "Volts";
    Fleet fleet(port, {options});
    ASSERT_TRUE(wait_until([&] {
        return host.logged(
            "CP1: GetConfiguration(ChargingScheduleAllowedChargingRateUnit): its "
            "value 'Volts' names no unit; its limits go in A");
    }));
    ASSERT_TRUE(run(registry, power("ast_ev_001", sdk::CommandType::SetChargeRate, 7)).success);
    EXPECT_EQ(
        std::string(parse(fleet.calls("CP1", "SetChargingProfile")
                              .back())["csChargingProfiles"]["chargingSchedule"]["chargingRateUnit"]
                        .GetString()),
        "A");
}

// After a boot the unit is asked again, and a command that comes while the
// question is out waits for the answer: it goes in the unit the charger
// names now, not in the one its previous connection reported.
TEST_F(Ocpp16Plugin, AutoUnitACommandDuringTheQueryAfterABootWaitsForTheAnswer) {
    const auto port =
        start(site({{"ast_ev_001", "CP1", {{"charging_rate_unit", std::string("auto")}}}}));
    auto unit_of = [](const std::string& call) {
        return std::string(
            parse(call)["csChargingProfiles"]["chargingSchedule"]["chargingRateUnit"].GetString());
    };
    {
        auto before = charger("CP1");
        before.allowed_charging_rate_unit = "Current";
        Fleet fleet(port, {before});
        ASSERT_TRUE(wait_until([&] {
            return run(registry, power("ast_ev_001", sdk::CommandType::SetChargeRate, 6.9))
                       .success &&
                   unit_of(fleet.calls("CP1", "SetChargingProfile").back()) == "A";
        }));
    }
    ASSERT_TRUE(wait_until(
        [&] { return host.count(sdk::AssetEventType::Disconnected, "ast_ev_001") == 1; }));

    auto options = charger("CP1");  // now a firmware that takes power limits only
    options.allowed_charging_rate_unit = "Power";
    options.answer = *sim::AnswerMode::parse("delay:400");
    Fleet fleet(port, {options});
    ASSERT_TRUE(wait_until([&] { return !fleet.calls("CP1", "GetConfiguration").empty(); }));
    const auto r = run(registry, power("ast_ev_001", sdk::CommandType::SetChargeRate, 10));
    EXPECT_TRUE(r.success) << r.error;
    // The command carries the setpoint the boot restores: the charger gets
    // it once, not once for the restore and again for the command. (A
    // second profile would come within the simulator's 400 ms answer delay.)
    std::this_thread::sleep_for(600ms);
    const auto sent = fleet.calls("CP1", "SetChargingProfile");
    ASSERT_EQ(sent.size(), 1U);
    EXPECT_EQ(unit_of(sent.front()), "W") << sent.front();
    EXPECT_DOUBLE_EQ(limit_of(parse(sent.front())), 10000.0) << sent.front();
    EXPECT_FALSE(host.logged("CP1: charge rate 10 kW restored"));
}

// The charger reconnects (the newest connection wins) while the question
// for its unit is unanswered on the connection it replaces, and says no
// BootNotification: the new connection is asked, and a command that came
// meanwhile goes in the unit it names.
TEST_F(Ocpp16Plugin, AutoUnitIsAskedAgainOnTheConnectionThatReplacedTheOneAsked) {
    const auto port =
        start(site({{"ast_ev_001", "CP1", {{"charging_rate_unit", std::string("auto")}}}}));
    auto first = connect(port, "CP1");
    ASSERT_TRUE(first->open());
    first->send(std::string(kBoot));
    ASSERT_TRUE(next_call(*first, "GetConfiguration"));  // never answered
    std::mutex mutex;
    std::optional<sdk::CommandResult> result;
    registry.dispatch(power("ast_ev_001", sdk::CommandType::SetChargeRate, 10),
                      sdk::Completion([&](sdk::CommandResult r) {
                          std::lock_guard lock(mutex);
                          result = std::move(r);
                      }));
    auto second = connect(port, "CP1");
    ASSERT_TRUE(second->open());
    second->send(std::string(kAvailable));
    auto question = next_call(*second, "GetConfiguration");
    ASSERT_TRUE(question);
    answer(*second, *question, kPowerUnit);
    auto completed = [&] {
        std::lock_guard lock(mutex);
        return result.has_value();
    };
    // The restore and the command: both in W.
    while (!completed()) {
        auto profile = next_call(*second, "SetChargingProfile");
        ASSERT_TRUE(profile);
        EXPECT_STREQ(
            (*profile)[3]["csChargingProfiles"]["chargingSchedule"]["chargingRateUnit"].GetString(),
            "W");
        answer(*second, *profile, R"({"status":"Accepted"})");
        wait_until(completed, 300ms);
    }
    std::lock_guard lock(mutex);
    EXPECT_TRUE(result->success) << result->error;
}

// A charger that lets the question for its unit time out is not asked again
// on the same connection, but at its next connect, boot or not; meanwhile
// its limits go in A (it never named a unit).
TEST_F(Ocpp16Plugin, AutoUnitUnansweredInTimeIsAskedAgainAtTheNextConnect) {
    const auto port =
        start(site({{"ast_ev_001", "CP1", {{"charging_rate_unit", std::string("auto")}}}},
                   {{"call_timeout_seconds", 1.0}}));
    {
        auto silent = connect(port, "CP1");
        ASSERT_TRUE(silent->open());
        silent->send(std::string(kBoot));
        ASSERT_TRUE(next_call(*silent, "GetConfiguration"));  // never answered
        ASSERT_TRUE(wait_until([&] {
            return host.logged(sdk::LogLevel::Warn,
                               "CP1: GetConfiguration(ChargingScheduleAllowedChargingRateUnit): "
                               "the call failed: timeout");
        }));
        EXPECT_TRUE(host.logged("its limits go in A until it is asked again at its next connect"));
        silent->send(std::string(kAvailable));  // the same connection: not asked again
        EXPECT_FALSE(next_call(*silent, "GetConfiguration"));
        silent->close_socket();
        ASSERT_TRUE(wait_until(
            [&] { return host.count(sdk::AssetEventType::Disconnected, "ast_ev_001") == 1; }));
    }
    auto back = connect(port, "CP1");
    ASSERT_TRUE(back->open());
    back->send(std::string(kAvailable));
    auto question = next_call(*back, "GetConfiguration");
    ASSERT_TRUE(question);
    answer(*back, *question, kPowerUnit);
    registry.dispatch(power("ast_ev_001", sdk::CommandType::SetChargeRate, 10),
                      sdk::Completion([](sdk::CommandResult) {}));
    auto profile = next_call(*back, "SetChargingProfile");
    ASSERT_TRUE(profile);
    EXPECT_STREQ(
        (*profile)[3]["csChargingProfiles"]["chargingSchedule"]["chargingRateUnit"].GetString(),
        "W");
}

TEST_F(Ocpp16Plugin, MeterValuesBecomeTelemetry) {
    const auto port = start(site({{"ast_ev_001", "CP1", {}}}));
    Fleet fleet(port, {charger("CP1")});
    ASSERT_TRUE(wait_until([&] { return fleet->booted_count() == 1; }));
    fleet->send_raw(
        "CP1",
        R"([2,"mv1","MeterValues",{"connectorId":1,"meterValue":[{"timestamp":"2026-11-26T10:00:00Z","sampledValue":[
        {"value":"7400","measurand":"Power.Active.Import","unit":"W"},
        {"value":"12.5","measurand":"Energy.Active.Import.Register","unit":"kWh"}]}]}])");
    ASSERT_TRUE(
        wait_until([&] { return host.count(sdk::AssetEventType::Telemetry, "ast_ev_001") == 1; }));
    auto state = registry.state("ast_ev_001");
    ASSERT_TRUE(state);
    ASSERT_TRUE(state->find("power_kw"));
    EXPECT_DOUBLE_EQ(state->find("power_kw")->value, 7.4);
    EXPECT_DOUBLE_EQ(state->find("energy_kwh")->value, 12.5);
    EXPECT_TRUE(state->last_seen.has_value());
}

// Connector 0 is the charger's main meter: it stands in for the asset's
// connector only until that connector reports the quantity itself, and the
// two do not take turns afterwards.
TEST_F(Ocpp16Plugin, TheMainMeterStandsInOnlyForWhatTheConnectorNeverReported) {
    const auto port = start(site({{"ast_ev_001", "CP1", {}}}));
    Fleet fleet(port, {charger("CP1")});
    ASSERT_TRUE(wait_until([&] { return fleet->booted_count() == 1; }));
    int sent = 0;
    auto meter = [&](int connector, const std::string& sampled) {
        fleet->send_raw("CP1", R"([2,"mv)" + std::to_string(++sent) +
                                   R"(","MeterValues",{"connectorId":)" +
                                   std::to_string(connector) + R"(,"meterValue":[{"timestamp":")" +
                                   now_text() + R"(","sampledValue":[)" + sampled + "]}]}]");
    };
    auto value = [&](std::string_view name) {
        auto state = registry.state("ast_ev_001");
        const auto* v = state ? state->find(name) : nullptr;
        return v ? std::optional<double>(v->value) : std::nullopt;
    };
    // Waits until everything sent before is handled: a SoC from connector 1
    // (which the main meter never reports) comes after it.
    auto settle = [&] {
        const double soc = sent;
        meter(1, R"({"value":")" + std::to_string(sent) + R"(","measurand":"SoC"})");
        return wait_until([&] { return value("soc") == soc; });
    };
    const std::string main_meter =
        R"({"value":"18000","measurand":"Power.Active.Import","unit":"W","context":"Sample.Clock"},)"
        R"({"value":"4500","measurand":"Energy.Active.Import.Register","unit":"kWh","context":"Sample.Clock"})";
    // Nothing from connector 1 yet: the main meter's values are the asset's.
    meter(0, main_meter);
    ASSERT_TRUE(settle());
    EXPECT_DOUBLE_EQ(value("power_kw").value_or(-1), 18.0);
    EXPECT_DOUBLE_EQ(value("energy_kwh").value_or(-1), 4500.0);
    // Connector 1 reports power only: its own from now on, while energy
    // still comes from the main meter.
    meter(1, R"({"value":"7000","measurand":"Power.Active.Import","unit":"W"})");
    meter(0, main_meter);
    ASSERT_TRUE(settle());
    EXPECT_DOUBLE_EQ(value("power_kw").value_or(-1), 7.0);
    EXPECT_DOUBLE_EQ(value("energy_kwh").value_or(-1), 4500.0);
    // Both on connector 1, then the main meter again: it changes nothing.
    meter(1, R"({"value":"7100","measurand":"Power.Active.Import","unit":"W"},)"
             R"({"value":"10","measurand":"Energy.Active.Import.Register","unit":"kWh"})");
    meter(0, main_meter);
    ASSERT_TRUE(settle());
    EXPECT_DOUBLE_EQ(value("power_kw").value_or(-1), 7.1);
    EXPECT_DOUBLE_EQ(value("energy_kwh").value_or(-1), 10.0);
}

TEST_F(Ocpp16Plugin, StopFailsAPendingCallExactlyOnce) {
    const auto port = start(site({{"ast_ev_001", "CP1", {}}}));
    Fleet fleet(port, {charger("CP1")});
    ASSERT_TRUE(wait_until([&] { return fleet->booted_count() == 1; }));
    fleet->set_answer("CP1", {sim::AnswerMode::Kind::Silent, 0ms});
    std::mutex mutex;
    std::vector<sdk::CommandResult> results;
    registry.dispatch(power("ast_ev_001", sdk::CommandType::SetChargeRate, 3),
                      sdk::Completion([&](sdk::CommandResult r) {
                          std::lock_guard lock(mutex);
                          results.push_back(std::move(r));
                      }));
    ASSERT_TRUE(wait_until([&] { return !fleet.calls("CP1", "SetChargingProfile").empty(); }));
    registry.stop();
    std::lock_guard lock(mutex);
    ASSERT_EQ(results.size(), 1U);
    EXPECT_FALSE(results[0].success);
    // The server closes the connection first (and says so); the adapter's
    // own sweep fails whatever is left.
    EXPECT_TRUE(results[0].error.starts_with("disconnected: charge point 'CP1': connection "
                                             "closed before the answer to SetChargingProfile") ||
                results[0].error == "adapter stopped before the charger answered")
        << results[0].error;
    EXPECT_TRUE(results[0].retryable);
}

TEST_F(Ocpp16Plugin, EachAnswerCompletesItsOwnCommandWhileOthersWait) {
    // Entries for unanswered commands are reused: a command answered late
    // must not complete one made after it in a reused entry.
    const auto port = start(site({{"ast_ev_001", "CP1", {}}, {"ast_ev_002", "CP2", {}}}));
    Fleet fleet(port, {charger("CP1"), charger("CP2")});
    ASSERT_TRUE(wait_until([&] { return fleet->booted_count() == 2; }));
    fleet->set_answer("CP2", {sim::AnswerMode::Kind::Delay, 400ms});
    std::mutex mutex;
    std::vector<std::string> order;
    auto note = [&](std::string what) {
        return sdk::Completion([&, what](sdk::CommandResult r) {
            std::lock_guard lock(mutex);
            order.push_back(what + (r.success ? " ok" : " " + r.error));
        });
    };
    registry.dispatch(power("ast_ev_002", sdk::CommandType::SetChargeRate, 2), note("slow"));
    for (int i = 0; i < 20; ++i) {
        auto quick = run(registry, power("ast_ev_001", sdk::CommandType::SetChargeRate, 3 + i));
        ASSERT_TRUE(quick.success) << i << ": " << quick.error;
    }
    ASSERT_TRUE(wait_until([&] {
        std::lock_guard lock(mutex);
        return !order.empty();
    }));
    std::lock_guard lock(mutex);
    EXPECT_EQ(order, std::vector<std::string>{"slow ok"});
}

TEST_F(Ocpp16Plugin, StartFailsNamingTheAddressItCannotBind) {
    const auto port = start(site({{"ast_ev_001", "CP1", {}}}));
    gateway::AdapterRegistry second;
    Host other;
    auto config = site({{"ast_ev_002", "CP2", {}}});
    config.table = sdk::ConfigTable({"site.toml", 5, 1});
    config.table.add("listen", value("127.0.0.1:" + std::to_string(port), 6));
    auto errors = second.add(plugin, config, other.hooks());
    ASSERT_TRUE(errors.empty()) << errors.front();
    auto status = second.start();
    ASSERT_FALSE(status);
    EXPECT_NE(status.message().find("127.0.0.1:" + std::to_string(port)), std::string::npos)
        << status.message();
}

TEST_F(Ocpp16Plugin, SecurityProfileTwoOverTls) {
    ocpp::test::TestCertificate certificate;
    const auto port = start(site({{"ast_ev_001", "CP1", {{"password", std::string("s3cret")}}}},
                                 {{"security_profile", std::int64_t{2}},
                                  {"tls_certificate", certificate.certificate.string()},
                                  {"tls_private_key", certificate.private_key.string()}}));
    ASSERT_NE(port, 0);
    auto options = charger("CP1");
    options.password = "s3cret";
    Fleet fleet(port, {options}, certificate.certificate.string());
    ASSERT_TRUE(wait_until([&] { return fleet->booted_count() == 1; }));
    ASSERT_TRUE(run(registry, power("ast_ev_001", sdk::CommandType::SetChargeRate, 5)).success);
    EXPECT_FALSE(fleet.calls("CP1", "SetChargingProfile").empty());
}

// TLS files under a profile without TLS are most likely a forgotten
// `security_profile = 2`: the start warns, naming the keys and the profile.
TEST_F(Ocpp16Plugin, TlsFilesUnderAProfileWithoutTlsAreWarnedAbout) {
    ocpp::test::TestCertificate certificate;
    ASSERT_NE(start(site({{"ast_ev_001", "CP1", {{"password", std::string("s3cret")}}}},
                         {{"security_profile", std::int64_t{1}},
                          {"tls_certificate", certificate.certificate.string()},
                          {"tls_private_key", certificate.private_key.string()}})),
              0);
    EXPECT_TRUE(host.logged(sdk::LogLevel::Warn,
                            "site.toml:8:8: warning: 'tls_certificate' and 'tls_private_key' "
                            "ignored under security_profile 1: only security_profile 2 uses "
                            "TLS (Basic auth passwords go in clear)"));
}

// An expired certificate loads, and every charger would then fail its TLS
// handshake: the start warns, naming the file and its notAfter date.
TEST_F(Ocpp16Plugin, AnExpiredCertificateIsWarnedAbout) {
    ocpp::test::TestCertificate expired(-7200, -3600);
    ASSERT_NE(start(site({{"ast_ev_001", "CP1", {{"password", std::string("s3cret")}}}},
                         {{"security_profile", std::int64_t{2}},
                          {"tls_certificate", expired.certificate.string()},
                          {"tls_private_key", expired.private_key.string()}})),
              0);
    EXPECT_TRUE(host.logged(
        sdk::LogLevel::Warn,
        "'tls_certificate': " + expired.certificate.string() + ": the certificate expired on "));
}

// A new transaction runs at the setpoint that applies now: after a pause
// (TxProfile 0) of one transaction, the next must not start on the
// TxDefaultProfile sent before the first began.
TEST_F(Ocpp16Plugin, ANewTransactionGetsTheCurrentSetpoint) {
    const auto port = start(site({{"ast_ev_001", "CP1", {}}}));
    auto options = charger("CP1");
    options.strict_tx_profiles = true;
    Fleet fleet(port, {options});
    ASSERT_TRUE(wait_until([&] { return fleet->booted_count() == 1; }));
    ASSERT_TRUE(run(registry, power("ast_ev_001", sdk::CommandType::SetChargeRate, 22)).success);
    auto first = parse(fleet.calls("CP1", "SetChargingProfile").back());
    EXPECT_EQ(purpose_of(first), "TxDefaultProfile");
    EXPECT_DOUBLE_EQ(limit_of(first), 22000.0);

    ASSERT_TRUE(run(registry, command("ast_ev_001", sdk::CommandType::StartCharging)).success);
    ASSERT_TRUE(wait_until([&] { return fleet.count("CP1", "transaction_started") == 1; }));
    const int t1 = std::stoi(fleet.details("CP1", "transaction_started").back());
    ASSERT_TRUE(run(registry, power("ast_ev_001", sdk::CommandType::SetChargeRate, 0)).success);
    auto pause = parse(fleet.calls("CP1", "SetChargingProfile").back());
    EXPECT_EQ(purpose_of(pause), "TxProfile");
    EXPECT_EQ(transaction_of(pause), t1);
    EXPECT_DOUBLE_EQ(limit_of(pause), 0.0);

    ASSERT_TRUE(run(registry, command("ast_ev_001", sdk::CommandType::StopCharging)).success);
    ASSERT_TRUE(wait_until([&] {
        auto r = run(registry, command("ast_ev_001", sdk::CommandType::StopCharging));
        return !r.success && r.error == "no transaction running on the charger";
    }));
    ASSERT_TRUE(run(registry, command("ast_ev_001", sdk::CommandType::StartCharging)).success);
    ASSERT_TRUE(wait_until([&] { return fleet.count("CP1", "transaction_started") == 2; }));
    const int t2 = std::stoi(fleet.details("CP1", "transaction_started").back());
    ASSERT_NE(t1, t2);
    EXPECT_TRUE(wait_until([&] {
        auto last = parse(fleet.calls("CP1", "SetChargingProfile").back());
        return purpose_of(last) == "TxProfile" && transaction_of(last) == t2 &&
               limit_of(last) == 0.0;
    })) << fleet.calls("CP1", "SetChargingProfile").back();
    // The charger took it: it names the transaction that runs there.
    EXPECT_TRUE(wait_until([&] { return host.logged("CP1: charge rate 0 kW restored"); }));
}

class Ocpp16PluginRestore : public Ocpp16Plugin {
  protected:
    // Starts CP1 with a running transaction and 4.4 kW as its TxProfile,
    // then takes the charger away without a StopTransaction (a power loss
    // or a network drop). Returns the port; `lost` is the transaction.
    std::uint16_t start_with_a_lost_transaction() {
        const auto port = start(site({{"ast_ev_001", "CP1", {}}}));
        auto options = charger("CP1");
        options.start_transaction = true;
        {
            Fleet fleet(port, {options});
            EXPECT_TRUE(wait_until([&] { return fleet.saw("CP1", "transaction_started"); }));
            EXPECT_TRUE(
                run(registry, power("ast_ev_001", sdk::CommandType::SetChargeRate, 4.4)).success);
            auto profile = parse(fleet.calls("CP1", "SetChargingProfile").back());
            EXPECT_EQ(purpose_of(profile), "TxProfile");
            lost = transaction_of(profile).value_or(0);
        }
        EXPECT_TRUE(wait_until(
            [&] { return host.count(sdk::AssetEventType::Disconnected, "ast_ev_001") == 1; }));
        return port;
    }
    // Then brings CP1 back without a boot, refusing TxProfiles for
    // transactions it does not run, and waits for the restore its first
    // message brings. Null if that did not happen.
    std::unique_ptr<Fleet> back_without_a_boot_after_its_restore() {
        const auto port = start_with_a_lost_transaction();
        auto options = charger("CP1");
        options.greeting = sim::Greeting::Silent;
        options.strict_tx_profiles = true;
        auto again = std::make_unique<Fleet>(port, std::vector{options});
        if (!wait_until([&] { return again->saw("CP1", "connected"); })) return nullptr;
        (*again)->send_raw("CP1", R"([2,"hb1","Heartbeat",{}])");
        if (!wait_until([&] { return host.logged("CP1: charge rate 4.4 kW restored"); }))
            return nullptr;
        return again;
    }
    int lost = 0;
};

// A charger that boots may have lost its transaction (a power loss: its
// StopTransaction comes later) or kept it (some boot at every reconnect).
// The restore names the transaction; one the charger refuses falls back to
// TxDefaultProfile, so the charger ends at the setpoint either way.
TEST_F(Ocpp16PluginRestore, AfterARebootARefusedTxProfileFallsBackToTxDefault) {
    const auto port = start_with_a_lost_transaction();
    ASSERT_NE(lost, 0);
    auto options = charger("CP1");  // boots, then reports its connector Available
    options.strict_tx_profiles = true;
    Fleet again(port, {options});
    ASSERT_TRUE(wait_until([&] { return again.saw("CP1", "booted"); }));
    ASSERT_TRUE(wait_until([&] { return host.logged("CP1: charge rate 4.4 kW restored"); }));
    const auto sent = again.calls("CP1", "SetChargingProfile");
    ASSERT_EQ(sent.size(), 2U);
    EXPECT_EQ(purpose_of(parse(sent[0])), "TxProfile");
    EXPECT_EQ(transaction_of(parse(sent[0])), lost);
    auto restored = parse(sent[1]);
    EXPECT_EQ(purpose_of(restored), "TxDefaultProfile");
    EXPECT_EQ(transaction_of(restored), std::nullopt);
    EXPECT_DOUBLE_EQ(limit_of(restored), 4400.0);
}

TEST_F(Ocpp16PluginRestore, AChargerThatBootsAndKeepsChargingKeepsItsTxProfile) {
    const auto port = start_with_a_lost_transaction();
    ASSERT_NE(lost, 0);
    auto options = charger("CP1");
    options.greeting = sim::Greeting::Silent;
    Fleet again(port, {options});
    ASSERT_TRUE(wait_until([&] { return again.saw("CP1", "connected"); }));
    again->send_raw(
        "CP1", R"([2,"b1","BootNotification",{"chargePointVendor":"v","chargePointModel":"m"}])");
    again->send_raw("CP1", R"([2,"s1","StatusNotification",{"connectorId":1,)"
                           R"("errorCode":"NoError","status":"Charging"}])");
    ASSERT_TRUE(wait_until([&] { return host.logged("CP1: charge rate 4.4 kW restored"); }));
    const auto sent = again.calls("CP1", "SetChargingProfile");
    ASSERT_EQ(sent.size(), 1U);
    EXPECT_EQ(purpose_of(parse(sent[0])), "TxProfile");
    EXPECT_EQ(transaction_of(parse(sent[0])), lost);
}

// The log says which stop ended a transaction and which named one that was
// not running (a replay, or one its connector's Available had ended).
TEST_F(Ocpp16PluginRestore, AStopOfATransactionNotRunningIsLoggedAsSuch) {
    const auto port = start_with_a_lost_transaction();
    auto options = charger("CP1");
    options.greeting = sim::Greeting::Silent;
    Fleet again(port, {options});
    ASSERT_TRUE(wait_until([&] { return again.saw("CP1", "connected"); }));
    for (const char* id : {"stop1", "stop2"}) {
        again->send_raw("CP1", std::string(R"([2,")") + id +
                                   R"(","StopTransaction",{"transactionId":)" +
                                   std::to_string(lost) + R"(,"meterStop":1000,"timestamp":")" +
                                   now_text() + R"("}])");
    }
    const std::string tx = "CP1: transaction " + std::to_string(lost) + " stopped";
    EXPECT_TRUE(wait_until([&] { return host.logged(tx + " on connector 1"); }));
    EXPECT_TRUE(wait_until(
        [&] { return host.logged(tx + ", which was not running (already ended, or unknown)"); }));
    EXPECT_FALSE(host.logged(tx + " on connector 0"));
}

// Back without a boot, the central system may still believe in a
// transaction that ended while the charger was away (its StopTransaction
// still queued there): the TxProfile is rejected, and the restore falls back
// to TxDefaultProfile once, so the charger ends at the setpoint anyway.
TEST_F(Ocpp16PluginRestore, ARestoreRejectedAsTxProfileFallsBackToTxDefaultOnce) {
    auto back = back_without_a_boot_after_its_restore();
    ASSERT_TRUE(back);
    Fleet& again = *back;
    const auto sent = again.calls("CP1", "SetChargingProfile");
    ASSERT_EQ(sent.size(), 2U);
    auto first = parse(sent[0]);
    EXPECT_EQ(purpose_of(first), "TxProfile");
    EXPECT_EQ(transaction_of(first), lost);
    auto fallback = parse(sent[1]);
    EXPECT_EQ(purpose_of(fallback), "TxDefaultProfile");
    EXPECT_EQ(transaction_of(fallback), std::nullopt);
    EXPECT_DOUBLE_EQ(limit_of(fallback), 4400.0);
    // Once: nothing follows the fallback.
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(again.calls("CP1", "SetChargingProfile").size(), 2U);
}

// A command's TxProfile names the transaction the central system believes
// runs; one that ended unseen (its StopTransaction lost) makes the charger
// reject it, and a retry would only be rejected again. The command falls
// back once to TxDefaultProfile with the same limit, and ends with that
// answer.
TEST_F(Ocpp16PluginRestore, ACommandRejectedAsTxProfileFallsBackToTxDefaultOnce) {
    auto back = back_without_a_boot_after_its_restore();
    ASSERT_TRUE(back);
    Fleet& again = *back;
    const auto restored = again.calls("CP1", "SetChargingProfile").size();

    const auto r = run(registry, power("ast_ev_001", sdk::CommandType::SetChargeRate, 6));
    EXPECT_TRUE(r.success) << r.error;
    const auto sent = again.calls("CP1", "SetChargingProfile");
    ASSERT_EQ(sent.size(), restored + 2);
    auto first = parse(sent[restored]);
    EXPECT_EQ(purpose_of(first), "TxProfile");
    EXPECT_EQ(transaction_of(first), lost);
    EXPECT_DOUBLE_EQ(limit_of(first), 6000.0);
    auto fallback = parse(sent[restored + 1]);
    EXPECT_EQ(purpose_of(fallback), "TxDefaultProfile");
    EXPECT_EQ(transaction_of(fallback), std::nullopt);
    EXPECT_DOUBLE_EQ(limit_of(fallback), 6000.0);
    EXPECT_TRUE(host.logged(sdk::LogLevel::Warn,
                            "CP1: the charger refused the TxProfile for "
                            "transaction " +
                                std::to_string(lost)));
    // Once: nothing follows the fallback.
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(again.calls("CP1", "SetChargingProfile").size(), restored + 2);

    // A fallback the charger rejects too ends the command with its word.
    again->set_answer("CP1", sim::AnswerMode{sim::AnswerMode::Kind::Reject, {}});
    EXPECT_EQ(run(registry, power("ast_ev_001", sdk::CommandType::SetChargeRate, 7)).error,
              "Rejected");
    EXPECT_EQ(again.calls("CP1", "SetChargingProfile").size(), restored + 4);
}

// A charger whose first message after a connect is StartTransaction: the
// restore it triggers runs after that message is handled, so it names the
// transaction just started, not the previous connection's.
TEST_F(Ocpp16PluginRestore, ARestoreAtAStartTransactionNamesTheNewTransaction) {
    const auto port = start_with_a_lost_transaction();
    EXPECT_EQ(run(registry, power("ast_ev_001", sdk::CommandType::SetChargeRate, 5)).error,
              "not connected");
    auto options = charger("CP1");
    options.greeting = sim::Greeting::Silent;
    Fleet again(port, {options});
    ASSERT_TRUE(wait_until([&] { return again.saw("CP1", "connected"); }));
    again->send_raw("CP1", R"([2,"start1","StartTransaction",{"connectorId":1,"idTag":"SIMTAG01",)"
                           R"("meterStart":0,"timestamp":")" +
                               now_text() + R"("}])");
    ASSERT_TRUE(wait_until([&] { return !again.calls("CP1", "SetChargingProfile").empty(); }));
    const auto started = host.last_started_transaction();
    ASSERT_TRUE(started);
    ASSERT_NE(*started, lost);
    auto restored = parse(again.calls("CP1", "SetChargingProfile").front());
    EXPECT_EQ(purpose_of(restored), "TxProfile");
    EXPECT_EQ(transaction_of(restored), started);
    EXPECT_DOUBLE_EQ(limit_of(restored), 5000.0);
}

// A charger replaying its buffer after an outage sends samples older than
// the telemetry already published: they do not overwrite it. One event
// carries each key once, from the newest sample.
TEST_F(Ocpp16Plugin, OlderMeterSamplesNeverOverwriteNewerTelemetry) {
    const auto port = start(site({{"ast_ev_001", "CP1", {}}}));
    Fleet fleet(port, {charger("CP1")});
    ASSERT_TRUE(wait_until([&] { return fleet->booted_count() == 1; }));
    fleet->send_raw("CP1", R"([2,"mv1","MeterValues",{"connectorId":1,"meterValue":[
        {"timestamp":"2026-11-26T10:00:00Z","sampledValue":[
            {"value":"5000","measurand":"Power.Active.Import","unit":"W"}]},
        {"timestamp":"2026-11-26T09:00:00Z","sampledValue":[
            {"value":"100","measurand":"Power.Active.Import","unit":"W"}]}]}])");
    ASSERT_TRUE(
        wait_until([&] { return host.count(sdk::AssetEventType::Telemetry, "ast_ev_001") == 1; }));
    auto event = host.last(sdk::AssetEventType::Telemetry);
    ASSERT_EQ(event->telemetry.size(), 1U);
    EXPECT_EQ(event->telemetry[0].name, "power_kw");
    EXPECT_DOUBLE_EQ(event->telemetry[0].value, 5.0);
    EXPECT_DOUBLE_EQ(registry.state("ast_ev_001")->find("power_kw")->value, 5.0);

    fleet->send_raw("CP1", R"([2,"mv2","MeterValues",{"connectorId":1,"meterValue":[
        {"timestamp":"2026-11-26T08:00:00Z","sampledValue":[
            {"value":"200","measurand":"Power.Active.Import","unit":"W"}]}]}])");
    // Handled in order: once this one is published, the old one was seen.
    fleet->send_raw("CP1", R"([2,"mv3","MeterValues",{"connectorId":1,"meterValue":[
        {"timestamp":"2026-11-26T10:00:00Z","sampledValue":[
            {"value":"13","measurand":"Energy.Active.Import.Register","unit":"kWh"}]}]}])");
    ASSERT_TRUE(wait_until([&] {
        // find() points into the state: keep the state alive while reading.
        const auto state = registry.state("ast_ev_001");
        const auto* energy = state ? state->find("energy_kwh") : nullptr;
        return energy && energy->value == 13.0;
    }));
    EXPECT_DOUBLE_EQ(registry.state("ast_ev_001")->find("power_kw")->value, 5.0);
    EXPECT_EQ(host.count(sdk::AssetEventType::Telemetry, "ast_ev_001"), 2U);
    const auto latest = host.last(sdk::AssetEventType::Telemetry);
    for (const auto& t : latest->telemetry) EXPECT_NE(t.name, "power_kw");
}

TEST_F(Ocpp16Plugin, TelemetryFollowsAChargerWhoseClockWasCorrectedBackwards) {
    const auto port = start(site({{"ast_ev_001", "CP1", {}}}));
    Fleet fleet(port, {charger("CP1")});
    ASSERT_TRUE(wait_until([&] { return fleet->booted_count() == 1; }));
    // The charger's clock ran years ahead, then was set right.
    fleet->send_raw("CP1", R"([2,"mv1","MeterValues",{"connectorId":1,"meterValue":[
        {"timestamp":"2035-01-01T00:00:00Z","sampledValue":[
            {"value":"7000","measurand":"Power.Active.Import","unit":"W"}]}]}])");
    ASSERT_TRUE(
        wait_until([&] { return host.count(sdk::AssetEventType::Telemetry, "ast_ev_001") == 1; }));
    // Stamped after the first message arrived, as the next sample is.
    const auto now = ocpp::format_timestamp(
        std::chrono::ceil<std::chrono::seconds>(std::chrono::system_clock::now()));
    fleet->send_raw("CP1", R"([2,"mv2","MeterValues",{"connectorId":1,"meterValue":[
        {"timestamp":")" + now +
                               R"(","sampledValue":[
            {"value":"3000","measurand":"Power.Active.Import","unit":"W"}]}]}])");
    ASSERT_TRUE(
        wait_until([&] { return host.count(sdk::AssetEventType::Telemetry, "ast_ev_001") == 2; }));
    EXPECT_DOUBLE_EQ(host.last(sdk::AssetEventType::Telemetry)->telemetry.at(0).value, 3.0);
    EXPECT_DOUBLE_EQ(registry.state("ast_ev_001")->find("power_kw")->value, 3.0);
}

// charger-sim's meter: a car in a transaction draws what the profile
// offers, and the gateway publishes it as the charger's telemetry.
TEST_F(Ocpp16Plugin, TheSimulatorsMeterFollowsTheChargeRate) {
    const auto port = start(site({{"ast_ev_001", "CP1", {}}}));
    auto metered = charger("CP1");
    metered.start_transaction = true;
    metered.meter_interval = 100ms;
    metered.car_max_w = 11000;
    Fleet fleet(port, {metered});
    auto reading = [&](const char* name) -> std::optional<double> {
        const auto state = registry.state("ast_ev_001");
        const auto* value = state ? state->find(name) : nullptr;
        return value ? std::optional<double>(value->value) : std::nullopt;
    };
    // No profile yet: the car takes its most.
    ASSERT_TRUE(wait_until([&] { return reading("power_kw") == 11.0; }));
    ASSERT_TRUE(run(registry, power("ast_ev_001", sdk::CommandType::SetChargeRate, 7.4)).success);
    ASSERT_TRUE(wait_until([&] { return reading("power_kw") == 7.4; }));
    // The register counts whole Wh: 7.4 kW adds one every half second.
    const double energy = reading("energy_kwh").value_or(0);
    ASSERT_TRUE(wait_until([&] { return reading("energy_kwh").value_or(0) > energy; }));
}

}  // namespace
}  // namespace gridgate
