// The charger simulator against the real central system, in one process.
#include <gtest/gtest.h>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <future>
#include <random>
#include <thread>

#include "gridgate/sim/charger_fleet.hpp"
#include "ocpp_test_support.hpp"

namespace gridgate::ocpp {
namespace {

using namespace test;
using sim::AnswerMode;

struct SimRun {
    SimRun(std::uint16_t port, std::vector<sim::ChargerOptions> chargers,
           sim::FleetOptions options = {})
        : work(net::make_work_guard(io)) {
        options.host = "127.0.0.1";
        options.port = port;
        options.reconnect_delay = std::chrono::milliseconds(50);
        fleet = std::make_unique<sim::ChargerFleet>(io, options, std::move(chargers),
                                                    [this](const sim::SimEvent& event) {
                                                        std::lock_guard lock(mutex);
                                                        events.push_back(event);
                                                    });
        fleet->start();
        thread = std::thread([this] { io.run(); });
    }
    ~SimRun() {
        fleet->stop();
        work.reset();
        thread.join();
    }
    std::size_t count(std::string_view kind, std::string_view action = {}) const {
        std::lock_guard lock(mutex);
        std::size_t n = 0;
        for (const auto& e : events) {
            if (e.kind == kind && (action.empty() || e.action == action)) ++n;
        }
        return n;
    }
    std::vector<sim::SimEvent> of(std::string_view kind) const {
        std::lock_guard lock(mutex);
        std::vector<sim::SimEvent> out;
        for (const auto& e : events) {
            if (e.kind == kind) out.push_back(e);
        }
        return out;
    }

