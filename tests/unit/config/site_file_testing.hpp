// Shared by the config tests: the keys the ocpp16 and modbus_tcp plugins
// declare (ARCHITECTURE.md, issues 4 and 5), standing in for the real plugins
// at the seam validate_adapter_keys() offers, and small helpers.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "gridgate/config/plugin_keys.hpp"
#include "gridgate/config/site_loader.hpp"
#include "gridgate/sdk/config.hpp"

namespace gridgate::config::testing {

using sdk::ConfigKey;
using sdk::ConfigType;

inline const std::vector<ConfigKey> kOcppAdapterKeys = {
    {.name = "listen", .type = ConfigType::String, .default_value = "0.0.0.0:9000"},
    {.name = "path", .type = ConfigType::String, .default_value = "/ocpp"},
    {.name = "heartbeat_interval_seconds",
     .type = ConfigType::Integer,
     .default_value = "300",
     .min = 1},
    {.name = "security_profile",
     .type = ConfigType::Integer,
     .default_value = "0",
     .min = 0,
     .max = 2},
    {.name = "tls_certificate", .type = ConfigType::String},
    {.name = "tls_private_key", .type = ConfigType::String},
};
inline const std::vector<ConfigKey> kOcppAssetKeys = {
    {.name = "charge_point_id", .type = ConfigType::String, .required = true},
    {.name = "connector_id", .type = ConfigType::Integer, .default_value = "1", .min = 1},
    {.name = "charging_rate_unit",
     .type = ConfigType::String,
     .default_value = "W",
     .one_of = {"W", "A"}},
    {.name = "phases", .type = ConfigType::Integer, .default_value = "3", .min = 1, .max = 3},
    {.name = "voltage", .type = ConfigType::Float, .default_value = "230.0", .min = 1},
    {.name = "password", .type = ConfigType::String},
};
inline const std::vector<ConfigKey> kModbusAdapterKeys = {
    {.name = "poll_interval_seconds",
     .type = ConfigType::Float,
     .default_value = "5.0",
     .min = 0.1},
};
inline const std::vector<ConfigKey> kModbusAssetKeys = {
    {.name = "host", .type = ConfigType::String, .required = true},
    {.name = "port", .type = ConfigType::Integer, .default_value = "502", .min = 1, .max = 65535},
    {.name = "unit_id", .type = ConfigType::Integer, .default_value = "1", .min = 0, .max = 255},
    {.name = "register_map", .type = ConfigType::String, .required = true},
    {.name = "max_charge_kw", .type = ConfigType::Float, .min = 0},
    {.name = "max_discharge_kw", .type = ConfigType::Float, .min = 0},
};

/// A lookup that knows the two bundled plugins, as the daemon's would once
/// it has loaded them.
inline PluginKeyLookup bundled_plugins() {
    PluginKeyLookup lookup;
    lookup.find = [](std::string_view plugin) -> std::optional<PluginKeys> {
        if (plugin == "ocpp16") return PluginKeys{kOcppAdapterKeys, kOcppAssetKeys};
        if (plugin == "modbus_tcp") return PluginKeys{kModbusAdapterKeys, kModbusAssetKeys};
        return std::nullopt;
    };
    lookup.available = {"ocpp16", "modbus_tcp"};
    lookup.searched_dirs = {"/opt/gridgate/lib/gridgate/plugins"};
    return lookup;
}

/// Every diagnostic as the user reads it.
inline std::vector<std::string> lines(const std::vector<sdk::ConfigDiagnostic>& diagnostics) {
    std::vector<std::string> out;
    for (const auto& d : diagnostics) out.push_back(d.str());
    return out;
}

/// A folder of its own under the system's temporary folder, removed at the end.
class TemporaryFolder {
  public:
    TemporaryFolder() {
        static int counter = 0;
        path_ = std::filesystem::temp_directory_path() /
                ("gridgate-config-test-" + std::to_string(::getpid()) + "-" +
                 std::to_string(counter++));
        std::filesystem::create_directories(path_);
    }
    ~TemporaryFolder() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TemporaryFolder(const TemporaryFolder&) = delete;
    TemporaryFolder& operator=(const TemporaryFolder&) = delete;

    const std::filesystem::path& path() const { return path_; }

  private:
    std::filesystem::path path_;
};

}  // namespace gridgate::config::testing
