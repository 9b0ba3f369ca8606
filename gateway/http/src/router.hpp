// Maps a request's head (method, target, auth and content-type headers) to the
// backend call it asks for, or to the answer the server gives on its own
// (401, 404, 405, 415, 400 for a bad query). Pure; safe from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>

#include "gridgate/http/api_backend.hpp"

namespace gridgate::http::detail {

enum class Endpoint { PostSchedule, ListCommands, GetCommand, ListAssets, Health, Metrics };

struct Route {
    Endpoint endpoint = Endpoint::Health;
    ScheduleFormat format = ScheduleFormat::Csv;  // PostSchedule
    CommandFilter filter;                         // ListCommands
    sdk::CommandId command_id;                    // GetCommand
};

/// An answer the server sends without the backend, with the headers some
/// statuses require.
struct Refusal {
    ApiResponse response;
    std::string allow;             // 405
    std::string www_authenticate;  // 401
};

struct RequestHead {
    boost::beast::http::verb method = boost::beast::http::verb::get;
    std::string_view method_text;
    std::string_view target;
    std::optional<std::string_view> authorization;
    std::optional<std::string_view> content_type;
};

struct RouteDecision {
    std::optional<Route> route;  // set: ask the backend
    Refusal refusal;             // otherwise: send this
};

using Request = boost::beast::http::request<boost::beast::http::string_body>;

/// A header's value, if the request has it (a view into `req`).
std::optional<std::string_view> header_value(const Request& req, boost::beast::http::field field);

/// What the router reads of a parsed request (views into `req`).
RequestHead request_head(const Request& req);

/// `token` empty means no authentication.
RouteDecision route_request(const RequestHead& head, std::string_view token);

}  // namespace gridgate::http::detail