    net::io_context io;
    net::executor_work_guard<net::io_context::executor_type> work;
    std::unique_ptr<sim::ChargerFleet> fleet;
    std::thread thread;
    mutable std::mutex mutex;
    std::vector<sim::SimEvent> events;
};

std::vector<sim::ChargerOptions> chargers(std::size_t n) {
    std::vector<sim::ChargerOptions> out;
    for (const auto& id : sim::numbered_identities("CP", n)) {
        sim::ChargerOptions options;
        options.identity = id;
        out.push_back(options);
    }
    return out;
}

const char* kProfile =
    R"({"connectorId":1,"csChargingProfiles":{"chargingProfileId":1,"stackLevel":0,"chargingProfilePurpose":"TxDefaultProfile","chargingProfileKind":"Relative","chargingSchedule":{"chargingRateUnit":"W","chargingSchedulePeriod":[{"startPeriod":0,"limit":7400.5}]}}})";

TEST(ChargerSim, AnswerModes) {
    TestServer server;
    auto fleet_chargers = chargers(4);
    fleet_chargers[1].answer = AnswerMode{AnswerMode::Kind::Reject, {}};
    fleet_chargers[2].answer = *AnswerMode::parse("delay:150");
    fleet_chargers[3].answer = *AnswerMode::parse("silent");
    SimRun run(server.server->port(), fleet_chargers);
    ASSERT_TRUE(wait_until([&] { return run.fleet->booted_count() == 4; }));

    auto accepted = server.call("CP0001", "SetChargingProfile", kProfile);
    ASSERT_TRUE(accepted.ok()) << accepted.reason();
    EXPECT_STREQ(accepted.payload["status"].GetString(), "Accepted");

    auto rejected = server.call("CP0002", "SetChargingProfile", kProfile);
    EXPECT_STREQ(rejected.payload["status"].GetString(), "Rejected");

    const auto before = std::chrono::steady_clock::now();
    auto delayed = server.call("CP0003", "SetChargingProfile", kProfile);
    EXPECT_TRUE(delayed.ok());
    EXPECT_GE(std::chrono::steady_clock::now() - before, std::chrono::milliseconds(150));

    auto silent =
        server.call("CP0004", "SetChargingProfile", kProfile, std::chrono::milliseconds(200));
    EXPECT_EQ(silent.kind, CallOutcome::Kind::Timeout);

    // The simulator reports what it received, payload included.
    ASSERT_TRUE(wait_until([&] { return run.count("call", "SetChargingProfile") == 4; }));
    const auto calls = run.of("call");
    const auto line = calls.front().to_json_line();
    EXPECT_NE(line.find(R"("event":"call","action":"SetChargingProfile")"), std::string::npos)
        << line;
    EXPECT_NE(line.find(R"("limit":7400.5)"), std::string::npos) << line;
}

// The charge point id is sent as the serial number where it fits the
// schema's 25 characters; a charger with a longer id boots without one.
TEST(ChargerSim, BootsWhateverTheLengthOfItsId) {
    TestServer server;
    const std::string fits = "CP" + std::string(23, '5');
    const std::string longer = "CP" + std::string(24, '6');
    std::vector<sim::ChargerOptions> fleet_chargers(2);
    fleet_chargers[0].identity = fits;
    fleet_chargers[1].identity = longer;
    SimRun run(server.server->port(), fleet_chargers);
    ASSERT_TRUE(wait_until([&] { return run.fleet->booted_count() == 2; }));
    EXPECT_EQ(run.count("call_error"), 0u);
    auto fits_boot = server.handler->core.boot_info(fits);
    ASSERT_TRUE(fits_boot);
    EXPECT_EQ(fits_boot->charge_point_serial_number, fits);
    auto longer_boot = server.handler->core.boot_info(longer);
    ASSERT_TRUE(longer_boot);
    EXPECT_FALSE(longer_boot->charge_point_serial_number);
}

// With report_kinds, only those events are built and reported; a call's
// payload is reported as the central system sent it.
TEST(ChargerSim, ReportsOnlyTheKindsAskedFor) {
    TestServer server;
    sim::FleetOptions options;
    options.report_kinds = {"call"};
    SimRun run(server.server->port(), chargers(1), options);
    ASSERT_TRUE(wait_until([&] { return run.fleet->booted_count() == 1; }));
    auto accepted = server.call("CP0001", "SetChargingProfile", kProfile);
    ASSERT_TRUE(accepted.ok()) << accepted.reason();
    ASSERT_TRUE(wait_until([&] { return run.count("call") == 1; }));
    std::lock_guard lock(run.mutex);
    ASSERT_EQ(run.events.size(), 1u);  // no connected, booted or answered
    EXPECT_EQ(run.events[0].payload, to_json_text(parse(kProfile)));
}

TEST(ChargerSim, CallPayloadTextIsTheFramesOwn) {
    EXPECT_EQ(sim::call_payload_text(R"([2,"7","Reset",{"type":"Soft"}])"), R"({"type":"Soft"})");
    EXPECT_EQ(sim::call_payload_text(" [ 2 , \"a\\\"],b\" , \"Reset\" ,  {\"type\": \"Hard\"} ] "),
              "{\"type\": \"Hard\"}");
    EXPECT_EQ(sim::call_payload_text(R"([2,"7","Heartbeat",{}])"), "{}");
    EXPECT_EQ(sim::call_payload_text(R"([3,"7",{}])"), "");
    EXPECT_EQ(sim::call_payload_text("garbage"), "");
}

TEST(ChargerSim, BootStatusAndTransactionReachTheCore) {
    auto handler = std::make_shared<RecordingHandler>();
    TestServer server({}, handler);
    auto fleet_chargers = chargers(1);
    fleet_chargers[0].start_transaction = true;
    fleet_chargers[0].allowed_charging_rate_unit = "Current";
    SimRun run(server.server->port(), fleet_chargers);
    ASSERT_TRUE(wait_until([&] { return run.count("transaction_started") == 1; }));
    EXPECT_TRUE(handler->core.boot_info("CP0001"));
    EXPECT_TRUE(wait_until([&] {
        auto c = handler->core.connector("CP0001", 1);
        return c && c->status == "Charging";
    }));
    EXPECT_TRUE(handler->core.running_transaction("CP0001", 1));

    auto config = server.call("CP0001", "GetConfiguration",
                              R"({"key":["ChargingScheduleAllowedChargingRateUnit"]})");
    ASSERT_TRUE(config.ok()) << config.reason();
    EXPECT_STREQ(config.payload["configurationKey"][0]["value"].GetString(), "Current");
}

// The simulator's StartTransaction, sent right after its answer to the
// remote start, goes out at once: not held back by Nagle's algorithm until
// the central system acknowledges the answer (a delayed ACK, 40 ms).
TEST(ChargerSim, AStartRightAfterItsAnswerIsNotHeldForAnAcknowledgement) {
    struct Handler : RecordingHandler {
        std::optional<HandlerError> on_call(std::string_view identity, std::string_view action,
                                            const rapidjson::Value& payload,
                                            rapidjson::Document& response) override {
            if (action == "StartTransaction") {
                std::lock_guard lock(mutex);
                starts.push_back(std::chrono::steady_clock::now());
            }
            return RecordingHandler::on_call(identity, action, payload, response);
        }
        std::size_t start_count() const {
            std::lock_guard lock(mutex);
            return starts.size();
        }
        std::vector<std::chrono::steady_clock::time_point> starts;
    };
    auto handler = std::make_shared<Handler>();
    TestServer server({}, handler);
    SimRun run(server.server->port(), chargers(1));
    ASSERT_TRUE(wait_until([&] { return run.fleet->booted_count() == 1; }));
    std::vector<double> gaps;
    for (int connector = 1; connector <= 6; ++connector) {
        auto answered = std::make_shared<std::promise<std::chrono::steady_clock::time_point>>();
        auto when = answered->get_future();
        server.server->call(
            "CP0001", "RemoteStartTransaction",
            parse(R"({"idTag":"TAG","connectorId":)" + std::to_string(connector) + "}"),
            [answered](CallOutcome) { answered->set_value(std::chrono::steady_clock::now()); });
        const auto answer_time = when.get();
        ASSERT_TRUE(wait_until(
            [&] { return handler->start_count() == static_cast<std::size_t>(connector); }));
        std::lock_guard lock(handler->mutex);
        gaps.push_back(
            std::chrono::duration<double, std::milli>(handler->starts.back() - answer_time)
                .count());
    }
    // Held back, a start comes a delayed ACK (at least 40 ms) after its
    // answer: every other one of these, as the central system's ACKs
    // alternate between delayed and quick. One slow gap is let pass, for a
    // noisy moment.
    EXPECT_LE(std::count_if(gaps.begin(), gaps.end(), [](double gap) { return gap > 30.0; }), 1)
        << "milliseconds from the answer to the StartTransaction";
}

TEST(ChargerSim, ReconnectsAfterTheServerDropsIt) {
    auto handler = std::make_shared<RecordingHandler>();
    TestServer server({.max_frame_bytes = 512}, handler);
    SimRun run(server.server->port(), chargers(1));
    ASSERT_TRUE(wait_until([&] { return run.fleet->booted_count() == 1; }));
    // An oversize frame makes the server close the connection (1009).
    run.fleet->send_raw("CP0001", R"([2,"x","DataTransfer",{"vendorId":"v","data":")" +
                                      std::string(1024, 'x') + "\"}]");
    ASSERT_TRUE(wait_until([&] { return run.count("disconnected") == 1; }));
    EXPECT_NE(run.of("disconnected")[0].detail.find("1009"), std::string::npos);
    ASSERT_TRUE(wait_until([&] { return run.count("booted") == 2; }));
    EXPECT_TRUE(server.server->is_connected("CP0001"));
}

TEST(ChargerSim, TlsWithBasicAuth) {
    TestCertificate certificate;
    TestServer server({.security_profile = SecurityProfile::TlsBasicAuth,
                       .tls_certificate = certificate.certificate,
                       .tls_private_key = certificate.private_key},
                      std::make_shared<RecordingHandler>(), [](const HandshakeRequest& request) {
                          return credentials_match(request.credentials, request.identity, "pw")
                                     ? HandshakeDecision::Accept
                                     : HandshakeDecision::Unauthorized;
                      });
    auto fleet_chargers = chargers(2);
    fleet_chargers[0].password = "pw";
    fleet_chargers[1].password = "wrong";
    sim::FleetOptions options;
    options.tls = true;
    options.ca_file = certificate.certificate.string();
    options.reconnect = false;
    SimRun run(server.server->port(), fleet_chargers, options);
    ASSERT_TRUE(wait_until([&] { return run.fleet->booted_count() == 1; }));
    ASSERT_TRUE(wait_until([&] { return run.count("handshake_failed") == 1; }));
    EXPECT_EQ(run.of("handshake_failed")[0].identity, "CP0002");
    EXPECT_TRUE(server.server->is_connected("CP0001"));
    EXPECT_FALSE(server.server->is_connected("CP0002"));
}

TEST(ChargerSim, ATlsRefusalSaysWhatWasWrongWithTheCertificate) {
    struct Case {
        long not_before, not_after;
        const char* san;
        bool trusted;  // the fleet's CA file is the server's certificate
        std::string detail;
    };
    const Case cases[] = {
        {-3600, 3600, "IP:127.0.0.2", true,
         "TLS handshake: certificate verify failed (IP address mismatch)"},
        {-7200, -3600, "IP:127.0.0.1", true,
         "TLS handshake: certificate verify failed (certificate has expired)"},
        {-3600, 3600, "IP:127.0.0.1", false,
         "TLS handshake: certificate verify failed (self-signed certificate)"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.detail);
        TestCertificate certificate(c.not_before, c.not_after, c.san);
        TestCertificate other;
        TestServer server({.security_profile = SecurityProfile::TlsBasicAuth,
                           .tls_certificate = certificate.certificate,
                           .tls_private_key = certificate.private_key},
                          std::make_shared<RecordingHandler>(),
                          [](const HandshakeRequest&) { return HandshakeDecision::Accept; });
        sim::FleetOptions options;
        options.tls = true;
        options.ca_file = (c.trusted ? certificate : other).certificate.string();
        options.reconnect = false;
        SimRun run(server.server->port(), chargers(1), options);
        ASSERT_TRUE(wait_until([&] { return run.count("handshake_failed") == 1; }));
        EXPECT_EQ(run.of("handshake_failed")[0].detail, c.detail);
        EXPECT_FALSE(server.server->is_connected("CP0001"));
    }
}

TEST(ChargerSim, AServerThatNeverAnswersTheTlsHandshakeTimesOut) {
    // A listener that accepts and then says nothing.
    net::io_context io;
    net::ip::tcp::acceptor acceptor(io, {net::ip::make_address("127.0.0.1"), 0});
    net::ip::tcp::socket silent(io);
    acceptor.async_accept(silent, [](boost::system::error_code) {});
    std::thread accepting([&] { io.run(); });
    sim::FleetOptions options;
    options.tls = true;
    options.tls_insecure = true;
    options.reconnect = false;
    options.connect_timeout = std::chrono::milliseconds(300);
    const auto started = std::chrono::steady_clock::now();
    {
        SimRun run(acceptor.local_endpoint().port(), chargers(1), options);
        ASSERT_TRUE(wait_until([&] { return run.count("handshake_failed") == 1; }));
        EXPECT_EQ(run.of("handshake_failed")[0].detail, "TLS handshake: timed out after 300 ms");
    }
    EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(300));
    accepting.join();
}

