// The gridgate daemon end to end: the real binary, a site file, the test
// plugin "testgood" loaded from disk, the HTTP API over loopback.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

#include "gateway_process.hpp"
#include "gridgate/engine/timestamp.hpp"
#include "gridgate/gateway/process.hpp"
#include "http_client.hpp"

using namespace gridgate;
using namespace gridgate::testing;
using namespace gridgate::tools;
using namespace std::chrono_literals;

namespace {

const std::string kBinary = GRIDGATE_BINARY;
const std::string kPluginDir = GRIDGATE_TEST_PLUGIN_DIR;

std::string site_file(unsigned short port, const std::string& extra_api = "",
                      const std::string& extra_adapter = "") {
    return R"([site]
name = "e2e"

[api]
listen = "127.0.0.1:)" +
           std::to_string(port) + "\"\n" + extra_api + R"(

[engine]
max_retries = 1
timeout_seconds = 0.5
retry_backoff_seconds = 0.2

[plugins]
dirs = [")" +
           kPluginDir + R"("]

[adapters.sim]
plugin = "testgood"
)" + extra_adapter +
           R"(

[[assets]]
id = "ast_ok"
type = "ev_charger"
adapter = "sim"
behaviour = "ok"

[[assets]]
id = "ast_reject"
type = "ev_charger"
adapter = "sim"
behaviour = "fail"

[[assets]]
id = "ast_silent"
type = "battery"
adapter = "sim"
behaviour = "never"

[schedule.asset_map]
ev_001 = "ast_ok"
ev_002 = "ast_reject"
battery = "ast_silent"
)";
}

rapidjson::Document parse(const std::string& body) {
    rapidjson::Document d;
    d.Parse(body.c_str());
    EXPECT_FALSE(d.HasParseError()) << body;
    return d;
}

// A running gateway on a free port.
class Daemon {
  public:
    explicit Daemon(const std::string& extra_api = "")
        : port_(free_tcp_port()),
          site_(write_temp_file("site.toml", site_file(port_, extra_api))),
          process_(kBinary, {"--config", site_.string(), "--log-level", "debug"}) {
        if (!process_.wait_for_output("HTTP API on"))
            throw std::runtime_error("gridgate did not start:\n" + process_.output());
    }
    unsigned short port() const { return port_; }
    ChildProcess& process() { return process_; }

    rapidjson::Document command(const std::string& id) {
        auto r = http_request(port_, "GET", "/api/v1/commands/" + id);
        EXPECT_EQ(r.status, 200u) << r.body;
        return parse(r.body);
    }
    // Polls a command until its status is `want` (or 5 s pass).
    rapidjson::Document await_status(const std::string& id, const std::string& want) {
        auto deadline = std::chrono::steady_clock::now() + 5s;
        for (;;) {
            auto d = command(id);
            if (std::string(d["status"].GetString()) == want ||
                std::chrono::steady_clock::now() > deadline)
                return d;
            std::this_thread::sleep_for(20ms);
        }
    }

  private:
    unsigned short port_;
    std::filesystem::path site_;
    ChildProcess process_;
};

// A CSV whose rows start `lead` from now, one per `slot`.
std::string schedule_csv(const std::string& header, const std::vector<std::string>& rows,
                         std::chrono::milliseconds lead, std::chrono::milliseconds slot) {
    auto t0 = std::chrono::time_point_cast<std::chrono::milliseconds>(sdk::Clock::now()) + lead;
    std::string csv = header + "\n";
    for (std::size_t i = 0; i < rows.size(); ++i)
        csv += engine::format_timestamp(t0 + slot * static_cast<int>(i)) + "," + rows[i] + "\n";
    return csv;
}

// "FILE:LINE:1" of the line holding `needle` in `text`.
std::string at_line_of(const std::string& file, const std::string& text,
                       const std::string& needle) {
    auto pos = text.find(needle);
    auto line = 1 + std::count(text.begin(), text.begin() + static_cast<long>(pos), '\n');
    return file + ":" + std::to_string(line) + ":1: ";
}

