// Register maps as the site file gives them (a [register_maps.NAME] table, or
// a map file the host loaded as a table) into the modbus library's
// RegisterMap, with every problem at its FILE:LINE:COL. This is the one
// definition of what a register map says: the modbus_tcp plugin reads its
// maps here, and battery-sim reads its --map file here too (through
// config/toml_document.hpp, as the host reads a map file).
//
// A free function without shared state: safe to call from any thread.
#pragma once

#include <string>
#include <vector>

#include "gridgate/modbus/expected.hpp"
#include "gridgate/modbus/register_map.hpp"
#include "gridgate/sdk/config.hpp"

namespace gridgate::modbus_tcp {

using MapReading = modbus::Expected<modbus::RegisterMap, std::vector<sdk::ConfigDiagnostic>>;

/// Reads and validates the map `name` held in `table`.
MapReading read_register_map(const std::string& name, const sdk::ConfigTable& table);

}  // namespace gridgate::modbus_tcp
