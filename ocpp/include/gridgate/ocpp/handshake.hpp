// The checks of the OCPP-J WebSocket handshake, as plain functions of the
// HTTP request's parts: the charge point identity in the URL, HTTP Basic
// credentials (security profiles 1 and 2) and the `ocpp1.6` subprotocol.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gridgate::ocpp {

inline constexpr std::string_view kSubprotocol = "ocpp1.6";

// The charge point identity of a request target: the last path segment under
// `path`, percent-decoded, the query string and trailing slashes ignored
// ("/ocpp/CP001/" is CP001); a target in absolute form
// ("ws://host:9000/ocpp/CP001") is read by its path. nullopt when the target
// is not under `path`, names no identity, or is malformed.
// identity_from_target("/ocpp/CP%20001", "/ocpp") == "CP 001".
std::optional<std::string> identity_from_target(std::string_view target, std::string_view path);

struct BasicCredentials {
    std::string username;
    std::string password;
};

// Parses an `Authorization: Basic <base64(user:password)>` header value.
std::optional<BasicCredentials> parse_basic_authorization(std::string_view header);

// The `Authorization` header value a charge point sends: "Basic " + base64(user:password).
std::string basic_authorization(std::string_view username, std::string_view password);

// True when the credentials are `identity` as user and `password`: the
// decoded "user:password" is compared whole with identity + ":" + password,
// so an identity with colons in it ("AA:BB:CC:0001") works. Compares in
// constant time so the answer's timing does not leak the secret.
bool credentials_match(const std::optional<BasicCredentials>& credentials,
                       std::string_view identity, std::string_view password);

// True when a `Sec-WebSocket-Protocol` header value offers `protocol`.
bool offers_subprotocol(std::string_view header, std::string_view protocol = kSubprotocol);

}  // namespace gridgate::ocpp
