#include "gridgate/engine/schedule.hpp"

#include "gridgate/engine/timestamp.hpp"

namespace gridgate::engine {

std::string Schedule::row_label(std::size_t row) const {
    const std::string when = " (" + format_timestamp(index[row]) + ")";
    if (row < csv_lines.size()) return "line " + std::to_string(csv_lines[row]) + when;
    if (!json_data_path.empty()) return json_data_path + "[" + std::to_string(row) + "]" + when;
    return "row " + std::to_string(row + 1) + when;
}

std::string Schedule::cell_label(std::size_t row, std::size_t col) const {
    const std::string name = " (" + columns[col] + ")";
    // The CSV's first column is the time index: data column c is column c + 2.
    if (row < csv_lines.size()) {
        return "line " + std::to_string(csv_lines[row]) + ", column " + std::to_string(col + 2) +
               name;
    }
    if (!json_data_path.empty()) {
        return json_data_path + "[" + std::to_string(row) + "][" + std::to_string(col) + "]" + name;
    }
    return "column '" + columns[col] + "', " + row_label(row);
}

}  // namespace gridgate::engine
