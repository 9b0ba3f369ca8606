// An HTTP request to the API, as a client on the socket sends it: Beast's
// parser reads the head (8 KiB limit, as the server sets it), the router
// decides, and a schedule's body goes to the parser its Content-Type names.
// Half of the inputs carry the token the site file would set.
//
// A refused request is fine. Broken promises:
//  - a crash, or an exception out of the router;
//  - a refusal that is not a 4xx status with a JSON {"error": "..."} body;
//  - a 405 without its Allow header, a 401 without WWW-Authenticate;
//  - a schedule body the route accepted making the parser throw anything
//    but ScheduleError.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <rapidjson/document.h>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "fuzz_support.hpp"
#include "gridgate/engine/schedule_parser.hpp"
#include "router.hpp"

namespace http = boost::beast::http;
using namespace gridgate::http::detail;
using gridgate::fuzz::broken;
using gridgate::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view token = data[0] & 1 ? "s3cret-token" : "";
    http::request_parser<http::string_body> parser;
    parser.header_limit(8 * 1024);
    parser.body_limit(1024 * 1024);
    parser.eager(true);
    boost::beast::error_code ec;
    parser.put(boost::asio::buffer(data + 1, size - 1), ec);
    if (ec && ec != http::error::need_more) return 0;
    if (!parser.is_header_done()) return 0;
    const auto& req = parser.get();

    const RequestHead head = request_head(req);
    RouteDecision decision;
    try {
        decision = route_request(head, token);
    } catch (const std::exception& e) {
        broken(std::string("route_request threw: ") + e.what());
    }

    if (!decision.route) {
        const auto& r = decision.refusal.response;
        check(r.status >= 400 && r.status < 500, "a refusal that is not a 4xx");
        rapidjson::Document body;
        body.Parse(r.body.c_str(), r.body.size());
        check(!body.HasParseError() && body.IsObject() && body.HasMember("error") &&
                  body["error"].IsString(),
              "a refusal whose body is not {\"error\": \"...\"}");
        check(r.status != 405 || !decision.refusal.allow.empty(), "a 405 without Allow");
        check(r.status != 401 || !decision.refusal.www_authenticate.empty(),
              "a 401 without WWW-Authenticate");
        return 0;
    }
    if (decision.route->endpoint != Endpoint::PostSchedule || !parser.is_done()) return 0;
    const std::string& text = req.body();
    try {
        if (decision.route->format == gridgate::http::ScheduleFormat::Csv)
            (void)gridgate::engine::parse_schedule_csv(text);
        else
            (void)gridgate::engine::parse_schedule_request_json(text);
    } catch (const gridgate::engine::ScheduleError&) {
    }
    return 0;
}