std::vector<std::string> ids_of(const rapidjson::Document& d) {
    std::vector<std::string> out;
    for (const auto& v : d["commands"].GetArray()) out.emplace_back(v.GetString());
    return out;
}

}  // namespace

TEST(GatewayCli, VersionAndHelp) {
    auto v = run_to_completion(kBinary, {"--version"});
    EXPECT_EQ(v.exit_code, 0);
    EXPECT_NE(v.output.find("gridgate "), std::string::npos);
    auto h = run_to_completion(kBinary, {"--help"});
    EXPECT_EQ(h.exit_code, 0);
    EXPECT_NE(h.output.find("--check-config"), std::string::npos);
    auto bad = run_to_completion(kBinary, {"--no-such-flag"});
    EXPECT_EQ(bad.exit_code, 2);
}

TEST(GatewayCli, CheckConfigAcceptsAValidSite) {
    auto site = write_temp_file("site.toml", site_file(free_tcp_port()));
    auto r = run_to_completion(kBinary, {"--config", site.string(), "--check-config"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find(": ok"), std::string::npos);
    // A stray word is a usage error, never silently dropped: `gridgate
    // --check-config site.toml` must not pass for a check of nothing.
    auto stray = run_to_completion(kBinary, {"--config", site.string(), "stray", "--check-config"});
    EXPECT_EQ(stray.exit_code, 2) << stray.output;
    EXPECT_NE(stray.output.find("'stray'"), std::string::npos) << stray.output;
}

// A plugin's warning (sdk::warning()) is printed by --check-config, which
// still passes, and logged once when the gateway starts the adapter.
TEST(GatewayCli, CheckConfigPrintsAPluginsWarningAndPasses) {
    const std::string text = site_file(free_tcp_port(), "", "warn = \"check the wiring\"\n");
    auto site = write_temp_file("warned.toml", text);
    const std::string warning =
        at_line_of(site.string(), text, "warn =") + "warning: check the wiring";
    auto r = run_to_completion(kBinary, {"--config", site.string(), "--check-config"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find(warning + "\n"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(site.string() + ": ok"), std::string::npos) << r.output;

    ChildProcess gw(kBinary, {"--config", site.string()});
    ASSERT_TRUE(gw.wait_for_output("HTTP API on")) << gw.output();
    const std::string out = gw.output();
    const auto first = out.find(warning);
    ASSERT_NE(first, std::string::npos) << out;
    EXPECT_NE(out.rfind("[sim] " + warning), std::string::npos) << out;
    EXPECT_EQ(out.find(warning, first + 1), std::string::npos) << "logged twice:\n" << out;
}

// `--check-config` on the test site with a host key typo ([engine]'s
// max_retries) and `edit`'s changes: exit 2, the typo at its line.
struct BrokenSite {
    std::string text;
    std::filesystem::path site;
    RunResult check;
};
BrokenSite check_with_a_host_typo(const std::function<void(std::string&)>& edit) {
    BrokenSite b{site_file(8080), {}, {}};
    b.text.replace(b.text.find("max_retries = 1"), 15, "max_retrys = 1");
    edit(b.text);
    b.site = write_temp_file("broken.toml", b.text);
    b.check = run_to_completion(kBinary, {"--config", b.site.string(), "--check-config"});
    EXPECT_EQ(b.check.exit_code, 2) << b.check.output;
    EXPECT_NE(b.check.output.find(at_line_of(b.site.string(), b.text, "max_retrys") +
                                  "unknown key 'max_retrys'"),
              std::string::npos)
        << b.check.output;
    return b;
}

TEST(GatewayCli, CheckConfigReportsEveryErrorWithItsPosition) {
    // Beside the host's typo, a plugin key typo and a bad plugin value.
    const auto [text, site, r] = check_with_a_host_typo([](std::string& t) {
        t.replace(t.find("behaviour = \"fail\""), 18, "behavior = \"fail\"");
        t.replace(t.find("behaviour = \"never\""), 19, "behaviour = \"sometimes\"");
    });
    const std::string f = site.string();
    EXPECT_NE(r.output.find("did you mean 'max_retries'"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(at_line_of(f, text, "behavior =") + "unknown key 'behavior'"),
              std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find(at_line_of(f, text, "sometimes") + "'behaviour' must be one of"),
              std::string::npos)
        << r.output;
    // Each once: the plugin's own check repeats its key checks.
    EXPECT_EQ(r.output.find("unknown key 'behavior'"), r.output.rfind("unknown key 'behavior'"))
        << r.output;

    // Starting with the same file fails the same way: nothing starts.
    auto run = run_to_completion(kBinary, {"--config", site.string()});
    EXPECT_EQ(run.exit_code, 2);
    EXPECT_NE(run.output.find(at_line_of(f, text, "max_retrys") + "unknown key 'max_retrys'"),
              std::string::npos);
}

// A plugin's own checks (beyond its keys) run even when the host found
// errors elsewhere in the file: one run, every problem.
TEST(GatewayCli, CheckConfigRunsThePluginsChecksBesideTheHostsErrors) {
    const auto [text, site, r] = check_with_a_host_typo([](std::string& t) {
        t.replace(t.find("behaviour = \"ok\""), 16, "behaviour = \"ok\"\nlimit_kw = 500.0");
    });
    EXPECT_NE(r.output.find(at_line_of(site.string(), text, "limit_kw = 500") +
                            "asset 'ast_ok': limit_kw exceeds site_limit_kw"),
              std::string::npos)
        << r.output;
}

// An attempt that fails and is not retried because a newer setpoint
// overtook it is an adapter error as much as one that is retried.
TEST(GatewayDaemon, AFailedAttemptCancelledInsteadOfRetriedCountsAsAnAdapterError) {
    Daemon gw;
    // The battery never answers (timeout 0.5 s, backoff 0.2 s): the first
    // command's retry would come after the second's slot, so it is cancelled;
    // the second is retried once and times out.
    auto csv = schedule_csv("timestamp,battery_charge_kw", {"5.0", "6.0"}, 300ms, 300ms);
    auto r = http_request(gw.port(), "POST", "/api/v1/schedules", csv, "text/csv");
    ASSERT_EQ(r.status, 201u) << r.body;
    auto ids = ids_of(parse(r.body));
    ASSERT_EQ(ids.size(), 2u);
    EXPECT_STREQ(gw.await_status(ids[0], "CANCELLED")["status"].GetString(), "CANCELLED");
    EXPECT_STREQ(gw.await_status(ids[1], "TIMED_OUT")["status"].GetString(), "TIMED_OUT");
    const auto metrics = http_request(gw.port(), "GET", "/metrics").body;
    EXPECT_NE(metrics.find("gridgate_adapter_errors_total{adapter=\"sim\"} 3\n"), std::string::npos)
        << metrics;
}

// An adapter that blocks in execute() (which the SDK forbids) is named: in
// the 503 of a health check it holds up, and in the log.
TEST(GatewayDaemon, AnAdapterBlockingInExecuteIsNamed) {
    const auto port = free_tcp_port();
    std::string text = site_file(port);
    text.replace(text.find("behaviour = \"fail\""), 18, "behaviour = \"block\"");
    auto site = write_temp_file("site.toml", text);
    ChildProcess gw(kBinary, {"--config", site.string()});
    ASSERT_TRUE(gw.wait_for_output("HTTP API on")) << gw.output();

    auto csv = schedule_csv("timestamp,ev_002_kw", {"5.0"}, 100ms, 300ms);
    auto r = http_request(port, "POST", "/api/v1/schedules", csv, "text/csv");
    ASSERT_EQ(r.status, 201u) << r.body;
    const auto id = ids_of(parse(r.body)).at(0);
    ASSERT_TRUE(gw.wait_for_output("COMMAND_DISPATCHED command_id=" + id)) << gw.output();

    // The adapter holds the strand for 3 s; the health check waits 2 s.
    const std::string who = "adapter 'sim' (plugin testgood) has been in execute() of " + id;
    auto health = http_request(port, "GET", "/healthz");
    EXPECT_EQ(health.status, 503u);
    EXPECT_NE(health.body.find("engine not responding within 2000 ms: " + who + " for "),
              std::string::npos)
        << health.body;
    EXPECT_TRUE(gw.wait_for_output("engine: " + who)) << gw.output();
    EXPECT_TRUE(gw.wait_for_output("COMMAND_COMPLETED command_id=" + id)) << gw.output();
    EXPECT_EQ(http_request(port, "GET", "/healthz").status, 200u);
    EXPECT_EQ(gw.stop(SIGTERM), 0) << gw.output();
}

// --check-config of the test site with its adapter's plugin named `plugin`.
BrokenSite check_with_plugin(const std::string& plugin) {
    BrokenSite b{site_file(8080), {}, {}};
    b.text.replace(b.text.find("plugin = \"testgood\""), 19, "plugin = \"" + plugin + "\"");
    b.site = write_temp_file("site.toml", b.text);
    b.check = run_to_completion(kBinary, {"--config", b.site.string(), "--check-config"});
    return b;
}

TEST(GatewayCli, CheckConfigNamesAMissingPlugin) {
    const auto [text, site, r] = check_with_plugin("nosuch");
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.output.find(at_line_of(site.string(), text, "nosuch") +
                            "adapter 'sim' names plugin 'nosuch', which was not found"),
              std::string::npos)
        << r.output;
}

TEST(GatewayCli, CheckConfigSaysWhyANamedPluginWasRefused) {
    const auto [text, site, r] = check_with_plugin("tp_wrong_major");
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(
        r.output.find(at_line_of(site.string(), text, "tp_wrong_major") +
                      "adapter 'sim' names plugin 'tp_wrong_major', which is not available: "),
        std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find("tp_wrong_major.so was refused: ABI major version 2 (plugin) does "
                            "not match 1 (gateway)"),
              std::string::npos)
        << r.output;
    EXPECT_EQ(r.output.find("not found"), std::string::npos) << r.output;
}

TEST(GatewayCli, ListPluginsShowsLoadedAndRefused) {
    auto site = write_temp_file("site.toml", site_file(8080));
    auto r = run_to_completion(kBinary, {"--list-plugins", "--config", site.string()});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("testgood"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("tp_wrong_major.so"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("ABI major version 2 (plugin) does not match 1 (gateway)"),
              std::string::npos)
        << r.output;
}

TEST(GatewayDaemon, DispatchesAScheduleOnTimeAndReportsEachOutcome) {
    Daemon gw;
    ASSERT_EQ(http_request(gw.port(), "GET", "/healthz").status, 200u);

    // ev_001: 11, 11, 0 -> two commands; ev_002 is rejected; the battery never answers.
    auto csv = schedule_csv("timestamp,ev_001_kw,ev_002_kw,battery_charge_kw,price",
                            {"11.0,7.0,5.0,80", "11.0,,5.0,81", "0.0,,,82"}, 400ms, 300ms);
    auto r = http_request(gw.port(), "POST", "/api/v1/schedules", csv, "text/csv");
    ASSERT_EQ(r.status, 201u) << r.body;
    auto answer = parse(r.body);
    auto ids = ids_of(answer);
    ASSERT_EQ(ids.size(), 4u);  // ev_001 x2, ev_002 x1, battery x1
    ASSERT_EQ(answer["ignored_columns"].Size(), 1u);
    EXPECT_STREQ(answer["ignored_columns"][0].GetString(), "price");

    // ev_001's two commands complete, each dispatched at or after its time.
    for (const auto& id : {ids[0], ids[1]}) {
        auto c = gw.await_status(id, "COMPLETED");
        ASSERT_STREQ(c["status"].GetString(), "COMPLETED") << id;
        auto scheduled = engine::parse_timestamp(c["scheduled_at"].GetString());
        auto dispatched = engine::parse_timestamp(c["dispatched_at"].GetString());
        ASSERT_TRUE(scheduled && dispatched);
        EXPECT_GE(*dispatched, *scheduled);
        EXPECT_LT(*dispatched - *scheduled, 500ms);
    }
    EXPECT_DOUBLE_EQ(gw.command(ids[1])["parameters"]["power_kw"].GetDouble(), 0.0);

    // A rejection the device calls permanent ends FAILED at once, no retry.
    auto rejected = gw.await_status(ids[2], "FAILED");
    EXPECT_STREQ(rejected["status"].GetString(), "FAILED");
    EXPECT_STREQ(rejected["error"].GetString(), "Rejected");
    EXPECT_EQ(rejected["retry_count"].GetInt(), 0);

    // No answer: timeout, one retry, then TIMED_OUT.
    auto silent = gw.await_status(ids[3], "TIMED_OUT");
    EXPECT_STREQ(silent["status"].GetString(), "TIMED_OUT");
    EXPECT_STREQ(silent["error"].GetString(), "timeout");
    EXPECT_EQ(silent["retry_count"].GetInt(), 1);

    // The log has one line per event.
    EXPECT_TRUE(gw.process().wait_for_output("COMMAND_TIMED_OUT command_id=" + ids[3]));
    EXPECT_NE(gw.process().output().find("COMMAND_COMPLETED command_id=" + ids[0]),
              std::string::npos);

    // Lookups by asset and status.
    auto by_asset = parse(http_request(gw.port(), "GET", "/api/v1/commands?asset_id=ast_ok").body);
    EXPECT_EQ(by_asset["commands"].Size(), 2u);
    auto failed = parse(http_request(gw.port(), "GET", "/api/v1/commands?status=FAILED").body);
    ASSERT_EQ(failed["commands"].Size(), 1u);
    EXPECT_EQ(failed["commands"][0]["command_id"].GetString(), ids[2]);

    // Metrics count what happened.
    auto metrics = http_request(gw.port(), "GET", "/metrics").body;
    EXPECT_NE(
        metrics.find("gridgate_commands_total{type=\"SET_CHARGE_RATE\",status=\"COMPLETED\"} 2"),
        std::string::npos)
        << metrics;
    // Entered PENDING: the four new commands, and the battery's once more for its retry.
    EXPECT_NE(
        metrics.find("gridgate_commands_total{type=\"SET_CHARGE_RATE\",status=\"PENDING\"} 5"),
        std::string::npos)
        << metrics;
    EXPECT_NE(metrics.find("gridgate_schedules_received_total 1"), std::string::npos);
    EXPECT_NE(metrics.find("gridgate_adapter_errors_total{adapter=\"sim\"} 3"), std::string::npos)
        << metrics;

    // SIGTERM: a clean stop, exit 0.
    auto code = gw.process().stop(SIGTERM);
    ASSERT_TRUE(code.has_value()) << gw.process().output();
    EXPECT_EQ(*code, 0) << gw.process().output();
    // The event log names its fields as the events' payloads do.
    EXPECT_NE(gw.process().output().find("COMMAND_COMPLETED command_id=" + ids[0] +
                                         " asset_id=ast_ok command_type=SET_CHARGE_RATE"),
              std::string::npos)
        << gw.process().output();
}

// The daemon runs with glibc's malloc tuned (gateway::tune_malloc): it
// executed itself again with the settings, under its own name.
TEST(GatewayDaemon, RunsWithMallocTunedUnderItsOwnName) {
    if (!gateway::kMallocTuningBuiltIn)
        GTEST_SKIP() << "a sanitizer build: its allocator replaces glibc's; nothing is tuned";
    ::unsetenv("GLIBC_TUNABLES");  // this test's own environment; the child inherits it
    Daemon gw;
    // Its environment as glibc read it: /proc/PID/environ shows the text
    // glibc's own parse of GLIBC_TUNABLES leaves behind, not the setting.
    EXPECT_NE(gw.process().output().find(
                  "malloc: GLIBC_TUNABLES=glibc.malloc.hugetlb=1:glibc.malloc.arena_max=1\n"),
              std::string::npos)
        << gw.process().output();
    const auto proc = "/proc/" + std::to_string(gw.process().pid());
    std::ifstream comm(proc + "/comm");
    std::string name;
    std::getline(comm, name);
    EXPECT_EQ(name, "gridgate") << "pgrep and ps find it by its name";
}

// A signal that arrives while the adapters start is not the default action
// (death, exit 143): the gateway finishes starting, then stops cleanly.
TEST(GatewayDaemon, ASignalWhileAdaptersStartStopsCleanly) {
    const auto port = free_tcp_port();
    const auto site =
        write_temp_file("site.toml", site_file(port, "", "start_delay_seconds = 1.0\n"));
    ChildProcess gw(kBinary, {"--config", site.string()});
    ASSERT_TRUE(gw.wait_for_output("(start_delay_seconds)")) << gw.output();
    auto code = gw.stop(SIGTERM);
    ASSERT_TRUE(code.has_value()) << gw.output();
    EXPECT_EQ(*code, 0) << gw.output();
    EXPECT_NE(gw.output().find("signal 15: stopping"), std::string::npos) << gw.output();
}

TEST(GatewayDaemon, ARefusedScheduleChangesNothing) {
    Daemon gw;
    auto csv = schedule_csv("timestamp,ev_001_kw", {"5.0", "6.0"}, 60s, 60s);
    auto first = http_request(gw.port(), "POST", "/api/v1/schedules", csv, "text/csv");
    ASSERT_EQ(first.status, 201u);
    auto pending = ids_of(parse(first.body));

    // An unknown asset key: 422 naming the column; the pending commands stay.
    auto unknown = http_request(
        gw.port(), "POST", "/api/v1/schedules",
        schedule_csv("timestamp,ev_001_kw,ev_999_kw", {"1.0,2.0"}, 30s, 60s), "text/csv");
    EXPECT_EQ(unknown.status, 422u);
    EXPECT_NE(unknown.body.find("ev_999_kw"), std::string::npos) << unknown.body;

    // Malformed: 400 naming line and column.
    auto bad = http_request(gw.port(), "POST", "/api/v1/schedules",
                            "timestamp,ev_001_kw\n2030-01-01T00:00:00Z,abc\n", "text/csv");
    EXPECT_EQ(bad.status, 400u);
    EXPECT_NE(bad.body.find("line 2, column 2 (ev_001_kw)"), std::string::npos) << bad.body;

    auto all = parse(http_request(gw.port(), "GET", "/api/v1/commands").body);
    ASSERT_EQ(all["commands"].Size(), 2u);
    for (const auto& c : all["commands"].GetArray())
        EXPECT_STREQ(c["status"].GetString(), "PENDING");

    // A JSON body's asset_map overrides the site's, and supersedes ev_001's later command.
    auto t = engine::format_timestamp(sdk::Clock::now() + 90s);
    std::string json = R"({"schedule":{"columns":["ev_001_kw"],"index":[")" + t +
                       R"("],"data":[[7.5]]},"asset_map":{"ev_001":"ast_ok"}})";
    auto replaced = http_request(gw.port(), "POST", "/api/v1/schedules", json, "application/json");
    ASSERT_EQ(replaced.status, 201u) << replaced.body;
    EXPECT_STREQ(gw.command(pending[0])["status"].GetString(), "PENDING");    // before 90 s
    EXPECT_STREQ(gw.command(pending[1])["status"].GetString(), "CANCELLED");  // at 120 s

    EXPECT_EQ(http_request(gw.port(), "GET", "/api/v1/commands/cmd_000000000000").status, 404u);
}

