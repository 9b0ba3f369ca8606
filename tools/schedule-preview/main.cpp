// schedule-preview: shows the commands a schedule turns into, without sending
// anything. Reads a pandas CSV or JSON schedule and an asset map (from a site
// file, from --map KEY=ASSET, or both), runs the engine's conversion, and
// prints the commands as a table.
//
//   schedule-preview SCHEDULE [--site site.toml] [--map ev_001=ast_charger_bay_1 ...]
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <string>

#include "gridgate/config/site_loader.hpp"
#include "gridgate/engine/dispatch_engine.hpp"
#include "gridgate/engine/schedule_parser.hpp"
#include "gridgate/engine/timestamp.hpp"

using namespace gridgate;

namespace {

constexpr const char* kUsage =
    "usage: schedule-preview SCHEDULE.csv|SCHEDULE.json [--site SITE.toml] "
    "[--map KEY=ASSET ...]\n";

constexpr const char* kHelp =
    "Shows the commands a schedule turns into, without sending anything.\n"
    "\n"
    "  SCHEDULE        a pandas CSV (df.to_csv()) or, named *.json, pandas JSON\n"
    "                  (orient=\"split\", bare or with its own asset_map)\n"
    "  --site FILE     take [schedule.asset_map] from this site file\n"
    "  --map KEY=ASSET map a column key to an asset (repeatable; wins over the\n"
    "                  site file, and the schedule's own asset_map over both)\n"
    "\n"
    "Exit status: 0 shown, 2 bad usage or a schedule the gateway would refuse.\n";

// Bad usage: says what, then how it is used.
int usage_error(const std::string& what) {
    std::cerr << "schedule-preview: " << what << "\n" << kUsage;
    return 2;
}

std::string fixed(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", v);
    return buf;
}

}  // namespace

int main(int argc, char** argv) {
    std::string schedule_path, site_path;
    engine::AssetMap map;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if ((a == "--site" || a == "--map") && i + 1 == argc) {
            return usage_error(a + " needs a value");
        } else if (a == "--site") {
            site_path = argv[++i];
        } else if (a == "--map") {
            std::string kv = argv[++i];
            auto eq = kv.find('=');
            if (eq == std::string::npos || eq == 0 || eq + 1 == kv.size())
                return usage_error("--map '" + kv +
                                   "': expected KEY=ASSET, e.g. ev_001=ast_charger_bay_1");
            map[kv.substr(0, eq)] = kv.substr(eq + 1);
        } else if (a == "--help" || a == "-h") {
            std::cout << kUsage << kHelp;
            return 0;
        } else if (a.rfind("-", 0) == 0) {
            return usage_error("unknown option '" + a + "'");
        } else if (!schedule_path.empty()) {
            return usage_error("one schedule at a time ('" + schedule_path + "', then '" + a +
                               "')");
        } else {
            schedule_path = a;
        }
    }
    if (schedule_path.empty()) return usage_error("no schedule file given");

    engine::AssetMap site_map;
    // With a site file, a column must name one of its assets, as the
    // gateway running that site would insist (422).
    std::set<std::string, std::less<>> site_assets;
    engine::AssetPredicate known_asset;
    if (!site_path.empty()) {
        auto loaded = config::load_site_file(site_path, {});
        const auto* site = loaded.config    ? &*loaded.config
                           : loaded.partial ? &*loaded.partial
                                            : nullptr;
        if (!site) {
            for (const auto& e : loaded.errors) std::cerr << e.str() << "\n";
            return 2;
        }
        site_map = site->asset_map;
        for (const auto& asset : site->assets) site_assets.insert(asset.id);
        known_asset = [&site_assets](std::string_view id) { return site_assets.count(id) > 0; };
    }
    for (auto& [k, v] : map) site_map[k] = v;  // --map wins over the site file

    std::error_code ec;
    if (std::filesystem::is_directory(schedule_path, ec)) {
        std::cerr << schedule_path << ": is a directory, not a schedule file\n";
        return 2;
    }
    std::ifstream in(schedule_path, std::ios::binary);
    if (!in) {
        std::cerr << schedule_path << ": cannot open: " << std::strerror(errno) << "\n";
        return 2;
    }
    std::stringstream text;
    text << in.rdbuf();

    engine::DispatchEngine dispatch;
    try {
        engine::ScheduleRequest request;
        bool json = schedule_path.size() > 5 &&
                    schedule_path.compare(schedule_path.size() - 5, 5, ".json") == 0;
        if (json)
            request = engine::parse_schedule_request_json(text.str());
        else
            request.schedule = engine::parse_schedule_csv(text.str());
        for (auto& [k, v] : request.asset_map) site_map[k] = v;
        auto result = dispatch.schedule_to_commands(request.schedule, site_map, known_asset);

        std::printf("%s: %zu rows x %zu columns -> %zu commands\n", schedule_path.c_str(),
                    request.schedule.rows(), request.schedule.cols(), result.commands.size());
        if (!result.ignored_columns.empty()) {
            std::printf("ignored columns:");
            for (const auto& c : result.ignored_columns) std::printf(" %s", c.c_str());
            std::printf("\n");
        }
        std::printf("\n%-24s  %-16s  %-20s  %-18s  %10s\n", "scheduled_at", "command_id",
                    "asset_id", "command_type", "power_kw");
        auto commands = dispatch.list_commands();
        std::stable_sort(commands.begin(), commands.end(), [](const auto& a, const auto& b) {
            return a.scheduled_at < b.scheduled_at;
        });
        for (const auto& c : commands) {
            std::printf("%-24s  %-16s  %-20s  %-18s  %10s\n",
                        engine::format_timestamp(c.scheduled_at).c_str(),
                        c.command_id.str().c_str(), c.asset_id.c_str(),
                        std::string(sdk::to_string(c.command_type)).c_str(),
                        c.parameters.power_kw ? fixed(*c.parameters.power_kw).c_str() : "-");
        }
    } catch (const engine::ScheduleError& e) {
        std::cerr << schedule_path << ": " << e.what();
        if (known_asset && e.kind() == engine::ScheduleError::Kind::UnknownAsset)
            std::cerr << " (" << site_path << " has no such asset)";
        std::cerr << "\n";
        if (site_map.empty())
            std::cerr
                << "schedule-preview: no --site or --map given, so no column names an asset\n";
        return 2;
    }
    return 0;
}
