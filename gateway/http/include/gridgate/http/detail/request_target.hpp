// Pieces of request handling that are pure functions over text: splitting a
// request target, percent-decoding, query parsing, and the Bearer token check.
// Safe from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gridgate::http::detail {

/// Decodes %XX escapes; with `plus_is_space` (query strings) also '+' as ' '.
/// nullopt for a '%' not followed by two hex digits.
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space);

struct QueryParameter {
    std::string name;
    std::string value;
};

/// The parsed query string, or the reason it is malformed (naming the parameter).
struct QueryParseResult {
    std::vector<QueryParameter> parameters;
    std::string error;  // empty when parsing succeeded
};

/// Parses "a=1&b=x%20y&c" (without the '?'). Empty pieces ("a=1&&b=2") are
/// skipped; a name without '=' has an empty value.
QueryParseResult parse_query(std::string_view query);

/// The origin-form target "/path?query" split in two (no decoding).
struct RequestTarget {
    std::string_view path;
    std::string_view query;
};
/// nullopt when the target is not in origin form (it must start with '/').
std::optional<RequestTarget> split_target(std::string_view target);

/// Compares in time that depends only on the length of `expected` (the
/// secret), not on where the strings differ, so a token cannot be guessed
/// byte by byte.
bool constant_time_equals(std::string_view expected, std::string_view given) noexcept;

/// The token of an "Authorization: Bearer <token>" header (scheme
/// case-insensitive), or nullopt when the header is not a Bearer credential.
std::optional<std::string_view> bearer_token(std::string_view authorization);

}  // namespace gridgate::http::detail
