#include "gridgate/modbus/codec.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cassert>
#include <cmath>
#include <limits>
#include <optional>

#include "number_text.hpp"

namespace gridgate::modbus {
namespace {

constexpr double two_pow_52 = 4503599627370496.0;
constexpr double two_pow_63 = 9223372036854775808.0;
constexpr double two_pow_64 = 18446744073709551616.0;

std::uint64_t width_mask(std::uint16_t words) {
    return words >= 4 ? ~std::uint64_t{0} : (std::uint64_t{1} << (16U * words)) - 1;
}

std::uint16_t swap_bytes(std::uint16_t w) {
    return static_cast<std::uint16_t>((w << 8) | (w >> 8));
}

/// Lays the value's bits (most significant word first) out in address order.
std::vector<std::uint16_t> to_words(const RegisterPoint& p, std::uint64_t bits) {
    const std::uint16_t n = p.width();
    std::vector<std::uint16_t> words(n);
    for (std::uint16_t i = 0; i < n; ++i) {
        auto word = static_cast<std::uint16_t>(bits >> (16U * (n - 1U - i)));
        if (p.byte_order == Order::little) word = swap_bytes(word);
        const std::uint16_t slot =
            p.word_order == Order::big ? i : static_cast<std::uint16_t>(n - 1U - i);
        words[slot] = word;
    }
    return words;
}

std::uint64_t from_words(const RegisterPoint& p, std::span<const std::uint16_t> words) {
    const std::uint16_t n = p.width();
    std::uint64_t bits = 0;
    for (std::uint16_t i = 0; i < n; ++i) {
        const std::uint16_t slot =
            p.word_order == Order::big ? i : static_cast<std::uint16_t>(n - 1U - i);
        std::uint16_t word = words[slot];
        if (p.byte_order == Order::little) word = swap_bytes(word);
        bits = (bits << 16U) | word;
    }
    return bits;
}

std::string format(double v) {
    return detail::number_text(v, 10);
}

std::string out_of_range(const RegisterPoint& p, double value, double raw) {
    return "value " + format(value) + " does not fit point '" + p.name + "' (" +
           std::string(to_string(p.type)) + ", raw " + format(raw) + ")";
}

/// Raw bits of an integer type, range-checked.
Expected<std::uint64_t> integer_bits(const RegisterPoint& p, double value, double raw) {
    const double r = std::nearbyint(raw);
    double lo = 0;
    double hi = 0;  // exclusive
    switch (p.type) {
        case PointType::int16:
            lo = -32768.0, hi = 32768.0;
            break;
        case PointType::uint16:
            lo = 0, hi = 65536.0;
            break;
        case PointType::int32:
            lo = -2147483648.0, hi = 2147483648.0;
            break;
        case PointType::uint32:
            lo = 0, hi = 4294967296.0;
            break;
        case PointType::int64:
            lo = -two_pow_63, hi = two_pow_63;
            break;
        case PointType::uint64:
            lo = 0, hi = two_pow_64;
            break;
        default:
            break;
    }
    if (!(r >= lo && r < hi)) return Expected<std::uint64_t>::failure(out_of_range(p, value, raw));
    if (lo < 0) return static_cast<std::uint64_t>(static_cast<std::int64_t>(r));
    return static_cast<std::uint64_t>(r);
}

bool is_signed_integer(PointType t) {
    return t == PointType::int16 || t == PointType::int32 || t == PointType::int64;
}

double signed_value(std::uint64_t bits, std::uint16_t words) {
    const unsigned shift = 64U - 16U * words;
    return static_cast<double>(static_cast<std::int64_t>(bits << shift) >> shift);
}

/// The sentinel as raw bits of an integer point, if it is an integer.
std::optional<std::uint64_t> sentinel_bits(double sentinel, std::uint16_t words) {
    if (sentinel != std::trunc(sentinel)) return std::nullopt;
    if (sentinel >= 0 && sentinel < two_pow_64) {
        return static_cast<std::uint64_t>(sentinel) & width_mask(words);
    }
    if (sentinel < 0 && sentinel >= -two_pow_63) {
        return static_cast<std::uint64_t>(static_cast<std::int64_t>(sentinel)) & width_mask(words);
    }
    return std::nullopt;
}

/// 10^k (with the scale's sign) when the scale is +-10^-k, k = 1..22, as the
/// double nearest it (what `scale = 0.1` in a map gives).
std::optional<double> decimal_divisor(double scale) {
    struct Powers {
        std::array<double, 23> of_ten{};
        std::array<double, 23> inverse{};
    };
    static constexpr Powers powers = [] {
        Powers p;
        p.of_ten[0] = p.inverse[0] = 1;
        for (std::size_t k = 1; k < p.of_ten.size(); ++k) {
            p.of_ten[k] = p.of_ten[k - 1] * 10;  // exact up to 10^22
            p.inverse[k] = 1 / p.of_ten[k];      // correctly rounded
        }
        return p;
    }();
    const double magnitude = std::fabs(scale);
    if (!(magnitude < 1)) return std::nullopt;
    for (std::size_t k = 1; k < powers.inverse.size(); ++k) {
        if (magnitude == powers.inverse[k]) return std::copysign(powers.of_ten[k], scale);
    }
    return std::nullopt;
}

/// raw * scale + offset, as the double nearest the decimal result when the
/// scale is a power of ten: 543 * 0.1 is 54.300000000000004, 543 / 10 is
/// 54.3 (the division of exact values is correctly rounded, the product of
/// the inexact 0.1 is not). A decimal offset within the scale's digits is
/// added in raw units first, so it adds no rounding of its own either
/// ((615 - 400) / 10 is 21.5).
double engineering_value(const RegisterPoint& p, double raw) {
    const auto divisor = decimal_divisor(p.scale);
    if (!divisor) return raw * p.scale + p.offset;
    if (p.offset != 0 && raw == std::trunc(raw) && std::fabs(raw) <= two_pow_52) {
        const double shift = std::nearbyint(p.offset * *divisor);
        if (std::fabs(shift) <= two_pow_52 && shift / *divisor == p.offset) {
            return (raw + shift) / *divisor;  // integers below 2^53: exact sum
        }
    }
    return raw / *divisor + p.offset;
}

/// Limits allow for the rounding of raw * scale (0.1 * 1000 is 100.00000000000001).
bool within_limits(const RegisterPoint& p, double value) {
    const auto slack = [](double limit) { return 1e-9 * std::max(1.0, std::fabs(limit)); };
    return (!p.min || value >= *p.min - slack(*p.min)) &&
           (!p.max || value <= *p.max + slack(*p.max));
}

// A value a register's contents may stand for: finite, within the point's
// range. decode() gives no other; encode() writes no other.
bool holds_within(const RegisterPoint& p, double held) {
    return std::isfinite(held) && within_limits(p, held);
}

// What a register will hold can lie just past the point's range while the
// value asked for lies within it: an integer step rounded up (max 10.06 at
// scale 0.1: 10.06 is raw 100.6, and 101 reads 10.1), 99.9 as the float
// 99.90000153, the rounding of a large offset. The neighbouring raw value on
// the range's side is written then; nullopt when that one is outside too,
// or when what the register holds reads back as no finite number.
// `next(x, up)` is the raw value one step above or below x.
template <class T, class Next>
std::optional<T> within_range(const RegisterPoint& p, T x, Next next) {
    const double held = engineering_value(p, static_cast<double>(x));
    if (holds_within(p, held)) return x;
    if (!p.min && !p.max) return std::nullopt;  // it reads back as no number at all
    const bool too_high =
        (p.max && held > *p.max) || held == std::numeric_limits<double>::infinity();
    const bool raw_up = too_high == (p.scale < 0);  // a negative scale turns it round
    const T other = next(x, raw_up);
    if (holds_within(p, engineering_value(p, static_cast<double>(other)))) return other;
    return std::nullopt;
}

template <class F>
F next_float(F x, bool up) {
    return std::nextafter(
        x, up ? std::numeric_limits<F>::infinity() : -std::numeric_limits<F>::infinity());
}

}  // namespace

Expected<std::vector<std::uint16_t>> encode(const RegisterPoint& p, double value) {
    using Result = Expected<std::vector<std::uint16_t>>;
    if (!std::isfinite(value)) {
        return Result::failure("value " + format(value) + " for point '" + p.name +
                               "' is not a number");
    }
    if (!within_limits(p, value)) {
        return Result::failure("value " + format(value) + " for point '" + p.name +
                               "' is outside its range [" + (p.min ? format(*p.min) : "-inf") +
                               ", " + (p.max ? format(*p.max) : "inf") + "]");
    }
    // + 0.0 turns a -0.0 (0 kW with a negative scale) into 0: a float
    // register gets no sign bit a device might read as "discharge".
    const double raw = (value - p.offset) / p.scale + 0.0;
    // A scale and offset far apart can carry a finite value past a double.
    if (!std::isfinite(raw)) return Result::failure(out_of_range(p, value, raw));
    if (is_bit_table(p.table) || p.type == PointType::boolean) {
        const double r = std::nearbyint(raw);
        if (p.type != PointType::boolean && r != 0 && r != 1) {
            return Result::failure(out_of_range(p, value, raw) + "; a bit holds 0 or 1");
        }
        const double bit = r != 0 ? 1 : 0;
        // As for an integer register: what the device will hold is in range.
        const double held = engineering_value(p, bit);
        if (!holds_within(p, held))
            return Result::failure(out_of_range(p, value, raw) + "; the bit reads " + format(held) +
                                   ", outside its range");
        return std::vector<std::uint16_t>{static_cast<std::uint16_t>(bit)};
    }
    switch (p.type) {
        case PointType::float32: {
            const auto f = static_cast<float>(raw);
            if (!std::isfinite(f)) return Result::failure(out_of_range(p, value, raw));
            const auto held = within_range(p, f, next_float<float>);
            if (!held) {
                return Result::failure(out_of_range(p, value, raw) +
                                       "; no float32 near it reads back within the point's range");
            }
            return to_words(p, std::bit_cast<std::uint32_t>(*held));
        }
        case PointType::float64: {
            const auto held = within_range(p, raw, next_float<double>);
            if (!held) {
                return Result::failure(out_of_range(p, value, raw) +
                                       "; no float64 near it reads back within the point's range");
            }
            return to_words(p, std::bit_cast<std::uint64_t>(*held));
        }
        default: {
            const auto step = within_range(p, std::nearbyint(raw),
                                           [](double r, bool up) { return up ? r + 1 : r - 1; });
            if (!step) {
                return Result::failure(out_of_range(p, value, raw) + "; no step of scale " +
                                       format(p.scale) +
                                       " near it reads back within the point's range");
            }
            auto bits = integer_bits(p, value, *step);
            if (!bits) return Result::failure(bits.error());
            return to_words(p, *bits);
        }
    }
}

std::optional<double> decode(const RegisterPoint& p, std::span<const std::uint16_t> words) {
    const std::uint16_t n = is_bit_table(p.table) ? 1 : p.width();
    assert(words.size() >= n);
    if (words.size() < n) return std::nullopt;

    double raw = 0;
    if (is_bit_table(p.table) || p.type == PointType::boolean) {
        raw = words[0] != 0 ? 1 : 0;
        if (p.nan_value && raw == *p.nan_value) return std::nullopt;
    } else {
        const std::uint64_t bits = from_words(p, words);
        switch (p.type) {
            case PointType::float32: {
                const float f = std::bit_cast<float>(static_cast<std::uint32_t>(bits));
                if (std::isnan(f)) return std::nullopt;
                if (p.nan_value && f == static_cast<float>(*p.nan_value)) return std::nullopt;
                raw = f;
                break;
            }
            case PointType::float64: {
                const double d = std::bit_cast<double>(bits);
                if (std::isnan(d)) return std::nullopt;
                if (p.nan_value && d == *p.nan_value) return std::nullopt;
                raw = d;
                break;
            }
            default: {
                if (p.nan_value) {
                    const auto sentinel = sentinel_bits(*p.nan_value, n);
                    if (sentinel && *sentinel == bits) return std::nullopt;
                }
                raw = is_signed_integer(p.type) ? signed_value(bits, n) : static_cast<double>(bits);
                break;
            }
        }
    }
    const double value = engineering_value(p, raw);
    // Not an infinite float either, nor a reading the scale carries past a double.
    if (!holds_within(p, value)) return std::nullopt;
    return value;
}

}  // namespace gridgate::modbus