TEST(GatewayDaemon, TokenGuardsTheApi) {
    Daemon gw("token = \"s3cret\"");
    EXPECT_EQ(http_request(gw.port(), "GET", "/api/v1/commands").status, 401u);
    EXPECT_EQ(http_request(gw.port(), "GET", "/api/v1/commands", "", "",
                           {{"Authorization", "Bearer wrong"}})
                  .status,
              401u);
    EXPECT_EQ(http_request(gw.port(), "GET", "/api/v1/commands", "", "",
                           {{"Authorization", "Bearer s3cret"}})
                  .status,
              200u);
    EXPECT_EQ(http_request(gw.port(), "GET", "/healthz").status, 200u);
}

TEST(GatewayDaemon, AssetsReportTheirAdapterAndConnection) {
    Daemon gw;
    auto d = parse(http_request(gw.port(), "GET", "/api/v1/assets").body);
    ASSERT_EQ(d["assets"].Size(), 3u);
    EXPECT_STREQ(d["assets"][0]["id"].GetString(), "ast_ok");
    EXPECT_STREQ(d["assets"][0]["type"].GetString(), "ev_charger");
    EXPECT_STREQ(d["assets"][0]["adapter"].GetString(), "sim");
    EXPECT_TRUE(d["assets"][0].HasMember("connected"));
    EXPECT_TRUE(d["assets"][0]["telemetry"].IsObject());
    // The adapter announced its assets: the event reached the log.
    EXPECT_TRUE(gw.process().wait_for_output("ASSET_CONNECTED asset_id=ast_ok"));
    EXPECT_EQ(gw.process().stop(SIGINT), 0);
}

