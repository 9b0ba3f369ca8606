// The gridgate daemon with the built-in ocpp16 plugin and simulated charge
// points over loopback WebSockets: what a schedule makes each charger receive,
// in W and in A, and how rejections, silence and late chargers end.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <signal.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "gateway_process.hpp"
#include "gridgate/engine/timestamp.hpp"
#include "gridgate/sim/charger_fleet.hpp"
#include "http_client.hpp"

using namespace gridgate;
using namespace gridgate::testing;
using namespace gridgate::tools;
using namespace std::chrono_literals;

namespace {

std::string site(unsigned short api_port, unsigned short ocpp_port) {
    std::string s = R"([site]
name = "ocpp-e2e"

[api]
listen = "127.0.0.1:)" +
                    std::to_string(api_port) + R"("

[engine]
max_retries = 2
timeout_seconds = 1.0
retry_backoff_seconds = 0.5

[adapters.ocpp]
plugin = "ocpp16"
listen = "127.0.0.1:)" +
                    std::to_string(ocpp_port) + R"("
path = "/ocpp"
heartbeat_interval_seconds = 60
security_profile = 0
)";
    const char* assets[][3] = {{"ast_w", "CP0001", "W"},
                               {"ast_a", "CP0002", "A"},
                               {"ast_rej", "CP0003", "W"},
                               {"ast_silent", "CP0004", "W"},
                               {"ast_late", "CP0005", "W"}};
    for (auto& a : assets) {
        s += std::string("\n[[assets]]\nid = \"") + a[0] +
             "\"\ntype = \"ev_charger\"\nadapter = \"ocpp\"\ncharge_point_id = \"" + a[1] +
             "\"\nconnector_id = 1\ncharging_rate_unit = \"" + a[2] + "\"\n";
        if (std::string(a[2]) == "A") s += "phases = 3\nvoltage = 230.0\n";
    }
    s += R"(
[schedule.asset_map]
ev_w = "ast_w"
ev_a = "ast_a"
ev_rej = "ast_rej"
ev_silent = "ast_silent"
ev_late = "ast_late"
)";
    return s;
}

// What each simulated charger received, as parsed SetChargingProfile payloads.
class Received {
  public:
    void operator()(const sim::SimEvent& e) {
        if (e.kind != "call" || e.action != "SetChargingProfile") return;
        std::lock_guard lock(mutex_);
        profiles_[e.identity].push_back(e.payload);
    }
    std::vector<std::string> profiles(const std::string& id) {
        std::lock_guard lock(mutex_);
        return profiles_[id];
    }
    // Waits until `id` has received `n` profiles.
    std::vector<std::string> await(const std::string& id, std::size_t n,
                                   std::chrono::milliseconds timeout = 5s) {
        auto until = std::chrono::steady_clock::now() + timeout;
        while (profiles(id).size() < n && std::chrono::steady_clock::now() < until)
            std::this_thread::sleep_for(20ms);
        return profiles(id);
    }

  private:
    std::mutex mutex_;
    std::map<std::string, std::vector<std::string>> profiles_;
};

struct Limit {
    std::string purpose;
    std::string unit;
    double limit = 0;
    int phases = 0;
};

Limit limit_of(const std::string& payload) {
    rapidjson::Document d;
    d.Parse(payload.c_str());
    const auto& p = d["csChargingProfiles"];
    const auto& s = p["chargingSchedule"];
    const auto& period = s["chargingSchedulePeriod"][0];
    return {p["chargingProfilePurpose"].GetString(), s["chargingRateUnit"].GetString(),
            period["limit"].GetDouble(),
            period.HasMember("numberPhases") ? period["numberPhases"].GetInt() : 0};
}

rapidjson::Document get_json(unsigned short port, const std::string& target) {
    rapidjson::Document d;
    d.Parse(http_request(port, "GET", target).body.c_str());
    return d;
}

// Polls a command until `done(command)` or 8 s pass; returns its last state.
template <typename Pred>
rapidjson::Document await_command(unsigned short port, const std::string& id, Pred done) {
    auto until = std::chrono::steady_clock::now() + 8s;
    for (;;) {
        auto d = get_json(port, "/api/v1/commands/" + id);
        if (done(d) || std::chrono::steady_clock::now() > until) return d;
        std::this_thread::sleep_for(20ms);
    }
}

// Polls /metrics until it holds `line` or 5 s pass.
bool metric_becomes(unsigned short port, const std::string& line) {
    for (auto until = std::chrono::steady_clock::now() + 5s;
         std::chrono::steady_clock::now() < until;) {
        if (http_request(port, "GET", "/metrics").body.find(line) != std::string::npos) return true;
        std::this_thread::sleep_for(20ms);
    }
    return false;
}

bool status_is(const rapidjson::Document& d, const char* s) {
    return d.HasMember("status") && std::string(d["status"].GetString()) == s;
}

}  // namespace

