// The JSON bodies of the HTTP API, rendered exactly as ARCHITECTURE.md fixes
// them: snake_case keys, times as ISO 8601 UTC with "Z", null for what is not
// there. The daemon's ApiBackend builds its answers with these.
//
// Pure functions; safe from any thread. Strings are escaped, and bytes that
// are not valid UTF-8 are replaced by U+FFFD so the output is always valid JSON.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gridgate/sdk/command.hpp"

namespace gridgate::http {

/// "2024-01-15T08:00:00Z"; a fraction of a second is cut to microseconds and,
/// if not zero, written with 3 or 6 digits (".250Z", ".000001Z").
std::string format_utc(sdk::TimePoint t);

/// {"error":"<message>"}
std::string error_json(std::string_view message);

/// The command object: command_id, asset_id, command_type, parameters (only
/// the parameters present), scheduled_at, status, retry_count, max_retries,
/// timeout_seconds, dispatched_at, completed_at, error (null when empty).
std::string command_to_json(const sdk::Command& command);

/// {"commands":[<command>,...]}
std::string commands_to_json(std::span<const sdk::Command> commands);

/// One asset as GET /api/v1/assets shows it.
struct AssetStatus {
    std::string id;
    std::string type;     // "ev_charger", "battery", ...
    std::string adapter;  // the adapter instance's name
    bool connected = false;
    std::optional<sdk::TimePoint> last_seen;
    std::vector<std::pair<std::string, double>> telemetry;  // latest value per point, in order
    std::vector<std::string> stale_telemetry;               // the points among them no longer read
};

/// {"assets":[{"id","type","adapter","connected","last_seen","telemetry":{...},
/// "stale_telemetry":[...]},...]}
/// A telemetry value that is not finite is written as null.
std::string assets_to_json(std::span<const AssetStatus> assets);

/// The 201 answer to POST /api/v1/schedules:
/// {"schedule_id":"...","commands":["cmd_...",...],"ignored_columns":["...",...]}
std::string schedule_accepted_json(std::string_view schedule_id,
                                   std::span<const sdk::CommandId> commands,
                                   std::span<const std::string> ignored_columns);

}  // namespace gridgate::http
