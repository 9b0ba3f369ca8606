// A number as the library's messages write it: the shortest of fixed or
// exponent notation, `precision` significant digits.
#pragma once
#include <sstream>
#include <string>

namespace gridgate::modbus::detail {

inline std::string number_text(double v, int precision) {
    std::ostringstream out;
    out.precision(precision);
    out << v;
    return out.str();
}

}  // namespace gridgate::modbus::detail
