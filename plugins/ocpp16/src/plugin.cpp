// ocpp16: EV chargers over OCPP 1.6-J, the gateway acting as central system.
#include <memory>
#include <string_view>
#include <vector>

#include "gridgate/sdk/plugin_entry.hpp"
#include "ocpp16_adapter.hpp"
#include "settings.hpp"

namespace sdk = gridgate::sdk;

namespace {

const std::vector<sdk::ConfigKey> kAdapterKeys = {
    {.name = "listen",
     .type = sdk::ConfigType::String,
     .default_value = "0.0.0.0:9000",
     .description = "HOST:PORT the central system listens on (port 0: the OS picks)"},
    {.name = "path",
     .type = sdk::ConfigType::String,
     .default_value = "/ocpp",
     .description = "chargers connect to ws://HOST:PORT/PATH/<charge_point_id>"},
    {.name = "heartbeat_interval_seconds",
     .type = sdk::ConfigType::Integer,
     .default_value = "300",
     .description = "the Heartbeat interval BootNotification hands out",
     .min = 1,
     .max = 86400},
    {.name = "security_profile",
     .type = sdk::ConfigType::Integer,
     .default_value = "0",
     .description = "0: plain ws, 1: ws + Basic auth, 2: wss (TLS) + Basic auth",
     .min = 0,
     .max = 2},
    {.name = "tls_certificate",
     .type = sdk::ConfigType::String,
     .description = "PEM certificate chain (security_profile 2)"},
    {.name = "tls_private_key",
     .type = sdk::ConfigType::String,
     .description = "PEM private key (security_profile 2)"},
    {.name = "call_timeout_seconds",
     .type = sdk::ConfigType::Float,
     .default_value = "30",
     .description = "how long a charger has to answer a call (at most the command's timeout)",
     .min = 0.01,
     .max = 600},
    {.name = "ping_interval_seconds",
     .type = sdk::ConfigType::Float,
     .default_value = "30",
     .description = "WebSocket ping after this much silence; 0 disables",
     .min = 0,
     .max = 3600},
    {.name = "max_frame_bytes",
     .type = sdk::ConfigType::Integer,
     .default_value = "65536",
     .description = "a bigger message closes the connection",
     .min = 1024,
     .max = 16777216},
    {.name = "io_threads",
     .type = sdk::ConfigType::Integer,
     .default_value = "1",
     .description = "threads running the chargers' connections; one serves thousands of "
                    "plain ws chargers, TLS (profile 2) may want 2",
     .min = 1,
     .max = 16},
    {.name = "accept_all_id_tags",
     .type = sdk::ConfigType::Boolean,
     .default_value = "true",
     .description = "Authorize and StartTransaction accept every id tag"},
    {.name = "id_tags",
     .type = sdk::ConfigType::Array,
     .default_value = "[]",
     .description = "the id tags accepted when accept_all_id_tags is false"},
};

const std::vector<sdk::ConfigKey> kAssetKeys = {
    {.name = "charge_point_id",
     .type = sdk::ConfigType::String,
     .required = true,
     .description = "the identity the charger connects with (the URL's last part)"},
    {.name = "connector_id",
     .type = sdk::ConfigType::Integer,
     .default_value = "1",
     .description = "the connector this asset is",
     .min = 1,
     .max = 255},
    {.name = "charging_rate_unit",
     .type = sdk::ConfigType::String,
     .default_value = "W",
     .description = "unit of charging profiles: W, A, or auto (ask the charger)",
     .one_of = {"W", "A", "auto"}},
    {.name = "phases",
     .type = sdk::ConfigType::Integer,
     .default_value = "3",
     .description = "phases the charger uses, for kW to A",
     .min = 1,
     .max = 3},
    {.name = "voltage",
     .type = sdk::ConfigType::Float,
     .default_value = "230.0",
     .description = "phase-to-neutral voltage, for kW to A",
     .min = 1,
     .max = 1000},
    {.name = "password",
     .type = sdk::ConfigType::String,
     .description = "the charger's Basic auth password (security_profile 1 and 2)"},
    {.name = "profile_kind",
     .type = sdk::ConfigType::String,
     .default_value = "absolute",
     .description = "chargingProfileKind of the profiles sent",
     .one_of = {"absolute", "relative"}},
    {.name = "stack_level",
     .type = sdk::ConfigType::Integer,
     .default_value = "0",
     .description = "stackLevel of the profiles sent",
     .min = 0,
     .max = 100},
    {.name = "min_current_a",
     .type = sdk::ConfigType::Float,
     .default_value = "0",
     .description = "limits below this become 0 (pause)",
     .min = 0,
     .max = 100},
    {.name = "profile_purpose",
     .type = sdk::ConfigType::String,
     .default_value = "auto",
     .description = "auto: TxProfile during a transaction; tx_default: always TxDefaultProfile",
     .one_of = {"auto", "tx_default"}},
    {.name = "id_tag",
     .type = sdk::ConfigType::String,
     .default_value = "gridgate",
     .description = "idTag of RemoteStartTransaction when the command names none"},
};

constexpr std::string_view kAssetTypes[] = {"ev_charger"};

class Ocpp16Plugin final : public sdk::Plugin {
  public:
    std::span<const sdk::ConfigKey> adapter_keys() const noexcept override { return kAdapterKeys; }
    std::span<const sdk::ConfigKey> asset_keys() const noexcept override { return kAssetKeys; }
    std::span<const std::string_view> asset_types() const noexcept override { return kAssetTypes; }

    std::vector<sdk::ConfigDiagnostic> validate(
        const sdk::AdapterConfig& config) const noexcept override {
        std::vector<sdk::ConfigDiagnostic> problems;
        try {
            const auto settings = gridgate::ocpp16::read_settings(config, problems);
            problems.insert(problems.end(), settings.warnings.begin(), settings.warnings.end());
        } catch (const std::exception& e) {
            problems.push_back({config.table.where(), std::string("ocpp16: ") + e.what()});
        }
        return problems;
    }

    sdk::AdapterCreation create_adapter(sdk::HostContext& host) noexcept override {
        try {
            std::vector<sdk::ConfigDiagnostic> problems;
            auto settings = gridgate::ocpp16::read_settings(host.config(), problems);
            if (!problems.empty()) return {nullptr, sdk::Status::failure(problems.front().str())};
            return {std::make_unique<gridgate::ocpp16::Ocpp16Adapter>(host, std::move(settings)),
                    sdk::Status::ok()};
        } catch (const std::exception& e) {
            return {nullptr, sdk::Status::failure(std::string("ocpp16: ") + e.what())};
        }
    }
};

}  // namespace

GRIDGATE_PLUGIN(Ocpp16Plugin, "ocpp16", "0.1.0",
                "EV chargers over OCPP 1.6-J; the gateway is their central system",
                sdk::capabilities(sdk::CommandType::SetChargeRate, sdk::CommandType::SetPowerLimit,
                                  sdk::CommandType::StartCharging, sdk::CommandType::StopCharging,
                                  sdk::CommandType::ChangeAvailability))
