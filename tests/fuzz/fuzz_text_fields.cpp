// The small text fields that arrive from outside: an HTTP request target and
// its query, an Authorization header (Bearer for the API, Basic for OCPP),
// the OCPP URL's charge point identity, the Sec-WebSocket-Protocol offer, and
// timestamps (a schedule's, an OCPP payload's). The first byte picks the
// field; the rest is its text.
//
// Broken promises: a crash; and a timestamp that, once read, does not read
// back the same from the text we would write for it.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "gridgate/engine/timestamp.hpp"
#include "gridgate/http/detail/request_target.hpp"
#include "gridgate/ocpp/datetime.hpp"
#include "gridgate/ocpp/handshake.hpp"

using gridgate::fuzz::check;
namespace http = gridgate::http::detail;
namespace ocpp = gridgate::ocpp;
namespace engine = gridgate::engine;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
    switch (data[0] % 8) {
        case 0:
            (void)http::percent_decode(text, false);
            (void)http::percent_decode(text, true);
            break;
        case 1:
            if (auto target = http::split_target(text)) (void)http::parse_query(target->query);
            (void)http::parse_query(text);
            break;
        case 2:
            (void)http::bearer_token(text);
            (void)http::constant_time_equals("secret-token", text);
            break;
        case 3:
            (void)ocpp::identity_from_target(text, "/ocpp");
            (void)ocpp::identity_from_target(text, "/");
            break;
        case 4: {
            const auto credentials = ocpp::parse_basic_authorization(text);
            (void)ocpp::credentials_match(credentials, "CP1", "secret");
            break;
        }
        case 5:
            (void)ocpp::offers_subprotocol(text);
            break;
        case 6:
            if (auto t = engine::parse_timestamp(text)) {
                const std::string written = engine::format_timestamp(*t);
                check(engine::parse_timestamp(written) == t,
                      "a schedule timestamp does not read back from its own text");
            }
            break;
        default:
            if (auto t = ocpp::parse_timestamp(text)) {
                const std::string written = ocpp::format_timestamp(*t);
                check(ocpp::parse_timestamp(written) == t,
                      "an OCPP timestamp does not read back from its own text");
            }
            break;
    }
    return 0;
}
