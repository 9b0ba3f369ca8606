#include "gridgate/battery_sim/map_file.hpp"

#include <filesystem>

#include "gridgate/config/site_loader.hpp"
#include "gridgate/config/toml_document.hpp"
#include "gridgate/modbus_tcp/register_map_config.hpp"

namespace gridgate::battery_sim {
namespace {

using modbus::MapError;
using modbus::RegisterMap;
using modbus::RegisterPoint;

// In file order, as `gridgate --check-config` prints them.
std::vector<MapError> map_errors(std::vector<sdk::ConfigDiagnostic> diagnostics,
                                 const std::string& source) {
    config::sort_diagnostics(diagnostics, source);
    std::vector<MapError> out;
    out.reserve(diagnostics.size());
    for (const auto& d : diagnostics) out.push_back({d.where.str(), d.message});
    return out;
}

// The gateway's steps for a map file: the host turns the file into a table,
// and only a file without errors (syntax, unreadable, a date value) reaches
// the modbus_tcp plugin's reader, which this simulator shares.
MapResult read_map(const config::TomlDocument& document, const std::string& source,
                   const std::string& name) {
    if (!document.root || !document.errors.empty())
        return MapResult::failure(map_errors(document.errors, source));
    auto map = modbus_tcp::read_register_map(name, *document.root);
    if (!map) return MapResult::failure(map_errors(map.error(), source));
    return std::move(map).value();
}

}  // namespace

MapResult parse_register_map(std::string_view text, const std::string& source,
                             const std::string& name) {
    return read_map(config::parse_toml(text, source), source, name);
}

MapResult load_register_map(const std::string& path) {
    return read_map(config::read_toml_file(path, path), path,
                    std::filesystem::path(path).stem().string());
}

modbus::RegisterMap generic_battery_map() {
    using modbus::PointType;
    using modbus::Table;
    RegisterMap map;
    map.name = "generic_battery";
    RegisterPoint setpoint{.name = "power_setpoint",
                           .address = 100,
                           .type = PointType::int32,
                           .table = Table::holding,
                           .scale = 0.001};
    RegisterPoint soc{.name = "soc",
                      .address = 200,
                      .type = PointType::uint16,
                      .table = Table::input,
                      .scale = 0.1,
                      .poll = true};
    RegisterPoint power{.name = "active_power",
                        .address = 202,
                        .type = PointType::int32,
                        .table = Table::input,
                        .scale = 0.001,
                        .poll = true};
    map.points = {setpoint, soc, power};
    return map;
}

}  // namespace gridgate::battery_sim
