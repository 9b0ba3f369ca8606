#include "gridgate/http/detail/request_target.hpp"

#include <cstddef>

namespace gridgate::http::detail {
namespace {

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

char ascii_lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '%') {
            if (i + 2 >= text.size()) return std::nullopt;
            int hi = hex_value(text[i + 1]);
            int lo = hex_value(text[i + 2]);
            if (hi < 0 || lo < 0) return std::nullopt;
            out.push_back(static_cast<char>((hi << 4) | lo));
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out.push_back(' ');
        } else {
            out.push_back(c);
        }
    }
    return out;
}

QueryParseResult parse_query(std::string_view query) {
    QueryParseResult result;
    while (!query.empty()) {
        std::size_t amp = query.find('&');
        std::string_view piece = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (piece.empty()) continue;
        std::size_t eq = piece.find('=');
        std::string_view raw_name = piece.substr(0, eq);
        std::string_view raw_value =
            eq == std::string_view::npos ? std::string_view{} : piece.substr(eq + 1);
        auto name = percent_decode(raw_name, true);
        if (!name) {
            result.error = "malformed percent-encoding in query parameter name '" +
                           std::string(raw_name) + "'";
            return result;
        }
        auto value = percent_decode(raw_value, true);
        if (!value) {
            result.error = "malformed percent-encoding in query parameter '" + *name + "'";
            return result;
        }
        result.parameters.push_back({std::move(*name), std::move(*value)});
    }
    return result;
}

std::optional<RequestTarget> split_target(std::string_view target) {
    if (target.empty() || target.front() != '/') return std::nullopt;
    std::size_t q = target.find('?');
    if (q == std::string_view::npos) return RequestTarget{target, {}};
    return RequestTarget{target.substr(0, q), target.substr(q + 1)};
}

bool constant_time_equals(std::string_view expected, std::string_view given) noexcept {
    // Walk the expected length whatever the input, folding every difference
    // (including a length mismatch) into one accumulator read at the end.
    unsigned char diff = expected.size() == given.size() ? 0 : 1;
    for (std::size_t i = 0; i < expected.size(); ++i) {
        unsigned char g = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
        diff |= static_cast<unsigned char>(static_cast<unsigned char>(expected[i]) ^ g);
    }
    volatile unsigned char sink = diff;
    return sink == 0;
}

std::optional<std::string_view> bearer_token(std::string_view authorization) {
    constexpr std::string_view scheme = "bearer";
    if (authorization.size() <= scheme.size()) return std::nullopt;
    for (std::size_t i = 0; i < scheme.size(); ++i) {
        if (ascii_lower(authorization[i]) != scheme[i]) return std::nullopt;
    }
    std::string_view rest = authorization.substr(scheme.size());
    if (rest.front() != ' ' && rest.front() != '\t') return std::nullopt;
    std::size_t start = rest.find_first_not_of(" \t");
    if (start == std::string_view::npos) return std::nullopt;
    rest = rest.substr(start);
    std::size_t end = rest.find_last_not_of(" \t");
    return rest.substr(0, end + 1);
}

}  // namespace gridgate::http::detail