TEST(GatewayOcpp, ChargersReceiveTheirLimitsAndEveryOutcomeIsReported) {
    auto api_port = free_tcp_port();
    auto ocpp_port = free_tcp_port();
    auto file = write_temp_file("site.toml", site(api_port, ocpp_port));
    ChildProcess gw(GRIDGATE_BINARY, {"--config", file.string()});
    ASSERT_TRUE(gw.wait_for_output("HTTP API on")) << gw.output();

    boost::asio::io_context io;
    auto work = boost::asio::make_work_guard(io);
    std::thread io_thread([&] { io.run(); });
    Received received;
    sim::FleetOptions fo;
    fo.port = ocpp_port;
    fo.reconnect_delay = 200ms;
    std::vector<sim::ChargerOptions> chargers;
    for (auto [id, mode] : {std::pair{"CP0001", "accept"}, std::pair{"CP0002", "accept"},
                            std::pair{"CP0003", "reject"}, std::pair{"CP0004", "silent"}}) {
        sim::ChargerOptions c;
        c.identity = id;
        c.answer = *sim::AnswerMode::parse(mode);
        chargers.push_back(c);
    }
    sim::ChargerFleet fleet(io, fo, chargers, std::ref(received));
    fleet.start();
    for (auto until = std::chrono::steady_clock::now() + 5s;
         fleet.booted_count() < 4 && std::chrono::steady_clock::now() < until;)
        std::this_thread::sleep_for(20ms);
    ASSERT_EQ(fleet.booted_count(), 4u) << gw.output();

    auto t0 = std::chrono::time_point_cast<std::chrono::milliseconds>(sdk::Clock::now()) + 500ms;
    std::string csv = "timestamp,ev_w_kw,ev_a_kw,ev_rej_kw,ev_silent_kw,ev_late_kw\n" +
                      engine::format_timestamp(t0) + ",11.0,11.0,7.0,5.0,3.7\n" +
                      engine::format_timestamp(t0 + 400ms) + ",7.4,11.0,7.0,5.0,3.7\n";
    auto r = http_request(api_port, "POST", "/api/v1/schedules", csv, "text/csv");
    ASSERT_EQ(r.status, 201u) << r.body;
    rapidjson::Document answer;
    answer.Parse(r.body.c_str());
    ASSERT_EQ(answer["commands"].Size(), 6u);  // ev_w twice, the others once
    std::map<std::string, std::vector<std::string>> by_asset;
    // Named: a temporary document would die before the loop reads it.
    const auto listed = get_json(api_port, "/api/v1/commands");
    for (const auto& c : listed["commands"].GetArray())
        by_asset[c["asset_id"].GetString()].push_back(c["command_id"].GetString());

    // W: 11 kW then 7.4 kW as a TxDefaultProfile in watts; change detection end to end.
    auto w = received.await("CP0001", 2);
    ASSERT_GE(w.size(), 2u);
    EXPECT_EQ(limit_of(w[0]).purpose, "TxDefaultProfile");
    EXPECT_EQ(limit_of(w[0]).unit, "W");
    EXPECT_DOUBLE_EQ(limit_of(w[0]).limit, 11000.0);
    EXPECT_DOUBLE_EQ(limit_of(w[1]).limit, 7400.0);

    // A: 11 kW over 3 x 230 V = 15.94 A, rounded down to 15.9, with numberPhases.
    auto a = received.await("CP0002", 1);
    ASSERT_GE(a.size(), 1u);
    EXPECT_EQ(limit_of(a[0]).unit, "A");
    EXPECT_DOUBLE_EQ(limit_of(a[0]).limit, 15.9);
    EXPECT_EQ(limit_of(a[0]).phases, 3);

    // Rejected, retried after the backoff, accepted the second time.
    auto rejected = await_command(api_port, by_asset["ast_rej"][0], [](const auto& d) {
        return d["retry_count"].GetInt() >= 1 || !status_is(d, "DISPATCHED");
    });
    EXPECT_EQ(std::string(rejected["error"].GetString()), "Rejected");
    fleet.set_answer("CP0003", *sim::AnswerMode::parse("accept"));
    auto accepted = await_command(api_port, by_asset["ast_rej"][0], [](const auto& d) {
        return status_is(d, "COMPLETED") || status_is(d, "FAILED");
    });
    EXPECT_STREQ(accepted["status"].GetString(), "COMPLETED") << gw.output();
    EXPECT_GE(accepted["retry_count"].GetInt(), 1);

    // Never answered: each attempt times out; TIMED_OUT after the retries.
    auto silent = await_command(api_port, by_asset["ast_silent"][0],
                                [](const auto& d) { return status_is(d, "TIMED_OUT"); });
    EXPECT_STREQ(silent["status"].GetString(), "TIMED_OUT");
    EXPECT_STREQ(silent["error"].GetString(), "timeout");
    EXPECT_EQ(silent["retry_count"].GetInt(), 2);

    // Not connected: fails at once each attempt, FAILED with "not connected".
    auto late = await_command(api_port, by_asset["ast_late"][0],
                              [](const auto& d) { return status_is(d, "FAILED"); });
    EXPECT_STREQ(late["status"].GetString(), "FAILED");
    EXPECT_STREQ(late["error"].GetString(), "not connected");

    // ... and when that charger connects later, it gets its current limit.
    sim::ChargerOptions late_charger;
    late_charger.identity = "CP0005";
    sim::ChargerFleet late_fleet(io, fo, {late_charger}, std::ref(received));
    late_fleet.start();
    auto resent = received.await("CP0005", 1);
    ASSERT_GE(resent.size(), 1u) << gw.output();
    EXPECT_DOUBLE_EQ(limit_of(resent[0]).limit, 3700.0);

    // The assets report their connections.
    auto assets = get_json(api_port, "/api/v1/assets");
    for (const auto& asset : assets["assets"].GetArray())
        EXPECT_TRUE(asset["connected"].GetBool()) << asset["id"].GetString();

    // ... and /metrics counts them, and counts them down as they leave.
    const std::string connected_metric = "gridgate_assets_connected{adapter=\"ocpp\"} ";
    EXPECT_TRUE(metric_becomes(api_port, connected_metric + "5\n")) << gw.output();
    late_fleet.stop();
    EXPECT_TRUE(metric_becomes(api_port, connected_metric + "4\n")) << gw.output();
    fleet.stop();
    EXPECT_TRUE(metric_becomes(api_port, connected_metric + "0\n")) << gw.output();
    EXPECT_EQ(gw.stop(SIGTERM), 0) << gw.output();
    work.reset();
    io.stop();
    io_thread.join();
}