TEST(ChargerSim, AFleetOfTwoHundredConnectsAndAnswersAtOnce) {
    TestServer server;
    SimRun run(server.server->port(), chargers(200));
    ASSERT_TRUE(wait_until([&] { return run.fleet->booted_count() == 200; }, 20s));
    EXPECT_EQ(server.server->connected().size(), 200u);
    std::atomic<int> ok{0};
    std::atomic<int> done{0};
    const auto payload = parse(kProfile);
    for (const auto& id : sim::numbered_identities("CP", 200)) {
        server.server->call(id, "SetChargingProfile", payload, [&](CallOutcome outcome) {
            if (outcome.ok()) ++ok;
            ++done;
        });
    }
    ASSERT_TRUE(wait_until([&] { return done == 200; }, 20s));
    EXPECT_EQ(ok, 200);
}

TEST(ChargerSim, ACallIsTimedByItsArrivalNotByWhenTheFleetGotToIt) {
    TestServer server;
    SimRun run(server.server->port(), chargers(1));
    ASSERT_TRUE(wait_until([&] { return run.fleet->booted_count() == 1; }));
    // The fleet's only thread is busy for 300 ms while the call arrives.
    std::promise<void> busy;
    net::post(run.io, [&] {
        busy.set_value();
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
    });
    busy.get_future().wait();
    const auto sent = std::chrono::system_clock::now();
    auto outcome = server.call("CP0001", "SetChargingProfile", kProfile);
    ASSERT_TRUE(outcome.ok()) << outcome.reason();
    EXPECT_GE(std::chrono::system_clock::now() - sent, std::chrono::milliseconds(250));
    ASSERT_TRUE(wait_until([&] { return run.count("call", "SetChargingProfile") == 1; }));
    // Stamped by the kernel as it came in, not when it was read 300 ms later.
    const auto arrived = run.of("call").back().at;
    EXPECT_GE(arrived, sent - std::chrono::milliseconds(5));
    EXPECT_LT(arrived - sent, std::chrono::milliseconds(150));
}

