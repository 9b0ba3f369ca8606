// What the engine tells the rest of the gateway: one Event per lifecycle
// transition of a command or schedule, plus the asset events the host
// publishes on behalf of adapters (connection changes, telemetry).
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gridgate/sdk/command.hpp"

namespace gridgate::engine {

using sdk::TimePoint;

enum class EventType : std::uint8_t {
    ScheduleReceived,
    CommandDispatched,
    CommandCompleted,
    CommandFailed,
    CommandTimedOut,
    CommandCancelled,
    CommandRetry,
    AssetConnected,
    AssetDisconnected,
    Telemetry,
};
inline constexpr std::size_t kEventTypeCount = 10;

/// "SCHEDULE_RECEIVED", "COMMAND_DISPATCHED", ...
std::string_view to_string(EventType type) noexcept;
std::optional<EventType> event_type_from_string(std::string_view name) noexcept;

/// One published fact. A plain value; which fields are set depends on `type`:
///  - command events (COMMAND_*): command_id, asset_id, command_type, status
///    (after the transition), retry_count, error, scheduled_at, parameters;
///    COMMAND_RETRY also retry_at; COMMAND_CANCELLED a reason in `message`.
///  - SCHEDULE_RECEIVED: schedule_id, command_count (and created_by_type,
///    the same split by command type), cancelled_count, ignored_columns.
///  - ASSET_CONNECTED / ASSET_DISCONNECTED: asset_id, message.
///  - TELEMETRY: asset_id, telemetry (name -> engineering value), and in
///    stale_telemetry the names among them whose value is the last one read
///    before the asset stopped answering.
struct Event {
    EventType type = EventType::ScheduleReceived;
    TimePoint timestamp{};

    sdk::CommandId command_id;
    std::string asset_id;
    std::optional<sdk::CommandType> command_type;
    std::optional<sdk::CommandStatus> status;
    int retry_count = 0;
    std::string error;
    std::optional<TimePoint> scheduled_at;
    std::optional<TimePoint> retry_at;
    sdk::Parameters parameters;

    std::string schedule_id;
    std::size_t command_count = 0;
    std::array<std::size_t, sdk::kCommandTypeCount> created_by_type{};  // by CommandType
    std::size_t cancelled_count = 0;
    std::vector<std::string> ignored_columns;

    std::vector<std::pair<std::string, double>> telemetry;
    std::vector<std::string> stale_telemetry;
    std::string message;
    /// The event ends an attempt that failed or timed out: COMMAND_FAILED,
    /// COMMAND_TIMED_OUT, COMMAND_RETRY, or COMMAND_CANCELLED instead of a
    /// retry (a newer setpoint overtook it).
    bool attempt_failed = false;
};

}  // namespace gridgate::engine
