// The command vocabulary shared by the engine and every adapter plugin:
// what a command is, its types and statuses, and its identifier.
//
// Plain value types; no I/O, no allocation beyond the strings they hold.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gridgate::sdk {

/// Wall-clock instants are UTC `system_clock` time points throughout.
using Clock = std::chrono::system_clock;
using TimePoint = Clock::time_point;

enum class CommandType : std::uint8_t {
    SetChargeRate,
    SetDischargeRate,
    SetPowerLimit,
    StartCharging,
    StopCharging,
    ChangeAvailability,
    SetSocTarget,
};
inline constexpr std::size_t kCommandTypeCount = 7;

enum class CommandStatus : std::uint8_t {
    Pending,
    Dispatched,
    Completed,
    Failed,
    TimedOut,
    Cancelled,
};
inline constexpr std::size_t kCommandStatusCount = 6;

/// "SET_CHARGE_RATE", ... as used on the wire and in the HTTP API.
constexpr std::string_view to_string(CommandType t) noexcept {
    constexpr std::array<std::string_view, kCommandTypeCount> names{
        "SET_CHARGE_RATE",     "SET_DISCHARGE_RATE", "SET_POWER_LIMIT", "START_CHARGING",
        "STOP_CHARGING",       "CHANGE_AVAILABILITY", "SET_SOC_TARGET"};
    return names[static_cast<std::size_t>(t)];
}

constexpr std::string_view to_string(CommandStatus s) noexcept {
    constexpr std::array<std::string_view, kCommandStatusCount> names{
        "PENDING", "DISPATCHED", "COMPLETED", "FAILED", "TIMED_OUT", "CANCELLED"};
    return names[static_cast<std::size_t>(s)];
}

constexpr std::optional<CommandType> command_type_from_string(std::string_view s) noexcept {
    for (std::size_t i = 0; i < kCommandTypeCount; ++i) {
        auto t = static_cast<CommandType>(i);
        if (to_string(t) == s) return t;
    }
    return std::nullopt;
}

constexpr std::optional<CommandStatus> command_status_from_string(std::string_view s) noexcept {
    for (std::size_t i = 0; i < kCommandStatusCount; ++i) {
        auto st = static_cast<CommandStatus>(i);
        if (to_string(st) == s) return st;
    }
    return std::nullopt;
}

/// A status from which a command never moves again.
constexpr bool is_terminal(CommandStatus s) noexcept {
    return s == CommandStatus::Completed || s == CommandStatus::Failed ||
           s == CommandStatus::TimedOut || s == CommandStatus::Cancelled;
}

/// `cmd_` followed by 12 lowercase hex digits; held as the 48-bit number.
class CommandId {
public:
    static constexpr std::uint64_t kMask = (std::uint64_t{1} << 48) - 1;

    constexpr CommandId() noexcept = default;
    constexpr explicit CommandId(std::uint64_t value) noexcept : value_(value & kMask) {}

    constexpr std::uint64_t value() const noexcept { return value_; }

    std::string str() const {
        std::string s = "cmd_000000000000";
        constexpr char hex[] = "0123456789abcdef";
        std::uint64_t v = value_;
        for (std::size_t i = s.size(); i > 4; --i, v >>= 4) s[i - 1] = hex[v & 0xF];
        return s;
    }

    /// Parses the exact text form; anything else yields nullopt.
    static constexpr std::optional<CommandId> parse(std::string_view s) noexcept {
        if (s.size() != 16 || s.substr(0, 4) != "cmd_") return std::nullopt;
        std::uint64_t v = 0;
        for (char c : s.substr(4)) {
            int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
            if (d < 0) return std::nullopt;
            v = (v << 4) | static_cast<std::uint64_t>(d);
        }
        return CommandId{v};
    }

    friend constexpr bool operator==(CommandId, CommandId) noexcept = default;
    friend constexpr auto operator<=>(CommandId, CommandId) noexcept = default;

private:
    std::uint64_t value_ = 0;
};

/// What a command asks for. Each command type reads the fields it needs:
///   SET_CHARGE_RATE / SET_DISCHARGE_RATE / SET_POWER_LIMIT: power_kw (>= 0)
///   SET_SOC_TARGET: soc_percent
///   CHANGE_AVAILABILITY: operative
///   START_CHARGING: id_tag (empty: the adapter's configured default), connector_id
///   STOP_CHARGING: connector_id (optional: which running transaction to stop
///     when the asset has several connectors; the adapter's default otherwise)
struct Parameters {
    std::optional<double> power_kw;
    std::optional<double> soc_percent;
    std::optional<bool> operative;
    std::optional<int> connector_id;
    std::string id_tag;

    friend bool operator==(const Parameters&, const Parameters&) = default;
};

/// One timed instruction to one asset, with its lifecycle.
struct Command {
    CommandId command_id;
    std::string asset_id;
    CommandType command_type = CommandType::SetChargeRate;
    Parameters parameters;
    TimePoint scheduled_at{};
    CommandStatus status = CommandStatus::Pending;
    int retry_count = 0;
    int max_retries = 3;
    double timeout_seconds = 30.0;
    std::optional<TimePoint> dispatched_at;
    std::optional<TimePoint> completed_at;
    std::string error;  // the peer's own word, or "not connected" / "timeout"
};

}  // namespace gridgate::sdk