TEST(ChargerSim, ReportLinesCarryTheTimeToTheMicrosecond) {
    sim::SimEvent call{"CP0001", "call", "SetChargingProfile", "7", R"({"connectorId":1})", ""};
    call.at = std::chrono::sys_days{std::chrono::November / 27 / 2026} + std::chrono::hours(4) +
              std::chrono::microseconds(123456);
    EXPECT_EQ(call.to_json_line(),
              R"({"t":"2026-11-27T04:00:00.123456Z","cp":"CP0001","event":"call",)"
              R"("action":"SetChargingProfile","message_id":"7","payload":{"connectorId":1}})");
    call.at = std::chrono::sys_days{std::chrono::November / 27 / 2026} + std::chrono::seconds(5);
    EXPECT_NE(call.to_json_line().find(R"("t":"2026-11-27T00:00:05.000000Z")"), std::string::npos);
}

// The report line as a RapidJSON writer writes it: what the lines were, and
// what programs reading them were written against.
std::string line_by_rapidjson(const sim::SimEvent& e, const std::string& time) {
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    auto put = [&writer](const char* key, const std::string& value) {
        writer.Key(key);
        writer.String(value.c_str(), static_cast<rapidjson::SizeType>(value.size()));
    };
    writer.StartObject();
    put("t", time);
    put("cp", e.identity);
    put("event", e.kind);
    if (!e.action.empty()) put("action", e.action);
    if (!e.message_id.empty()) put("message_id", e.message_id);
    if (!e.payload.empty()) {
        writer.Key("payload");
        writer.RawValue(e.payload.c_str(), e.payload.size(), rapidjson::kObjectType);
    }
    if (!e.detail.empty()) put("detail", e.detail);
    writer.EndObject();
    return {buffer.GetString(), buffer.GetSize()};
}

