// A register map point (any type, table, orders, scale, offset, no-value
// marker and range a site file can give, as validate() lets them through)
// and what a device answers for it, or a value to write to it.
//
// A point validate() refuses, and a value encode() refuses, are fine. Broken
// promises:
//  - a crash or undefined behaviour in decode() or encode(), whatever the
//    device answers;
//  - decode() giving a value that is not finite, or outside the point's
//    min/max;
//  - encode() giving other than the point's width in registers, or
//    registers that do not decode to the value written (within half a
//    scale step, a whole one next to the point's min or max, or float32's
//    precision; a bool to false or true), unless they are the no-value
//    marker.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "fuzz_support.hpp"
#include "gridgate/modbus/codec.hpp"
#include "gridgate/modbus/register_map.hpp"

using namespace gridgate::modbus;
using gridgate::fuzz::Bytes;
using gridgate::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Bytes in(data, size);
    RegisterPoint p;
    p.name = "point";
    p.address = in.take<std::uint16_t>();
    p.type = static_cast<PointType>(in.take<std::uint8_t>() % 9);
    p.table = static_cast<Table>(in.take<std::uint8_t>() % 4);
    const auto flags = in.take<std::uint8_t>();
    p.word_order = flags & 1 ? Order::little : Order::big;
    p.byte_order = flags & 2 ? Order::little : Order::big;
    p.scale = in.take<double>();
    p.offset = in.take<double>();
    if (flags & 4) p.nan_value = in.take<double>();
    if (flags & 8) p.min = in.take<double>();
    if (flags & 16) p.max = in.take<double>();
    RegisterMap map;
    map.name = "fuzz";
    map.points.push_back(p);
    if (!validate(map).empty()) return 0;

    // What the device answers.
    std::vector<std::uint16_t> words(p.width());
    for (auto& w : words) w = in.take<std::uint16_t>();
    if (is_bit_table(p.table)) words[0] &= 1;
    // min and max hold with the codec's slack for float noise (1e-9, or
    // 1e-9 of the limit beyond 1).
    const auto slack = [](double limit) { return 1e-9 * std::max(1.0, std::fabs(limit)); };
    if (auto value = decode(p, words)) {
        check(std::isfinite(*value), "decode() gave a value that is not finite");
        check(!p.min || *value >= *p.min - slack(*p.min), "decode() gave a value below min");
        check(!p.max || *value <= *p.max + slack(*p.max), "decode() gave a value above max");
    }

    // What we write.
    const double value = in.take<double>();
    const auto encoded = encode(p, value);
    if (!encoded) return 0;
    check(encoded->size() == p.width(), "encode() gave other than the point's width");
    const auto back = decode(p, *encoded);
    if (!back) {
        check(p.nan_value.has_value(), "what encode() wrote reads back as no value");
        return 0;
    }
    if (p.type == PointType::boolean) {
        // A bool takes any number: nonzero (once scaled and rounded) is true.
        check(*back == p.offset || *back == p.scale + p.offset,
              "what encode() wrote to a bool reads back as neither false nor true");
        return 0;
    }
    // Half a scale step for an integer register; float32's precision for a
    // float32 one; and the rounding of (value - offset) / scale and back,
    // which grows with the offset as much as with the value.
    const double magnitude = std::fabs(value) + std::fabs(p.offset);
    // (A whole step when the nearest one lay outside the point's range and
    // the step on the range's side was written.)
    double tolerance = std::fabs(p.scale) / (p.min || p.max ? 1 : 2);
    if (p.type == PointType::float32)
        tolerance =
            magnitude * 1e-6 + std::fabs(p.scale) * std::numeric_limits<float>::denorm_min();
    // A float64 raw value loses bits only where it is a denormal.
    if (p.type == PointType::float64)
        tolerance = std::fabs(p.scale) * std::numeric_limits<double>::denorm_min();
    tolerance += magnitude * 1e-12 + 1e-300;  // and denormals, which carry no meaning
    check(std::fabs(*back - value) <= tolerance, "what encode() wrote reads back as another value");
    return 0;
}
