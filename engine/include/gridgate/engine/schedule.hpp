// A power schedule as the optimizer sends it: a strictly increasing UTC time
// index, one column per asset and quantity, NaN where a cell has no value.
#pragma once

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include "gridgate/sdk/command.hpp"

namespace gridgate::engine {

using sdk::TimePoint;

/// Column-major table. Not thread-safe; a plain value.
struct Schedule {
    std::vector<TimePoint> index;      // one per row, strictly increasing
    std::vector<std::string> columns;  // column names, in input order
    std::vector<double> values;        // values[col * rows() + row]; NaN = no value
    // Where the rows came from, so a refusal after parsing names the place
    // as the parser would: a CSV's line of each row (the header is line 1),
    // or the JSON path of "data" ("$.data", "$.schedule.data"). Both empty
    // for a schedule built in code.
    std::vector<std::size_t> csv_lines;
    std::string json_data_path;

    std::size_t rows() const noexcept { return index.size(); }
    std::size_t cols() const noexcept { return columns.size(); }
    double at(std::size_t row, std::size_t col) const noexcept {
        return values[col * rows() + row];
    }
    /// "line 4 (2024-01-15T00:00:00Z)", "$.data[2] (...)" or "row 3 (...)".
    std::string row_label(std::size_t row) const;
    /// "line 4, column 3 (ev_001_kw)", "$.data[2][1] (ev_001_kw)" or
    /// "column 'ev_001_kw', row 3 (...)".
    std::string cell_label(std::size_t row, std::size_t col) const;
    static bool missing(double v) noexcept { return std::isnan(v); }
};

/// A schedule was refused. `what()` names where: "line 4, column 3 (ev_001_kw): ..."
/// for CSV, "$.data[2][1]: ..." for JSON, or the column for a mapping error.
class ScheduleError : public std::runtime_error {
  public:
    enum class Kind {
        BadInput,      // malformed text, bad number or timestamp, unordered rows -> HTTP 400
        UnknownAsset,  // a column whose asset_map key is missing or names no asset -> HTTP 422
    };
    ScheduleError(Kind kind, const std::string& message)
        : std::runtime_error(message), kind_(kind) {}
    Kind kind() const noexcept { return kind_; }

  private:
    Kind kind_;
};

}  // namespace gridgate::engine
