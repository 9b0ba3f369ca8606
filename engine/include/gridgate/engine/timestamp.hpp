// ISO 8601 timestamps as schedules and the HTTP API write them: parsing every
// form pandas and other clients produce into UTC time points, and formatting
// time points back in the one form the gateway answers with (UTC, "Z").
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "gridgate/sdk/command.hpp"

namespace gridgate::engine {

using sdk::TimePoint;

/// Parses "2024-01-15T08:00:00Z", "2024-01-15 08:00:00" (pandas' separator),
/// "...+01:00", "...+0100", "...+01", "...-05:30", fractional seconds of any
/// length ("08:00:00.123456789", digits past nanoseconds are truncated), minutes
/// without seconds ("08:00"), and a bare date "2024-01-15" (midnight). A time
/// without a zone is UTC. Every field is range-checked (month 1-12, day within
/// its month with leap years, hour 0-23, minute and second 0-59, offset up to
/// 23:59). Anything else, or an instant outside what TimePoint can hold, gives
/// nullopt. Pure function; safe from any thread.
std::optional<TimePoint> parse_timestamp(std::string_view text) noexcept;

/// "2024-01-15T08:00:00Z". A non-zero fraction is written with the fewest of
/// 3, 6 or 9 digits that hold it exactly (".123Z", ".123456Z", ".123456789Z"),
/// so parse_timestamp(format_timestamp(t)) == t. Pure function.
std::string format_timestamp(TimePoint t);

}  // namespace gridgate::engine
