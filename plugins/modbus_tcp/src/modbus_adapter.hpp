// The modbus_tcp adapter: commands for batteries become register writes
// through one BatteryController per asset, on connections shared per
// host:port; telemetry and connection changes become asset events.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "asset_settings.hpp"
#include "gridgate/modbus/battery_controller.hpp"
#include "gridgate/modbus/connection.hpp"
#include "gridgate/sdk/adapter.hpp"
#include "gridgate/sdk/host.hpp"
#include "gridgate/sdk/string_map.hpp"

namespace gridgate::modbus_tcp {

/// Thread-safety: execute(), supports() and state() from any thread; start()
/// and stop() once each from the host. Completions and events come from the
/// connections' workers.
class ModbusAdapter final : public sdk::Adapter {
  public:
    ModbusAdapter(sdk::HostContext& host, std::vector<AssetSettings> assets);
    ~ModbusAdapter() override;

    sdk::Status start() noexcept override;
    void stop() noexcept override;
    void execute(const sdk::Command& command, sdk::Completion done) noexcept override;
    bool supports(std::string_view asset_id, sdk::CommandType type) const noexcept override;
    sdk::AssetState state(std::string_view asset_id) const noexcept override;

  private:
    struct Asset {
        AssetSettings settings;
        std::shared_ptr<modbus::ModbusConnection> connection;
        std::unique_ptr<modbus::BatteryController> controller;

        mutable std::mutex mutex;  // guards the state below
        bool connected = false;
        bool was_connected = false;
        std::optional<sdk::TimePoint> last_seen;
        std::map<std::string, sdk::TelemetryValue> telemetry;
    };
    Asset* find(std::string_view asset_id) const noexcept;
    void on_reading(Asset& asset, const modbus::PointReading& reading);
    void on_connection(Asset& asset, bool up, const std::string& reason);

    sdk::HostContext& host_;
    modbus::ConnectionPool pool_;
    std::vector<std::unique_ptr<Asset>> assets_;
    sdk::StringMap<Asset*> by_id_;
    std::mutex lifecycle_;  // start / stop
    bool started_ = false;
    bool stopped_ = false;
};

}  // namespace gridgate::modbus_tcp
