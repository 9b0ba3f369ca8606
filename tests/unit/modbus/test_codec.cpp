#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "gridgate/modbus/codec.hpp"

namespace gridgate::modbus {
namespace {

using Words = std::vector<std::uint16_t>;

RegisterPoint point(PointType type, Order word = Order::big, Order byte = Order::big) {
    RegisterPoint p;
    p.name = "p";
    p.type = type;
    p.word_order = word;
    p.byte_order = byte;
    return p;
}

struct Layout {
    PointType type;
    Order word;
    Order byte;
    double value;
    Words words;
};

// Every multi-register type in all four orders, plus the 16-bit types in both
// byte orders, with the exact registers a device would hold.
const std::vector<Layout> layouts = {
    {PointType::int16, Order::big, Order::big, -2, {0xFFFE}},
    {PointType::int16, Order::big, Order::little, -2, {0xFEFF}},
    {PointType::uint16, Order::big, Order::big, 0x1234, {0x1234}},
    {PointType::uint16, Order::little, Order::little, 0x1234, {0x3412}},
    {PointType::int32, Order::big, Order::big, 0x12345678, {0x1234, 0x5678}},
    {PointType::int32, Order::little, Order::big, 0x12345678, {0x5678, 0x1234}},
    {PointType::int32, Order::big, Order::little, 0x12345678, {0x3412, 0x7856}},
    {PointType::int32, Order::little, Order::little, 0x12345678, {0x7856, 0x3412}},
    {PointType::int32, Order::big, Order::big, -2, {0xFFFF, 0xFFFE}},
    {PointType::uint32, Order::big, Order::big, 0xDEADBEEF, {0xDEAD, 0xBEEF}},
    {PointType::uint32, Order::little, Order::big, 0xDEADBEEF, {0xBEEF, 0xDEAD}},
    {PointType::uint32, Order::big, Order::little, 0xDEADBEEF, {0xADDE, 0xEFBE}},
    {PointType::uint32, Order::little, Order::little, 0xDEADBEEF, {0xEFBE, 0xADDE}},
    // int64 values stay below 2^53 so the engineering double holds them exactly.
    {PointType::int64,
     Order::big,
     Order::big,
     double(0x0001020304050607),
     {0x0001, 0x0203, 0x0405, 0x0607}},
    {PointType::int64,
     Order::little,
     Order::big,
     double(0x0001020304050607),
     {0x0607, 0x0405, 0x0203, 0x0001}},
    {PointType::int64,
     Order::big,
     Order::little,
     double(0x0001020304050607),
     {0x0100, 0x0302, 0x0504, 0x0706}},
    {PointType::int64,
     Order::little,
     Order::little,
     double(0x0001020304050607),
     {0x0706, 0x0504, 0x0302, 0x0100}},
    {PointType::int64, Order::big, Order::big, -3, {0xFFFF, 0xFFFF, 0xFFFF, 0xFFFD}},
    {PointType::uint64,
     Order::big,
     Order::big,
     double(0x0001000200030004),
     {0x0001, 0x0002, 0x0003, 0x0004}},
    {PointType::uint64,
     Order::little,
     Order::big,
     double(0x0001000200030004),
     {0x0004, 0x0003, 0x0002, 0x0001}},
    {PointType::uint64,
     Order::big,
     Order::little,
     double(0x0001000200030004),
     {0x0100, 0x0200, 0x0300, 0x0400}},
    {PointType::uint64,
     Order::little,
     Order::little,
     double(0x0001000200030004),
     {0x0400, 0x0300, 0x0200, 0x0100}},
    {PointType::float32, Order::big, Order::big, 1.5, {0x3FC0, 0x0000}},
    {PointType::float32, Order::little, Order::big, 1.5, {0x0000, 0x3FC0}},
    {PointType::float32, Order::big, Order::little, -2.5, {0x20C0, 0x0000}},
    {PointType::float32, Order::little, Order::little, -2.5, {0x0000, 0x20C0}},
    {PointType::float64, Order::big, Order::big, 1.5, {0x3FF8, 0x0000, 0x0000, 0x0000}},
    {PointType::float64, Order::little, Order::big, 1.5, {0x0000, 0x0000, 0x0000, 0x3FF8}},
    {PointType::float64, Order::big, Order::little, 1.5, {0xF83F, 0x0000, 0x0000, 0x0000}},
    {PointType::float64, Order::little, Order::little, 1.5, {0x0000, 0x0000, 0x0000, 0xF83F}},
};

TEST(ModbusCodec, EveryTypeAndOrderHasTheDeviceLayout) {
    for (const auto& l : layouts) {
        const auto p = point(l.type, l.word, l.byte);
        SCOPED_TRACE(std::string(to_string(l.type)) + " word " + std::string(to_string(l.word)) +
                     " byte " + std::string(to_string(l.byte)));
        auto words = encode(p, l.value);
        ASSERT_TRUE(words) << words.error();
        EXPECT_EQ(*words, l.words);
        auto back = decode(p, l.words);
        ASSERT_TRUE(back);
        EXPECT_EQ(*back, l.value);
    }
}

TEST(ModbusCodec, RoundTripsEveryTypeInEveryOrderAtItsExtremes) {
    const std::vector<std::pair<PointType, std::vector<double>>> cases = {
        {PointType::int16, {-32768, -1, 0, 1, 32767}},
        {PointType::uint16, {0, 1, 65535}},
        {PointType::int32, {-2147483648.0, -1, 0, 2147483647.0}},
        {PointType::uint32, {0, 4294967295.0}},
        {PointType::int64, {-9223372036854775808.0, -1, 0, 9007199254740993.0}},
        {PointType::uint64, {0, 18446744073709549568.0}},  // largest double below 2^64
        {PointType::float32, {-3.25, 0, 1e-3f, 3.4e38f}},
        {PointType::float64, {-1e300, 0, 1.0 / 3.0, 1e300}},
    };
    for (const auto& [type, values] : cases) {
        for (Order word : {Order::big, Order::little}) {
            for (Order byte : {Order::big, Order::little}) {
                const auto p = point(type, word, byte);
                for (double v : values) {
                    auto words = encode(p, v);
                    ASSERT_TRUE(words) << to_string(type) << " " << v << ": " << words.error();
                    ASSERT_EQ(words->size(), p.width());
                    auto back = decode(p, *words);
                    ASSERT_TRUE(back) << to_string(type) << " " << v;
                    EXPECT_EQ(*back, type == PointType::float32 ? double(float(v)) : v)
                        << to_string(type) << " word " << to_string(word) << " byte "
                        << to_string(byte);
                }
            }
        }
    }
}

TEST(ModbusCodec, WidthFollowsFromTheType) {
    EXPECT_EQ(width_of(PointType::int16), 1);
    EXPECT_EQ(width_of(PointType::uint32), 2);
    EXPECT_EQ(width_of(PointType::float32), 2);
    EXPECT_EQ(width_of(PointType::int64), 4);
    EXPECT_EQ(width_of(PointType::float64), 4);
}

TEST(ModbusCodec, ScaleAndOffset) {
    auto p = point(PointType::int32);
    p.scale = 0.001;
    auto words = encode(p, -12.5);  // kW -> W
    ASSERT_TRUE(words);
    EXPECT_EQ(*words, (Words{0xFFFF, 0xCF2C}));  // -12500
    EXPECT_DOUBLE_EQ(*decode(p, *words), -12.5);

    auto t = point(PointType::int16);
    t.scale = 0.1;
    t.offset = -40;  // temperature with a -40 degree base
    words = encode(t, 21.5);
    ASSERT_TRUE(words);
    EXPECT_EQ(*words, Words{615});
    EXPECT_DOUBLE_EQ(*decode(t, Words{615}), 21.5);
}

// A power-of-ten scale reads as the decimal the device means, not with the
// float noise of raw * 0.1 (GET /api/v1/assets showed soc 54.300000000000004).
TEST(ModbusCodec, APowerOfTenScaleReadsAsTheDecimalValue) {
    auto soc = point(PointType::uint16);
    soc.scale = 0.1;
    EXPECT_EQ(*decode(soc, Words{543}), 54.3);  // exactly the double nearest 54.3
    EXPECT_EQ(*decode(soc, Words{3}), 0.3);
    auto power = point(PointType::int32);
    power.scale = 0.001;
    EXPECT_EQ(*decode(power, Words{0xFFFF, 0xF37E}), -3.202);  // -3202 W
    power.scale = -0.01;
    EXPECT_EQ(*decode(power, Words{0x0000, 0x0107}), -2.63);
    auto temperature = point(PointType::int16);
    temperature.scale = 0.1;
    temperature.offset = -40;
    EXPECT_EQ(*decode(temperature, Words{543}), 14.3);  // not 14.299999999999997
    // Scales that are no power of ten keep raw * scale + offset.
    auto half = point(PointType::uint16);
    half.scale = 0.5;
    half.offset = 0.25;
    EXPECT_EQ(*decode(half, Words{3}), 1.75);
    for (const int raw : {1, 7, 99, 543, 999, 12345, 65535}) {
        SCOPED_TRACE(raw);
        const auto decimal = std::to_string(raw / 10) + "." + std::to_string(raw % 10);
        EXPECT_EQ(*decode(soc, Words{static_cast<std::uint16_t>(raw)}), std::stod(decimal));
    }
}

TEST(ModbusCodec, NegativeScaleFlipsTheDeviceSignConvention) {
    // The device counts discharge positive; the map's engineering value is + charge.
    auto p = point(PointType::int32);
    p.scale = -0.001;
    auto words = encode(p, 5.0);  // charge 5 kW
    ASSERT_TRUE(words);
    EXPECT_EQ(*words, (Words{0xFFFF, 0xEC78}));                 // -5000 on the device
    EXPECT_DOUBLE_EQ(*decode(p, Words{0x0000, 0x0BB8}), -3.0);  // device: +3000 (discharging)
}

TEST(ModbusCodec, ZeroWithANegativeScaleIsAPlainZeroInAFloat) {
    // (0 - 0) / -1 is -0.0 in IEEE arithmetic: a sign bit a device could
    // read as "discharge". Idle is written as all-zero registers.
    for (auto type : {PointType::float32, PointType::float64}) {
        auto p = point(type);
        p.scale = -1;
        auto words = encode(p, 0.0);
        ASSERT_TRUE(words);
        EXPECT_EQ(*words, Words(p.width(), 0)) << "float" << 32 * (p.width() / 2);
    }
}

TEST(ModbusCodec, RoundsToTheNearestRawValue) {
    auto p = point(PointType::uint16);
    p.scale = 0.1;
    EXPECT_EQ(*encode(p, 55.04), Words{550});
    EXPECT_EQ(*encode(p, 55.06), Words{551});
}

TEST(ModbusCodec, RefusesValuesThatDoNotFitTheType) {
    auto p = point(PointType::int16);
    p.name = "power_setpoint";
    p.scale = 0.001;
    auto words = encode(p, 40.0);  // 40000 W
    ASSERT_FALSE(words);
    EXPECT_NE(words.error().find("power_setpoint"), std::string::npos) << words.error();
    EXPECT_NE(words.error().find("int16"), std::string::npos) << words.error();
    EXPECT_FALSE(encode(point(PointType::uint16), -1));
    EXPECT_FALSE(encode(point(PointType::uint32), 4294967296.0));
    EXPECT_FALSE(encode(point(PointType::float32), 1e39));
    EXPECT_FALSE(encode(point(PointType::int32), std::nan("")));
    EXPECT_FALSE(encode(point(PointType::float64), std::numeric_limits<double>::infinity()));
}

// Found by fuzz_modbus_codec: a finite value a tiny scale carries past a
// double was written as infinity to a float64 register.
TEST(ModbusCodec, NeverWritesInfinityOnceScaled) {
    auto p = point(PointType::float64);
    p.scale = 1e-300;
    auto words = encode(p, 1e10);  // raw 1e310
    ASSERT_FALSE(words);
    EXPECT_NE(words.error().find("does not fit"), std::string::npos) << words.error();
    p.scale = 1;
    p.offset = 1e308;
    EXPECT_FALSE(encode(p, -1.7e308));  // (value - offset) is -inf
}

// ... and a reading that is infinite, or that the scale carries past a
// double, was handed on as a value.
TEST(ModbusCodec, AnInfiniteReadingIsNoValue) {
    const auto inf32 = std::bit_cast<std::uint32_t>(std::numeric_limits<float>::infinity());
    EXPECT_FALSE(
        decode(point(PointType::float32), Words{static_cast<std::uint16_t>(inf32 >> 16),
                                                static_cast<std::uint16_t>(inf32 & 0xFFFF)}));
    const auto minus_inf64 = std::bit_cast<std::uint64_t>(-std::numeric_limits<double>::infinity());
    EXPECT_FALSE(decode(point(PointType::float64),
                        Words{static_cast<std::uint16_t>(minus_inf64 >> 48), 0, 0, 0}));
    auto huge = point(PointType::uint16);
    huge.scale = 1e308;
    EXPECT_FALSE(decode(huge, Words{65535}));
    EXPECT_EQ(decode(huge, Words{1}), 1e308);
}

// Found by fuzz_modbus_codec: the nearest step of an integer register could
// lie past the point's own range, so what was written read back as no value
// (and a device that checks its range refuses it).
TEST(ModbusCodec, AnIntegerStepStaysWithinThePointsRange) {
    auto p = point(PointType::uint16);
    p.scale = 0.1;
    p.max = 10.06;
    const auto words = encode(p, 10.06);  // raw 100.6: 101 would read 10.1
    ASSERT_TRUE(words) << words.error();
    EXPECT_EQ(*words, Words{100});
    EXPECT_EQ(decode(p, *words), 10.0);
    p.max.reset();
    EXPECT_EQ(*encode(p, 10.06), Words{101});  // without a range, the nearest step

    auto narrow = point(PointType::int16);
    narrow.scale = 65528;
    narrow.offset = 1234.567;
    narrow.min = 0;
    narrow.max = 0;
    const auto refused = encode(narrow, 0);
    ASSERT_FALSE(refused);
    EXPECT_NE(
        refused.error().find("no step of scale 65528 near it reads back within the point's range"),
        std::string::npos)
        << refused.error();
}

// ... and a float32 too: 99.9 is 99.90000153 as a float, past a max of 99.9.
TEST(ModbusCodec, AFloatStaysWithinThePointsRange) {
    auto p = point(PointType::float32);
    p.min = 0;
    p.max = 99.9;
    const auto words = encode(p, 99.9);
    ASSERT_TRUE(words) << words.error();
    const auto back = decode(p, *words);
    ASSERT_TRUE(back) << "what was written reads back as no value";
    EXPECT_LE(*back, 99.9);
    EXPECT_NEAR(*back, 99.9, 1e-5);
}

// ... and a float64 whose offset's rounding carries it past the range.
TEST(ModbusCodec, AnOffsetsRoundingStaysWithinTheRange) {
    auto p = point(PointType::float64);
    p.scale = 0.0009999992544417182;
    p.offset = -3.3110257710303393e+239;
    p.min = 1.9137488309972837e+214;
    const auto words = encode(p, 1.9137488320965074e+214);
    ASSERT_TRUE(words) << words.error();
    EXPECT_TRUE(decode(p, *words)) << "what was written reads back as no value";
}

// ... and a bit too: one whose engineering value lies outside the point's
// range is refused rather than written.
TEST(ModbusCodec, ABitOutsideThePointsRangeIsRefused) {
    auto p = point(PointType::boolean);
    p.table = Table::coil;
    p.offset = 1234.5;
    p.min = 0;
    p.max = 0;
    const auto refused = encode(p, 0);
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().find("the bit reads 1235.5, outside its range"), std::string::npos)
        << refused.error();
    p.max = 2000;
    EXPECT_EQ(*encode(p, 1234.5), Words{0});
}

TEST(ModbusCodec, NanSentinelReadsAsNoValue) {
    auto p = point(PointType::uint16);
    p.nan_value = 0xFFFF;
    EXPECT_FALSE(decode(p, Words{0xFFFF}));
    EXPECT_EQ(*decode(p, Words{0xFFFE}), 65534);

    p.nan_value = -1;  // the same sentinel written as -1
    EXPECT_FALSE(decode(p, Words{0xFFFF}));

    auto s = point(PointType::int16);
    s.nan_value = 0x8000;  // SunSpec's "not implemented" for int16
    EXPECT_FALSE(decode(s, Words{0x8000}));
    s.nan_value = -32768;
    EXPECT_FALSE(decode(s, Words{0x8000}));
    EXPECT_EQ(*decode(s, Words{0x8001}), -32767);

    auto u32 = point(PointType::uint32, Order::little);
    u32.nan_value = 0xFFFFFFFF;
    EXPECT_FALSE(decode(u32, Words{0xFFFF, 0xFFFF}));
    EXPECT_EQ(*decode(u32, Words{0xFFFF, 0x0000}), 65535);  // low word first

    auto f = point(PointType::float32);
    EXPECT_FALSE(decode(f, Words{0x7FC0, 0x0000}));  // a NaN is never a value
    f.nan_value = -1;
    EXPECT_FALSE(decode(f, Words{0xBF80, 0x0000}));
}

TEST(ModbusCodec, MinAndMaxBoundReadsAndWrites) {
    auto p = point(PointType::uint16);
    p.scale = 0.1;
    p.min = 0;
    p.max = 100;
    EXPECT_TRUE(decode(p, Words{1000}));   // 100.0 despite 0.1 * 1000 rounding up
    EXPECT_FALSE(decode(p, Words{1001}));  // 100.1 is implausible for a SoC
    EXPECT_TRUE(encode(p, 100));
    auto refused = encode(p, 100.5);
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().find("outside its range [0, 100]"), std::string::npos)
        << refused.error();
}

TEST(ModbusCodec, BitsHoldZeroOrOne) {
    RegisterPoint coil = point(PointType::boolean);
    coil.table = Table::coil;
    EXPECT_EQ(*encode(coil, 1), Words{1});
    EXPECT_EQ(*encode(coil, 0), Words{0});
    EXPECT_EQ(*decode(coil, Words{1}), 1);

    RegisterPoint as_int = point(PointType::uint16);
    as_int.table = Table::discrete;
    EXPECT_EQ(*encode(as_int, 1), Words{1});
    EXPECT_FALSE(encode(as_int, 2));
}

}  // namespace
}  // namespace gridgate::modbus