TEST(ChargerSim, ReportLinesEscapeAsRapidJsonDoes) {
    std::mt19937 random(29112026);
    std::uniform_int_distribution<int> length(0, 40), byte(1, 255), plain(0x20, 0x7e), kind(0, 5);
    auto text = [&] {
        std::string s(static_cast<std::size_t>(length(random)), ' ');
        for (char& c : s) c = static_cast<char>(kind(random) == 0 ? byte(random) : plain(random));
        return s;
    };
    for (int round = 0; round < 3000; ++round) {
        sim::SimEvent e{text(),
                        text(),
                        round % 3 ? text() : "",
                        round % 2 ? text() : "",
                        round % 4 ? R"({"a":[1,"\u00e9"]})" : "",
                        round % 5 ? text() : ""};
        e.at = std::chrono::sys_days{std::chrono::March / 1 / 2024} +
               std::chrono::microseconds(
                   std::uniform_int_distribution<long long>(0, 400LL * 86400 * 1000000)(random));
        const auto line = e.to_json_line();
        ASSERT_GT(line.size(), 40u);
        const std::string time = line.substr(6, 27);  // {"t":"...": the time as written
        ASSERT_EQ(line, line_by_rapidjson(e, time)) << "round " << round;
        // And the time is `at`, to the microsecond.
        const auto micros =
            std::chrono::duration_cast<std::chrono::microseconds>(e.at.time_since_epoch()) %
            std::chrono::seconds(1);
        char fraction[16];
        std::snprintf(fraction, sizeof fraction, ".%06lldZ",
                      static_cast<long long>(micros.count()));
        EXPECT_EQ(time.substr(19), fraction);
        EXPECT_EQ(parse_timestamp(time.substr(0, 19) + "Z"),
                  std::chrono::floor<std::chrono::seconds>(e.at));
    }
}

TEST(ChargerSim, AnswerModeParsing) {
    EXPECT_EQ(AnswerMode::parse("delay:250")->delay, std::chrono::milliseconds(250));
    EXPECT_EQ(AnswerMode::parse("silent")->kind, AnswerMode::Kind::Silent);
    EXPECT_EQ(AnswerMode::parse("invalid")->kind, AnswerMode::Kind::Invalid);
    EXPECT_EQ(AnswerMode::parse("invalid")->to_string(), "invalid");
    EXPECT_FALSE(AnswerMode::parse("delay:"));
    EXPECT_FALSE(AnswerMode::parse("delay:-3"));
    EXPECT_FALSE(AnswerMode::parse("maybe"));
    EXPECT_EQ(sim::numbered_identities("CP", 2, 9), (std::vector<std::string>{"CP0009", "CP0010"}));
}

}  // namespace
}  // namespace gridgate::ocpp
