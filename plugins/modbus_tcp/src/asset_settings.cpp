#include "asset_settings.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <sstream>

#include "gridgate/modbus_tcp/register_map_config.hpp"

namespace gridgate::modbus_tcp {
namespace {

double number(const sdk::ConfigTable& t, std::string_view key, double fallback) {
    const auto* v = t.find(key);
    return v != nullptr && v->as_number() ? *v->as_number() : fallback;
}

std::optional<double> optional_number(const sdk::ConfigTable& t, std::string_view key) {
    const auto* v = t.find(key);
    return v != nullptr ? v->as_number() : std::nullopt;
}

std::chrono::milliseconds ms(double seconds) {
    return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(seconds * 1000.0)));
}

sdk::SourceLocation where(const sdk::ConfigTable& t, std::string_view key) {
    const auto* v = t.find(key);
    return v != nullptr ? v->where() : t.where();
}

std::string format(double v) {
    std::ostringstream out;
    out.precision(10);
    out << v;
    return out.str();
}

/// The asset's full charge and discharge power must fit its map's setpoint
/// point(s): otherwise commands within the asset's limits fail at run time.
void check_limits_fit(const std::string& id, const sdk::ConfigTable& t,
                      const modbus::BatteryControllerOptions& c,
                      std::vector<sdk::ConfigDiagnostic>& problems) {
    if (c.map.effective_pattern() == modbus::SetpointPattern::none) return;
    const struct {
        const char* key;
        double charge;
        double discharge;
    } sides[] = {{"max_charge_kw", c.limits.max_charge_kw, 0},
                 {"max_discharge_kw", 0, c.limits.max_discharge_kw}};
    for (const auto& side : sides) {
        auto plan = modbus::plan_setpoint(c.map, c.limits, {side.charge, side.discharge, {}});
        if (plan) continue;
        // A percent point is scaled by the rated power: name it when given.
        const bool rated = t.find("rated_power_kw") != nullptr;
        const std::string key = side.key;
        const double kw = std::max(side.charge, side.discharge);
        problems.push_back(
            {where(t, side.key),
             "asset '" + id + "': " + key + " " + format(kw) +
                 (rated ? " (rated_power_kw " + format(*c.limits.rated_power_kw) + ")" : "") +
                 " cannot be written: " + plan.error()});
    }
}

}  // namespace