TEST(Gridgatectl, PostsASchedulesAndListsWhatTheGatewayHolds) {
    Daemon gw;
    const std::string url = "http://127.0.0.1:" + std::to_string(gw.port());
    auto csv = write_temp_file(
        "plan.csv", schedule_csv("timestamp,ev_001_kw,spot_price", {"4.0,10", "6.0,11"}, 60s, 60s));
    auto post = run_to_completion("/usr/bin/env",
                                  {"python3", GRIDGATECTL, "--url", url, "post", csv.string()});
    ASSERT_EQ(post.exit_code, 0) << post.output;
    EXPECT_NE(post.output.find("2 command(s)"), std::string::npos) << post.output;
    EXPECT_NE(post.output.find("ignored columns: spot_price"), std::string::npos);

    auto list = run_to_completion("/usr/bin/env", {"python3", GRIDGATECTL, "--url", url, "commands",
                                                   "--asset", "ast_ok", "--status", "pending"});
    ASSERT_EQ(list.exit_code, 0) << list.output;
    EXPECT_NE(list.output.find("SET_CHARGE_RATE"), std::string::npos) << list.output;
    EXPECT_NE(list.output.find("6.0"), std::string::npos) << list.output;

    auto assets =
        run_to_completion("/usr/bin/env", {"python3", GRIDGATECTL, "--url", url, "assets"});
    EXPECT_EQ(assets.exit_code, 0) << assets.output;
    EXPECT_NE(assets.output.find("ast_silent"), std::string::npos) << assets.output;

    auto refused = run_to_completion(
        "/usr/bin/env", {"python3", GRIDGATECTL, "--url", url, "command", "cmd_000000000000"});
    EXPECT_EQ(refused.exit_code, 1);
    EXPECT_NE(refused.output.find("404"), std::string::npos) << refused.output;

    auto unreachable = run_to_completion(
        "/usr/bin/env", {"python3", GRIDGATECTL, "--url",
                         "http://127.0.0.1:" + std::to_string(free_tcp_port()), "health"});
    EXPECT_EQ(unreachable.exit_code, 3) << unreachable.output;
}
