// OCPP's dateTime: RFC 3339 timestamps on the wire, UTC time points in code.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace gridgate::ocpp {

using Timestamp = std::chrono::sys_time<std::chrono::milliseconds>;

// Parses `YYYY-MM-DDTHH:MM:SS[.fraction][Z|+HH:MM|-HH:MM]` (a space is accepted
// for the `T`). A timestamp without a zone is taken as UTC: several chargers
// in the field omit the `Z`, and refusing their messages would help no one.
// Returns nullopt for anything else, including impossible dates and a time
// whose zone offset carries it out of the years 0000-9999 (it could not be
// written back).
std::optional<Timestamp> parse_timestamp(std::string_view text);

// Formats as `YYYY-MM-DDTHH:MM:SSZ`, or with `.mmm` when the time has milliseconds.
std::string format_timestamp(Timestamp time);

// The same into `out`, without the heap; returns the length (no terminator).
inline constexpr std::size_t kTimestampBufferSize = 48;
std::size_t format_timestamp(Timestamp time, char (&out)[kTimestampBufferSize]);

}  // namespace gridgate::ocpp
