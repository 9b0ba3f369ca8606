#include "gridgate/engine/events.hpp"

#include <array>

namespace gridgate::engine {

namespace {
constexpr std::array<std::string_view, kEventTypeCount> kEventTypeNames{
    "SCHEDULE_RECEIVED",  "COMMAND_DISPATCHED", "COMMAND_COMPLETED", "COMMAND_FAILED",
    "COMMAND_TIMED_OUT",  "COMMAND_CANCELLED",  "COMMAND_RETRY",     "ASSET_CONNECTED",
    "ASSET_DISCONNECTED", "TELEMETRY"};
}  // namespace

std::string_view to_string(EventType type) noexcept {
    auto i = static_cast<std::size_t>(type);
    return i < kEventTypeNames.size() ? kEventTypeNames[i] : std::string_view{"UNKNOWN"};
}

std::optional<EventType> event_type_from_string(std::string_view name) noexcept {
    for (std::size_t i = 0; i < kEventTypeNames.size(); ++i) {
        if (kEventTypeNames[i] == name) return static_cast<EventType>(i);
    }
    return std::nullopt;
}

}  // namespace gridgate::engine
