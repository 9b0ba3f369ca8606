#include "log_format.hpp"

#include <string>

#include <gtest/gtest.h>
#include <spdlog/details/log_msg.h>

namespace gridgate::gateway {
namespace {

std::string line_of(std::string_view message, spdlog::level::level_enum level) {
    spdlog::details::log_msg msg("gridgate", level,
                                 spdlog::string_view_t(message.data(), message.size()));
    spdlog::memory_buf_t out;
    make_log_formatter()->format(msg, out);
    return std::string(out.data(), out.size());
}

// "2026-11-27T23:59:59.123Z " is 25 characters; the level follows.
std::string after_time(const std::string& line) {
    EXPECT_GE(line.size(), 25U);
    EXPECT_EQ(line[10], 'T');
    EXPECT_EQ(line[23], 'Z');
    return line.substr(25);
}

TEST(LogFormat, OneMessageIsOneLine) {
    EXPECT_EQ(after_time(line_of("ocpp16: CP1 connected", spdlog::level::info)),
              "info  ocpp16: CP1 connected\n");
    // An identity a client chose, decoded from its URL: it may not start a
    // line of its own that tools would read as an engine event.
    const std::string forged =
        "unknown charge point 'X\n2026-11-27T23:59:59.000Z info  ASSET_CONNECTED asset_id=q'";
    EXPECT_EQ(after_time(line_of(forged, spdlog::level::warn)),
              "warning unknown charge point 'X\\n2026-11-27T23:59:59.000Z info  ASSET_CONNECTED "
              "asset_id=q'\n");
    EXPECT_EQ(after_time(line_of(std::string("a\rb\tc\x7f") + '\0' + "d\x1b", spdlog::level::err)),
              "error a\\rb\\tc\\x7f\\x00d\\x1b\n");
    // Bytes of UTF-8 text are not control characters.
    EXPECT_EQ(after_time(line_of("Ladesäule Süd", spdlog::level::info)), "info  Ladesäule Süd\n");
}

// A terminal showing the log acts on C1 controls too (U+009B is CSI, the
// start of an escape sequence), and on a lone 0x9b byte in an 8-bit
// locale; a byte that is not UTF-8 makes the line one no UTF-8 reader takes.
TEST(LogFormat, C1ControlsAndBytesThatAreNotUtf8AreEscaped) {
    EXPECT_EQ(after_time(line_of("a\xc2\x9b"
                                 "31mb",
                                 spdlog::level::info)),
              "info  a\\xc2\\x9b31mb\n");
    EXPECT_EQ(after_time(line_of("x\xc2\x85y\xc2\x80", spdlog::level::info)),
              "info  x\\xc2\\x85y\\xc2\\x80\n");
    EXPECT_EQ(after_time(line_of("raw \x9b and \xff", spdlog::level::info)),
              "info  raw \\x9b and \\xff\n");
    // A sequence cut short, an overlong form, a surrogate: each byte escaped,
    // and what follows them read afresh.
    EXPECT_EQ(after_time(line_of("cut \xe2\x82", spdlog::level::info)), "info  cut \\xe2\\x82\n");
    EXPECT_EQ(after_time(line_of("\xc0\xafä", spdlog::level::info)), "info  \\xc0\\xafä\n");
    EXPECT_EQ(after_time(line_of("\xed\xa0\x80!", spdlog::level::info)),
              "info  \\xed\\xa0\\x80!\n");
    // U+00A0 and above are text: two, three and four bytes.
    EXPECT_EQ(after_time(line_of("\xc2\xa0€ 🔌", spdlog::level::info)), "info  \xc2\xa0€ 🔌\n");
}

}  // namespace
}  // namespace gridgate::gateway
