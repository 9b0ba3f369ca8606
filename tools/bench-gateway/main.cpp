// bench-gateway: runs the gateway in-process on a generated site of N Modbus
// batteries (each a simulator on loopback), posts a schedule whose every slot
// changes every battery's setpoint at the same instant, and prints how late
// each command was handed to its adapter and acknowledged, as a table.
//
//   bench-gateway [--devices N] [--slots N] [--slot-ms MS]
#include <rapidjson/document.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>
#include "cli_number.hpp"
#include "gridgate/battery_sim/simulator.hpp"
#include "gridgate/config/site_loader.hpp"
#include "gridgate/engine/timestamp.hpp"
#include "gridgate/gateway/gateway.hpp"
#include "http_client.hpp"

using namespace gridgate;
using namespace std::chrono_literals;

namespace {

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(i, v.size() - 1)];
}

std::string site_text(const std::vector<std::unique_ptr<battery_sim::BatterySimulator>>& sims) {
    std::string s = R"([site]
name = "bench"

[api]
listen = "127.0.0.1:0"
body_limit_bytes = 67108864

[adapters.modbus]
plugin = "modbus_tcp"
poll_interval_seconds = 1.0

[register_maps.generic_battery]
power_setpoint = { address = 100, type = "int32", scale = 0.001 }
soc            = { address = 200, type = "uint16", scale = 0.1, table = "input" }
active_power   = { address = 202, type = "int32", scale = 0.001, table = "input" }
)";
    for (std::size_t i = 0; i < sims.size(); ++i) {
        s += "\n[[assets]]\nid = \"ast_" + std::to_string(i) +
             "\"\ntype = \"battery\"\nadapter = \"modbus\"\nhost = \"127.0.0.1\"\nport = " +
             std::to_string(sims[i]->port()) +
             "\nunit_id = 1\nregister_map = \"generic_battery\"\nmax_charge_kw = 100.0\n"
             "max_discharge_kw = 100.0\n";
    }
    s += "\n[schedule.asset_map]\n";
    for (std::size_t i = 0; i < sims.size(); ++i)
        s += "battery_" + std::to_string(i) + " = \"ast_" + std::to_string(i) + "\"\n";
    return s;
}

}  // namespace

