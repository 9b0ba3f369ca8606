// The escaping of peer-controlled text on its way into log lines.
#include <gtest/gtest.h>

#include <string>

#include "printable.hpp"

namespace {

using gridgate::ocpp::detail::printable;

TEST(Printable, EscapesAsciiControlCharacters) {
    EXPECT_EQ(printable("a\nb\rc\td"), "a\\nb\\rc\\td");
    EXPECT_EQ(printable(std::string("x\0\x1b\x7fy", 5)), "x\\x00\\x1b\\x7fy");
}

TEST(Printable, KeepsWellFormedUtf8) {
    EXPECT_EQ(printable("CP-M\xc3\xbcnchen"), "CP-M\xc3\xbcnchen");        // ü
    EXPECT_EQ(printable("\xc2\xa0\xe2\x82\xac"), "\xc2\xa0\xe2\x82\xac");  // NBSP, €
    EXPECT_EQ(printable("\xf0\x9f\x94\x8c"), "\xf0\x9f\x94\x8c");          // U+1F50C
    EXPECT_EQ(printable("\xf4\x8f\xbf\xbf"), "\xf4\x8f\xbf\xbf");          // U+10FFFF
}

TEST(Printable, EscapesC1ControlCharacters) {
    // U+0085 (NEL, a line break to some readers) and U+009B (CSI).
    EXPECT_EQ(printable("a\xc2\x85"
                        "b\xc2\x9b[2J"),
              "a\\xc2\\x85b\\xc2\\x9b[2J");
    EXPECT_EQ(printable("\xc2\x80"), "\\xc2\\x80");
}

TEST(Printable, EscapesBytesThatAreNotUtf8) {
    EXPECT_EQ(printable("CP\xff"), "CP\\xff");
    EXPECT_EQ(printable("\x85"), "\\x85");                             // a lone continuation byte
    EXPECT_EQ(printable("\x9b[2J"), "\\x9b[2J");                       // raw C1 CSI, Latin-1 style
    EXPECT_EQ(printable("\xc0\xaf"), "\\xc0\\xaf");                    // overlong '/'
    EXPECT_EQ(printable("\xe0\x80\xaf"), "\\xe0\\x80\\xaf");           // overlong, 3 bytes
    EXPECT_EQ(printable("\xed\xa0\x80"), "\\xed\\xa0\\x80");           // a surrogate
    EXPECT_EQ(printable("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // above U+10FFFF
    EXPECT_EQ(printable("\xf5\x80"), "\\xf5\\x80");
    // Cut short: the lead byte is escaped and what follows is read afresh.
    EXPECT_EQ(printable("\xe2\x82"), "\\xe2\\x82");
    EXPECT_EQ(printable("\xe2\x82z"), "\\xe2\\x82z");
    EXPECT_EQ(printable("\xe2\xc3\xbc"), "\\xe2\xc3\xbc");
}

}  // namespace
