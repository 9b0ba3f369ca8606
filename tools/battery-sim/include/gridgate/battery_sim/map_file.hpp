// Register map files (config/register_maps/NAME.toml) for the simulator:
// read exactly as the gateway reads them (config's TOML reader, then the
// modbus_tcp plugin's register map reader), into the modbus library's plain
// RegisterMap, every error as FILE:LINE:COL. A file the gateway refuses is
// refused here with the same messages.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "gridgate/modbus/expected.hpp"
#include "gridgate/modbus/register_map.hpp"

namespace gridgate::battery_sim {

using MapResult = modbus::Expected<modbus::RegisterMap, std::vector<modbus::MapError>>;

/// Parses map text. `source` is the file name used in messages, `name` the
/// map's name. The map is validated too; all problems are returned.
MapResult parse_register_map(std::string_view text, const std::string& source,
                             const std::string& name);

/// Reads a map file; the map is named after the file's stem.
MapResult load_register_map(const std::string& path);

/// The built-in generic battery map (ARCHITECTURE.md's example), identical
/// to config/register_maps/generic_battery.toml.
modbus::RegisterMap generic_battery_map();

}  // namespace gridgate::battery_sim
