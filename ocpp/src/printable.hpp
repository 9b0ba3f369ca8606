// Text a peer controls (an identity, message ids, action names, CALLERROR
// descriptions, close reasons) on its way into a log line or a call's
// reason, which end up in log lines too. Control characters are escaped:
// unescaped, a charger could end the line and forge the next one, or send
// bytes a terminal acts on.
#pragma once

#include <string>
#include <string_view>

namespace gridgate::ocpp::detail {

// `text` with "\n", "\r" and "\t" as those two characters, and every other
// byte below 0x20 and 0x7f as "\xNN". Other bytes, UTF-8 included, stay.
inline std::string printable(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte >= 0x20 && byte != 0x7f) {
            out.push_back(c);
            continue;
        }
        out.push_back('\\');
        switch (c) {
            case '\n':
                out.push_back('n');
                break;
            case '\r':
                out.push_back('r');
                break;
            case '\t':
                out.push_back('t');
                break;
            default:
                static constexpr char kHex[] = "0123456789abcdef";
                out.push_back('x');
                out.push_back(kHex[byte >> 4]);
                out.push_back(kHex[byte & 0xf]);
        }
    }
    return out;
}

}  // namespace gridgate::ocpp::detail
