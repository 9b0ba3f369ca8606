// modbus_tcp: batteries over Modbus TCP, driven through register maps.
#include <memory>
#include <string_view>
#include <vector>

#include "asset_settings.hpp"
#include "gridgate/sdk/plugin_entry.hpp"
#include "modbus_adapter.hpp"

namespace sdk = gridgate::sdk;

namespace {

const std::vector<sdk::ConfigKey> kAdapterKeys = {
    {.name = "poll_interval_seconds",
     .type = sdk::ConfigType::Float,
     .default_value = "5.0",
     .description = "how often polled points (soc, active_power, ...) are read",
     .min = 0.01,
     .max = 3600.0},
    {.name = "stale_after_seconds",
     .type = sdk::ConfigType::Float,
     .default_value = "3 x the poll interval",
     .description = "age after which an unread value is published as stale",
     .min = 0.01},
};

const std::vector<sdk::ConfigKey> kAssetKeys = {
    {.name = "host",
     .type = sdk::ConfigType::String,
     .required = true,
     .description = "the device's (or gateway's) address"},
    {.name = "port",
     .type = sdk::ConfigType::Integer,
     .default_value = "502",
     .description = "its Modbus TCP port",
     .min = 1,
     .max = 65535},
    {.name = "unit_id",
     .type = sdk::ConfigType::Integer,
     .default_value = "1",
     .description = "the unit id behind that address",
     .min = 0,
     .max = 255},
    {.name = "register_map",
     .type = sdk::ConfigType::String,
     .required = true,
     .description = "a [register_maps.NAME] table or a map file NAME.toml"},
    {.name = "max_charge_kw",
     .type = sdk::ConfigType::Float,
     .required = true,
     .description = "charge setpoints are clamped to this",
     .min = 0},
    {.name = "max_discharge_kw",
     .type = sdk::ConfigType::Float,
     .required = true,
     .description = "discharge setpoints are clamped to this",
     .min = 0},
    {.name = "rated_power_kw",
     .type = sdk::ConfigType::Float,
     .default_value = "the larger of max_charge_kw and max_discharge_kw",
     .description = "what percent points refer to",
     .min = 0},
    {.name = "min_soc",
     .type = sdk::ConfigType::Float,
     .default_value = "0",
     .description = "discharging stops here (with fresh SoC telemetry)",
     .min = 0,
     .max = 100},
    {.name = "max_soc",
     .type = sdk::ConfigType::Float,
     .default_value = "100",
     .description = "charging stops here (with fresh SoC telemetry)",
     .min = 0,
     .max = 100},
    {.name = "verify",
     .type = sdk::ConfigType::Boolean,
     .default_value = "false",
     .description = "read each setpoint back and fail the command on a mismatch"},
    {.name = "refresh_seconds",
     .type = sdk::ConfigType::Float,
     .description = "re-write the current setpoint this often (devices that revert)",
     .min = 0.05},
    {.name = "on_shutdown",
     .type = sdk::ConfigType::String,
     .default_value = "idle",
     .description = "on a clean stop: write the idle setpoint, or leave the device as it is",
     .one_of = {"idle", "leave"}},
    {.name = "response_timeout_seconds",
     .type = sdk::ConfigType::Float,
     .default_value = "1.0",
     .description = "how long to wait for an answer",
     .min = 0.01,
     .max = 60},
    {.name = "delay_after_connect_seconds",
     .type = sdk::ConfigType::Float,
     .default_value = "0",
     .description = "silence after connecting",
     .min = 0,
     .max = 60},
    {.name = "inter_request_delay_seconds",
     .type = sdk::ConfigType::Float,
     .default_value = "0",
     .description = "silence between requests",
     .min = 0,
     .max = 10},
};

constexpr std::string_view kAssetTypes[] = {"battery"};
constexpr std::string_view kSharedTables[] = {"register_maps"};

class ModbusTcpPlugin final : public sdk::Plugin {
  public:
    std::span<const sdk::ConfigKey> adapter_keys() const noexcept override { return kAdapterKeys; }
    std::span<const sdk::ConfigKey> asset_keys() const noexcept override { return kAssetKeys; }
    std::span<const std::string_view> asset_types() const noexcept override { return kAssetTypes; }
    std::span<const std::string_view> shared_tables() const noexcept override {
        return kSharedTables;
    }

    std::vector<sdk::ConfigDiagnostic> validate(
        const sdk::AdapterConfig& config) const noexcept override {
        std::vector<sdk::ConfigDiagnostic> problems;
        try {
            const auto assets = gridgate::modbus_tcp::read_assets(config, problems);
            if (problems.empty())
                problems = gridgate::modbus_tcp::unwatched_batteries(config, assets);
        } catch (const std::exception& e) {
            problems.push_back({config.table.where(), std::string("modbus_tcp: ") + e.what()});
        }
        return problems;
    }

    sdk::AdapterCreation create_adapter(sdk::HostContext& host) noexcept override {
        try {
            std::vector<sdk::ConfigDiagnostic> problems;
            auto assets = gridgate::modbus_tcp::read_assets(host.config(), problems);
            if (!problems.empty()) return {nullptr, sdk::Status::failure(problems.front().str())};
            return {std::make_unique<gridgate::modbus_tcp::ModbusAdapter>(host, std::move(assets)),
                    sdk::Status::ok()};
        } catch (const std::exception& e) {
            return {nullptr, sdk::Status::failure(std::string("modbus_tcp: ") + e.what())};
        }
    }
};

}  // namespace

GRIDGATE_PLUGIN(ModbusTcpPlugin, "modbus_tcp", "0.1.0",
                "Batteries over Modbus TCP, driven through register maps",
                sdk::capabilities(sdk::CommandType::SetChargeRate,
                                  sdk::CommandType::SetDischargeRate,
                                  sdk::CommandType::SetPowerLimit, sdk::CommandType::SetSocTarget,
                                  sdk::CommandType::ChangeAvailability))
