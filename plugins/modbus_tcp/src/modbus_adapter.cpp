#include "modbus_adapter.hpp"

#include <algorithm>
#include <chrono>

namespace gridgate::modbus_tcp {
namespace {

/// Time for the idle writes at shutdown beyond what the slowest device's
/// answers may take: the scheduling of the connections' threads.
constexpr std::chrono::milliseconds shutdown_grace{250};

sdk::CommandResult to_result(const modbus::ControlResult& r) {
    return r.ok ? sdk::CommandResult::ok() : sdk::CommandResult::failure(r.error, r.retryable);
}

bool can_carry(const modbus::RegisterMap& map, sdk::CommandType type) {
    using sdk::CommandType;
    switch (type) {
        case CommandType::SetChargeRate:
        case CommandType::SetDischargeRate:
            return map.effective_pattern() != modbus::SetpointPattern::none;
        case CommandType::SetPowerLimit:
            return map.find(modbus::point_names::power_limit) != nullptr;
        case CommandType::SetSocTarget:
            return map.find(modbus::point_names::soc_target) != nullptr;
        case CommandType::ChangeAvailability:
            return map.find(modbus::point_names::enable) != nullptr;
        default:
            return false;
    }
}

}  // namespace

ModbusAdapter::ModbusAdapter(sdk::HostContext& host, std::vector<AssetSettings> assets)
    : host_(host) {
    for (auto& settings : assets) {
        auto asset = std::make_unique<Asset>();
        asset->settings = std::move(settings);
        by_id_.emplace(asset->settings.id, asset.get());
        assets_.push_back(std::move(asset));
    }
}

ModbusAdapter::~ModbusAdapter() {
    stop();
}

sdk::Status ModbusAdapter::start() noexcept {
    return sdk::guarded("modbus_tcp start", [&]() -> sdk::Status {
        std::lock_guard lock(lifecycle_);
        if (started_) return sdk::Status::ok();
        started_ = true;
        for (auto& a : assets_) {
            auto connection = pool_.get(a->settings.endpoint, a->settings.connection);
            if (!connection) return sdk::Status::failure(connection.error());
            a->connection = *connection;
            Asset* asset = a.get();
            a->controller = std::make_unique<modbus::BatteryController>(
                a->connection, a->settings.controller,
                modbus::BatteryControllerHandlers{
                    [this, asset](const modbus::PointReading& r) { on_reading(*asset, r); },
                    [this, asset](bool up, const std::string& reason) {
                        on_connection(*asset, up, reason);
                    },
                    [this, asset](const std::string& note) {
                        const auto level = note.find("failed") != std::string::npos
                                               ? sdk::LogLevel::Warn
                                               : sdk::LogLevel::Info;
                        if (host_.enabled(level)) {
                            host_.log(level, "asset '" + asset->settings.id + "': " + note);
                        }
                    }});
        }
        for (auto& a : assets_) a->controller->start();
        return sdk::Status::ok();
    });
}

void ModbusAdapter::stop() noexcept {
    std::lock_guard lock(lifecycle_);
    if (stopped_) return;
    stopped_ = true;
    try {
        // Every battery's idle write (on_shutdown = "idle") is queued before
        // any is waited for, over connections that still run: a dead device
        // costs its own connection's time, not the next battery's. One
        // request may be on the wire ahead of the idle write (a poll read),
        // so a device that answers at all has answered both within two
        // response timeouts (and the delay after a reconnect).
        const auto started = std::chrono::steady_clock::now();
        std::chrono::milliseconds longest{0};
        for (auto& a : assets_) {
            if (!a->controller) continue;
            a->controller->begin_stop();
            const auto& c = a->settings.connection;
            longest = std::max(longest, 2 * c.response_timeout + c.delay_after_connect);
        }
        const auto deadline = started + longest + shutdown_grace;
        for (auto& a : assets_) {
            if (a->controller) a->controller->finish_stop(deadline);
        }
        // Then the connections, all asked before any is joined: requests
        // still queued complete with a retryable failure, and a request
        // still on the wire runs out on every connection at once.
        for (auto& a : assets_) {
            if (a->connection) a->connection->request_stop();
        }
        for (auto& a : assets_) {
            if (a->connection) a->connection->stop();
        }
    } catch (...) {
        // stop() must not throw; a failed join leaves nothing to undo here.
    }
}

ModbusAdapter::Asset* ModbusAdapter::find(std::string_view asset_id) const noexcept {
    auto it = by_id_.find(asset_id);
    return it == by_id_.end() ? nullptr : it->second;
}

void ModbusAdapter::execute(const sdk::Command& command, sdk::Completion done) noexcept {
    sdk::guarded_execute(done, [&] {
        using sdk::CommandType;
        Asset* asset = find(command.asset_id);
        const std::string type(sdk::to_string(command.command_type));
        if (asset == nullptr || !asset->controller) {
            done(sdk::CommandResult::failure(
                "modbus_tcp: no battery '" + command.asset_id + "' is bound to this adapter",
                false));
            return;
        }
        // The command's error is the short word; the whole story goes to
        // the log under the command's id.
        auto finish = [this, done, id = command.command_id.str(), type,
                       asset_id = command.asset_id](modbus::ControlResult r) {
            if (!r.ok && host_.enabled(sdk::LogLevel::Warn)) {
                host_.log(sdk::LogLevel::Warn, "command " + id + " (" + type + " to asset '" +
                                                   asset_id + "') failed: " + r.detail);
            }
            done(to_result(r));
        };
        auto& controller = *asset->controller;
        const auto& p = command.parameters;
        switch (command.command_type) {
            case CommandType::SetChargeRate:
            case CommandType::SetDischargeRate:
            case CommandType::SetPowerLimit:
                if (!p.power_kw || !(*p.power_kw >= 0)) {
                    done(sdk::CommandResult::failure(type + " needs power_kw >= 0", false));
                    return;
                }
                // The commands of one slot waiting together share one write.
                if (command.command_type == CommandType::SetChargeRate) {
                    controller.set_charge(*p.power_kw, finish, command.scheduled_at);
                } else if (command.command_type == CommandType::SetDischargeRate) {
                    controller.set_discharge(*p.power_kw, finish, command.scheduled_at);
                } else {
                    controller.set_power_limit(*p.power_kw, finish);
                }
                return;
            case CommandType::SetSocTarget:
                if (!p.soc_percent) {
                    done(sdk::CommandResult::failure(type + " needs soc_percent", false));
                    return;
                }
                controller.write_point(modbus::point_names::soc_target, *p.soc_percent, finish);
                return;
            case CommandType::ChangeAvailability:
                if (!p.operative) {
                    done(sdk::CommandResult::failure(type + " needs operative", false));
                    return;
                }
                controller.write_point(modbus::point_names::enable, *p.operative ? 1 : 0, finish);
                return;
            default:
                done(sdk::CommandResult::failure("modbus_tcp cannot carry " + type, false));
                return;
        }
    });
}

bool ModbusAdapter::supports(std::string_view asset_id, sdk::CommandType type) const noexcept {
    const Asset* asset = find(asset_id);
    return asset != nullptr && can_carry(asset->settings.controller.map, type);
}

sdk::AssetState ModbusAdapter::state(std::string_view asset_id) const noexcept {
    sdk::AssetState out;
    const Asset* asset = find(asset_id);
    if (asset == nullptr) return out;
    try {
        std::lock_guard lock(asset->mutex);
        out.connected = asset->connected;
        out.last_seen = asset->last_seen;
        for (const auto& [name, value] : asset->telemetry) out.telemetry.push_back(value);
    } catch (...) {
    }
    return out;
}

void ModbusAdapter::on_reading(Asset& asset, const modbus::PointReading& reading) {
    sdk::AssetEvent event{
        sdk::AssetEventType::Telemetry, asset.settings.id, sdk::Clock::now(), {}, {}};
    {
        std::lock_guard lock(asset.mutex);
        if (!reading.value) {
            asset.telemetry.erase(reading.point);  // the device says: no value
            if (!reading.stale) asset.last_seen = event.at;
            return;
        }
        sdk::TelemetryValue value{reading.point, *reading.value, reading.stale};
        asset.telemetry[reading.point] = value;
        if (!reading.stale) asset.last_seen = event.at;
        event.telemetry.push_back(std::move(value));
    }
    host_.publish(std::move(event));
}

void ModbusAdapter::on_connection(Asset& asset, bool up, const std::string& reason) {
    {
        std::lock_guard lock(asset.mutex);
        const bool changed = asset.connected != up;
        asset.connected = up;
        // Not yet connected at start is not a disconnection.
        if (!changed || (!up && !asset.was_connected)) return;
        asset.was_connected = asset.was_connected || up;
    }
    sdk::AssetEvent event{up ? sdk::AssetEventType::Connected : sdk::AssetEventType::Disconnected,
                          asset.settings.id,
                          sdk::Clock::now(),
                          {},
                          {}};
    // What happened to the request that failed: a timeout, an exception
    // answer, the connection lost or refused.
    if (!up) event.reason = reason;
    host_.publish(std::move(event));
}

}  // namespace gridgate::modbus_tcp
