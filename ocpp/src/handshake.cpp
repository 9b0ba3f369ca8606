#include "gridgate/ocpp/handshake.hpp"

#include <array>
#include <cctype>

namespace gridgate::ocpp {
namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::optional<std::string> percent_decode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '%') {
            out.push_back(text[i]);
            continue;
        }
        if (i + 2 >= text.size()) return std::nullopt;
        const int high = hex_value(text[i + 1]);
        const int low = hex_value(text[i + 2]);
        if (high < 0 || low < 0) return std::nullopt;
        out.push_back(static_cast<char>(high * 16 + low));
        i += 2;
    }
    return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
    static constexpr std::string_view kAlphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    unsigned buffer = 0;
    int bits = 0;
    std::size_t padding = 0;
    for (char c : text) {
        if (c == '=') {
            ++padding;
            continue;
        }
        if (padding > 0) return std::nullopt;  // data after padding
        const auto position = kAlphabet.find(c);
        if (position == std::string_view::npos) return std::nullopt;
        buffer = (buffer << 6) | static_cast<unsigned>(position);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((buffer >> bits) & 0xFFu));
        }
    }
    if (padding > 2) return std::nullopt;
    return out;
}

std::string_view trim(std::string_view text) {
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
        text.remove_prefix(1);
    }
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
        text.remove_suffix(1);
    }
    return text;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i]))) {
            return false;
        }
    }
    return true;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
    unsigned char difference = a.size() == b.size() ? 0 : 1;
    const std::size_t length = a.size() < b.size() ? a.size() : b.size();
    for (std::size_t i = 0; i < length; ++i) {
        difference |= static_cast<unsigned char>(a[i] ^ b[i]);
    }
    return difference == 0;
}

// The path (and query) of a request target in absolute form,
// "http://host:port/path?query" (RFC 7230 5.3.2, which a server must
// accept; some chargers send their whole ws:// URL); any other target as
// it is. An absolute form without a path has "/".
std::string_view origin_form(std::string_view target) {
    if (target.starts_with('/')) return target;
    const auto scheme_end = target.find("://");
    if (scheme_end == std::string_view::npos || scheme_end == 0) return target;
    for (char c : target.substr(0, scheme_end)) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.')
            return target;
    }
    const auto path = target.find_first_of("/?#", scheme_end + 3);
    if (path == std::string_view::npos || target[path] != '/') return "/";
    return target.substr(path);
}

}  // namespace

std::optional<std::string> identity_from_target(std::string_view target, std::string_view path) {
    target = origin_form(target);
    if (const auto query = target.find('?'); query != std::string_view::npos) {
        target = target.substr(0, query);
    }
    while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
    // Some chargers are set up with a URL that ends in '/' after their id.
    while (target.size() > 1 && target.back() == '/') target.remove_suffix(1);
    const std::string_view prefix = path == "/" ? std::string_view{} : path;
    if (!target.starts_with(prefix) || target.size() <= prefix.size() ||
        target[prefix.size()] != '/') {
        return std::nullopt;
    }
    const std::string_view under = target.substr(prefix.size() + 1);
    const std::string_view segment = under.substr(under.rfind('/') + 1);
    if (segment.empty()) return std::nullopt;
    auto identity = percent_decode(segment);
    if (!identity || identity->empty()) return std::nullopt;
    return identity;
}

std::string basic_authorization(std::string_view username, std::string_view password) {
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string text = std::string(username) + ":" + std::string(password);
    std::string out = "Basic ";
    unsigned buffer = 0;
    int bits = 0;
    for (unsigned char c : text) {
        buffer = (buffer << 8) | c;
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out.push_back(kAlphabet[(buffer >> bits) & 0x3F]);
        }
    }
    if (bits > 0) out.push_back(kAlphabet[(buffer << (6 - bits)) & 0x3F]);
    while ((out.size() - 6) % 4 != 0) out.push_back('=');
    return out;
}

std::optional<BasicCredentials> parse_basic_authorization(std::string_view header) {
    header = trim(header);
    const auto space = header.find(' ');
    if (space == std::string_view::npos || !iequals(header.substr(0, space), "Basic")) {
        return std::nullopt;
    }
    auto decoded = base64_decode(trim(header.substr(space + 1)));
    if (!decoded) return std::nullopt;
    const auto colon = decoded->find(':');
    if (colon == std::string::npos) return std::nullopt;
    return BasicCredentials{decoded->substr(0, colon), decoded->substr(colon + 1)};
}

bool credentials_match(const std::optional<BasicCredentials>& credentials,
                       std::string_view identity, std::string_view password) {
    if (!credentials) return false;
    // The whole "user:password" against "identity:password": the header
    // splits at its first ':', which for an identity that holds colons
    // ("AA:BB:CC:0001") falls inside the identity. The identity is known
    // from the URL, so the joined text is unambiguous.
    std::string given = credentials->username;
    given += ':';
    given += credentials->password;
    std::string expected(identity);
    expected += ':';
    expected += password;
    return constant_time_equal(given, expected);
}

bool offers_subprotocol(std::string_view header, std::string_view protocol) {
    while (!header.empty()) {
        const auto comma = header.find(',');
        const std::string_view token = trim(header.substr(0, comma));
        if (token == protocol) return true;
        if (comma == std::string_view::npos) break;
        header.remove_prefix(comma + 1);
    }
    return false;
}

}  // namespace gridgate::ocpp
