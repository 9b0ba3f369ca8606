// One battery's settings, read from its [[assets]] entry and its register map.
#pragma once

#include <string>
#include <vector>

#include "gridgate/modbus/battery_controller.hpp"
#include "gridgate/modbus/connection.hpp"
#include "gridgate/sdk/host.hpp"

namespace gridgate::modbus_tcp {

struct AssetSettings {
    std::string id;
    modbus::Endpoint endpoint;
    modbus::ConnectionOptions connection;
    modbus::BatteryControllerOptions controller;
};

/// The settings of every asset of `config`, or the problems found (each at its
/// FILE:LINE:COL): a register map that is missing or invalid, min_soc above
/// max_soc, devices behind one host:port that disagree on connection options.
std::vector<AssetSettings> read_assets(const sdk::AdapterConfig& config,
                                       std::vector<sdk::ConfigDiagnostic>& problems);

/// Warnings (sdk::warning()) for the batteries of `assets`, read from
/// `config`, that nothing reaches between writes: no polled point, no
/// heartbeat and no refresh_seconds, so a lost connection, or a device that
/// rebooted and lost its setpoint, is noticed only at the next write.
std::vector<sdk::ConfigDiagnostic> unwatched_batteries(const sdk::AdapterConfig& config,
                                                       const std::vector<AssetSettings>& assets);

}  // namespace gridgate::modbus_tcp