std::vector<AssetSettings> read_assets(const sdk::AdapterConfig& config,
                                       std::vector<sdk::ConfigDiagnostic>& problems) {
    const sdk::ConfigTable* maps = config.shared_table("register_maps");
    const double poll_seconds = number(config.table, "poll_interval_seconds", 5.0);
    const auto stale_seconds = optional_number(config.table, "stale_after_seconds");

    std::map<std::string, modbus::RegisterMap> read_maps;
    std::map<std::string, const AssetSettings*> by_endpoint;
    std::vector<AssetSettings> out;
    out.reserve(config.assets.size());
    for (const auto& asset : config.assets) {
        const auto& t = asset.table;
        AssetSettings s;
        s.id = asset.id;
        const auto* host = t.find("host");
        s.endpoint.host = host != nullptr && host->as_string() ? *host->as_string() : "";
        s.endpoint.port = static_cast<std::uint16_t>(number(t, "port", 502));
        s.connection.response_timeout = ms(number(t, "response_timeout_seconds", 1.0));
        s.connection.delay_after_connect = ms(number(t, "delay_after_connect_seconds", 0.0));
        s.connection.inter_request_delay = ms(number(t, "inter_request_delay_seconds", 0.0));

        auto& c = s.controller;
        c.unit = static_cast<std::uint8_t>(number(t, "unit_id", 1));
        c.limits.max_charge_kw = number(t, "max_charge_kw", 0);
        c.limits.max_discharge_kw = number(t, "max_discharge_kw", 0);
        c.limits.rated_power_kw = optional_number(t, "rated_power_kw");
        if (!c.limits.rated_power_kw) {
            c.limits.rated_power_kw = std::max(c.limits.max_charge_kw, c.limits.max_discharge_kw);
        }
        c.limits.min_soc = number(t, "min_soc", 0);
        c.limits.max_soc = number(t, "max_soc", 100);
        if (c.limits.min_soc > c.limits.max_soc) {
            problems.push_back({where(t, "min_soc"), "asset '" + asset.id + "': min_soc " +
                                                         std::to_string(c.limits.min_soc) +
                                                         " is above max_soc"});
        }
        const auto* verify = t.find("verify");
        c.verify = verify != nullptr && verify->as_bool().value_or(false);
        if (auto refresh = optional_number(t, "refresh_seconds")) c.refresh = ms(*refresh);
        const auto* shutdown = t.find("on_shutdown");
        c.on_shutdown =
            shutdown != nullptr && shutdown->as_string() && *shutdown->as_string() == "leave"
                ? modbus::BatteryControllerOptions::OnShutdown::leave
                : modbus::BatteryControllerOptions::OnShutdown::idle;
        c.poll.plan.default_interval = ms(poll_seconds);
        if (stale_seconds) c.poll.stale_after = ms(*stale_seconds);

        const auto* map_name_value = t.find("register_map");
        const std::string map_name = map_name_value != nullptr && map_name_value->as_string()
                                         ? *map_name_value->as_string()
                                         : "";
        if (auto it = read_maps.find(map_name); it != read_maps.end()) {
            c.map = it->second;
        } else {
            const sdk::ConfigValue* entry = maps != nullptr ? maps->find(map_name) : nullptr;
            const sdk::ConfigTable* table = entry != nullptr ? entry->as_table() : nullptr;
            if (table == nullptr) {
                problems.push_back({where(t, "register_map"),
                                    "asset '" + asset.id + "': register map '" + map_name +
                                        "' is not defined in [register_maps] or a map file"});
                continue;
            }
            auto map = read_register_map(map_name, *table);
            if (!map) {
                for (const auto& d : map.error()) problems.push_back(d);
                read_maps.emplace(map_name, modbus::RegisterMap{});  // report a map once
                continue;
            }
            c.map = map.value();
            read_maps.emplace(map_name, std::move(map).value());
        }
        if (c.map.points.empty()) continue;  // its map was refused above (an empty one too)
        check_limits_fit(asset.id, t, c, problems);

        out.push_back(std::move(s));
        const AssetSettings& added = out.back();
        auto [it, fresh] = by_endpoint.emplace(added.endpoint.str(), &added);
        if (!fresh && !(it->second->connection == added.connection)) {
            problems.push_back({where(t, "host"),
                                "asset '" + asset.id + "' shares " + added.endpoint.str() +
                                    " with asset '" + it->second->id +
                                    "' but not its response_timeout_seconds, "
                                    "delay_after_connect_seconds and inter_request_delay_seconds"});
        }
    }
    // A map no asset uses is read too: the site file is refused for what it
    // says, not only for the part in use (ARCHITECTURE.md).
    if (maps != nullptr) {
        for (const auto& [name, entry] : maps->entries()) {
            const sdk::ConfigTable* table = entry.as_table();
            if (table == nullptr || read_maps.contains(name)) continue;
            auto map = read_register_map(name, *table);
            if (!map)
                for (const auto& d : map.error()) problems.push_back(d);
        }
    }
    return out;
}

std::vector<sdk::ConfigDiagnostic> unwatched_batteries(const sdk::AdapterConfig& config,
                                                       const std::vector<AssetSettings>& assets) {
    std::vector<sdk::ConfigDiagnostic> out;
    for (const auto& settings : assets) {
        const auto& map = settings.controller.map;
        const bool watched = map.heartbeat || settings.controller.refresh ||
                             std::any_of(map.points.begin(), map.points.end(),
                                         [](const modbus::RegisterPoint& p) { return p.poll; });
        if (watched) continue;
        const auto asset = std::find_if(config.assets.begin(), config.assets.end(),
                                        [&](const auto& a) { return a.id == settings.id; });
        if (asset == config.assets.end()) continue;
        out.push_back(sdk::warning(
            where(asset->table, "register_map"),
            "asset '" + settings.id + "': register map '" + map.name +
                "' polls no point and has no heartbeat, and refresh_seconds is not set: a lost "
                "connection, or a device that rebooted and lost its setpoint, is noticed only at "
                "the next write; poll a point (soc, say) so that the setpoint is written again "
                "when it comes back"));
    }
    return out;
}

}  // namespace gridgate::modbus_tcp
