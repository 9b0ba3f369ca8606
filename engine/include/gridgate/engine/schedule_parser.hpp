// Schedule parsing: the text an optimizer posts (pandas `to_csv` output, or
// pandas `to_json(orient="split")` output, bare or wrapped with an asset map)
// into a validated Schedule. A refused text throws ScheduleError(BadInput)
// whose message says where: "line 4, column 3 (ev_001_kw): ..." for CSV,
// "$.data[2][1]: ..." for JSON. Nothing is returned for a refused text, so a
// caller that applies only returned schedules changes nothing on an error.
//
// All functions are pure (no shared state) and safe to call from any thread.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "gridgate/engine/schedule.hpp"

namespace gridgate::engine {

/// pandas `DataFrame.to_csv()`: a header row (first cell empty or the index
/// name, then the column names), then one row per slot whose first field is an
/// ISO 8601 timestamp (naive = UTC). Empty cells, `NaN`, `nan` and `null` are
/// missing values. RFC 4180 quoting, LF or CRLF, an optional UTF-8 BOM.
/// Line numbers in errors count the header as line 1; column 1 is the index.
Schedule parse_schedule_csv(std::string_view text);

/// pandas `DataFrame.to_json(orient="split", date_format="iso")`: an object
/// with exactly "columns" (strings), "index" (ISO 8601 strings, or integers of
/// epoch milliseconds as pandas' default date_format writes) and "data" (rows
/// of numbers or null; a bare NaN token is missing too).
Schedule parse_schedule_json(std::string_view text);

/// The JSON body of POST /api/v1/schedules.
struct ScheduleRequest {
    Schedule schedule;
    std::map<std::string, std::string> asset_map;  // empty when the body had none
};

/// A bare split object, or {"schedule": {...split...}, "asset_map": {"key": "asset id", ...}}.
/// Error paths in the wrapped form start at "$.schedule".
ScheduleRequest parse_schedule_request_json(std::string_view text);

}  // namespace gridgate::engine