int main(int argc, char** argv) {
    constexpr const char* kUsage =
        "usage: bench-gateway [--devices N] [--slots N] [--slot-ms MS]\n"
        "  --devices N   simulated batteries, 1 to 1000 (default 100)\n"
        "  --slots N     schedule slots, 1 to 1000 (default 3)\n"
        "  --slot-ms MS  slot length in milliseconds, 10 to 3600000 (default 1000)\n";
    if (argc == 2 && (!std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h"))) {
        std::fputs(kUsage, stdout);
        return 0;
    }
    // Options come in pairs: a lone word is a mistake, not a default run.
    if (argc % 2 == 0) {
        std::fputs(kUsage, stderr);
        return 2;
    }
    // Each option is a whole number within its range (a battery, a slot of
    // none measures nothing; each battery holds half a megabyte of registers).
    struct Option {
        const char* name;
        long long min, max;
        long long value;
    };
    Option options_given[] = {
        {"--devices", 1, 1000, 100}, {"--slots", 1, 1000, 3}, {"--slot-ms", 10, 3'600'000, 1000}};
    for (int i = 1; i + 1 < argc; i += 2) {
        Option* option = nullptr;
        for (auto& o : options_given)
            if (!std::strcmp(argv[i], o.name)) option = &o;
        if (!option) {
            std::fputs(kUsage, stderr);
            return 2;
        }
        const auto value = tools::whole_number(argv[i + 1], option->min, option->max);
        if (!value) {
            std::fprintf(
                stderr, "bench-gateway: %s\n",
                tools::whole_number_wanted(option->name, option->min, option->max, argv[i + 1])
                    .c_str());
            return 2;
        }
        option->value = *value;
    }
    const auto devices = static_cast<std::size_t>(options_given[0].value);
    const auto slots = static_cast<std::size_t>(options_given[1].value);
    const auto slot_ms = static_cast<int>(options_given[2].value);

    std::vector<std::unique_ptr<battery_sim::BatterySimulator>> sims;
    for (std::size_t i = 0; i < devices; ++i) {
        sims.push_back(std::make_unique<battery_sim::BatterySimulator>());
        sims.back()->start();
    }
    auto loaded = config::parse_site(site_text(sims), "bench-site.toml", {});
    if (!loaded.ok()) {
        for (const auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.str().c_str());
        return 1;
    }
    gateway::PluginCatalog catalog;
    catalog.load_directory(gateway::PluginCatalog::default_directory());
    gateway::GatewayOptions options;
    options.handle_signals = false;  // Ctrl-C ends the benchmark, not just the gateway
    options.plugin_log_level = sdk::LogLevel::Warn;
    spdlog::set_level(spdlog::level::warn);
    gateway::Gateway gw(std::move(*loaded.config), catalog, options);
    if (auto errors = gw.start(); !errors.empty()) {
        for (const auto& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
        return 1;
    }
    std::thread runner([&] { gw.run(); });
    const auto port = gw.api_port();
    std::this_thread::sleep_for(1500ms);  // let every battery connect

    // Every slot changes every battery's setpoint at the same instant.
    auto t0 = std::chrono::time_point_cast<std::chrono::milliseconds>(sdk::Clock::now()) + 1500ms;
    std::string csv = "timestamp";
    for (std::size_t i = 0; i < devices; ++i) csv += ",battery_" + std::to_string(i) + "_charge_kw";
    csv += "\n";
    for (std::size_t k = 0; k < slots; ++k) {
        csv += engine::format_timestamp(t0 + std::chrono::milliseconds(slot_ms) * k);
        for (std::size_t i = 0; i < devices; ++i) csv += k % 2 ? ",10" : ",20";
        csv += "\n";
    }
    auto posted = tools::http_request(port, "POST", "/api/v1/schedules", csv, "text/csv");
    if (posted.status != 201) {
        std::fprintf(stderr, "schedule refused: %u %s\n", posted.status, posted.body.c_str());
        gw.stop();
        runner.join();
        return 1;
    }

    // Wait for every command to end, then read them back.
    rapidjson::Document all;
    auto deadline = sdk::Clock::now() + std::chrono::milliseconds(slot_ms) * slots + 30s;
    for (;;) {
        all.Parse(tools::http_request(port, "GET", "/api/v1/commands").body.c_str());
        bool done = true;
        for (const auto& c : all["commands"].GetArray()) {
            std::string st = c["status"].GetString();
            if (st == "PENDING" || st == "DISPATCHED") done = false;
        }
        if (done || sdk::Clock::now() > deadline) break;
        std::this_thread::sleep_for(100ms);
    }
    gw.stop();
    runner.join();

    std::vector<double> handed, acked;
    std::size_t completed = 0, total = 0;
    for (const auto& c : all["commands"].GetArray()) {
        ++total;
        auto scheduled = engine::parse_timestamp(c["scheduled_at"].GetString());
        if (c["dispatched_at"].IsString()) {
            auto d = engine::parse_timestamp(c["dispatched_at"].GetString());
            handed.push_back(std::chrono::duration<double, std::milli>(*d - *scheduled).count());
        }
        if (std::string(c["status"].GetString()) == "COMPLETED" && c["completed_at"].IsString()) {
            ++completed;
            auto d = engine::parse_timestamp(c["completed_at"].GetString());
            acked.push_back(std::chrono::duration<double, std::milli>(*d - *scheduled).count());
        }
    }
    char title[64];
    std::snprintf(title, sizeof title, "measure (%zu batteries, %zu slots)", devices, slots);
    auto row = [](const char* name, const std::vector<double>& v) {
        std::printf("| %-44s | %8.2f ms | %8.2f ms | %8.2f ms |\n", name, percentile(v, 0.5),
                    percentile(v, 0.99), percentile(v, 1.0));
    };
    std::printf("| %-44s | %11s | %11s | %11s |\n", title, "p50", "p99", "max");
    std::printf("|%s|%s|%s|%s|\n", std::string(46, '-').c_str(), std::string(13, '-').c_str(),
                std::string(13, '-').c_str(), std::string(13, '-').c_str());
    row("scheduled_at -> handed to the adapter", handed);
    row("scheduled_at -> acknowledged by the device", acked);
    std::printf(
        "commands completed: %zu of %zu; earliest hand-over %.2f ms after scheduled_at "
        "(never early)\n",
        completed, total, handed.empty() ? 0.0 : *std::min_element(handed.begin(), handed.end()));
    return completed == total ? 0 : 1;
}
