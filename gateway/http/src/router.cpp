#include "router.hpp"

#include <string>

#include "gridgate/http/detail/request_target.hpp"
#include "gridgate/http/json.hpp"

namespace gridgate::http::detail {
namespace {

namespace bhttp = boost::beast::http;

constexpr std::string_view kCommandsPath = "/api/v1/commands";

RouteDecision refuse(unsigned status, std::string_view message) {
    RouteDecision d;
    d.refusal.response = ApiResponse::json(status, error_json(message));
    return d;
}

RouteDecision method_not_allowed(const RequestHead& head, std::string_view path,
                                 std::string_view allowed) {
    RouteDecision d =
        refuse(405, "method " + std::string(head.method_text) + " not allowed on " +
                        std::string(path) + " (allowed: " + std::string(allowed) + ")");
    d.refusal.allow = std::string(allowed);
    return d;
}

RouteDecision unauthorized(std::string_view message, bool token_given) {
    RouteDecision d = refuse(401, message);
    d.refusal.www_authenticate = token_given ? R"(Bearer realm="gridgate", error="invalid_token")"
                                             : R"(Bearer realm="gridgate")";
    return d;
}

std::string ascii_lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    }
    return out;
}

std::string_view trim(std::string_view s) {
    std::size_t b = s.find_first_not_of(" \t");
    if (b == std::string_view::npos) return {};
    std::size_t e = s.find_last_not_of(" \t");
    return s.substr(b, e - b + 1);
}

RouteDecision route_schedule(const RequestHead& head) {
    if (!head.content_type) {
        return refuse(415, "missing Content-Type: send text/csv or application/json");
    }
    std::string media =
        ascii_lower(trim(head.content_type->substr(0, head.content_type->find(';'))));
    RouteDecision d;
    d.route = Route{.endpoint = Endpoint::PostSchedule};
    if (media == "text/csv") {
        d.route->format = ScheduleFormat::Csv;
    } else if (media == "application/json") {
        d.route->format = ScheduleFormat::Json;
    } else {
        return refuse(415, "unsupported Content-Type '" + std::string(*head.content_type) +
                               "': send text/csv or application/json");
    }
    return d;
}

RouteDecision route_command_list(std::string_view query) {
    QueryParseResult parsed = parse_query(query);
    if (!parsed.error.empty()) return refuse(400, parsed.error);
    CommandFilter filter;
    bool seen_asset = false;
    bool seen_status = false;
    for (auto& [name, value] : parsed.parameters) {
        bool* seen = name == "asset_id" ? &seen_asset : name == "status" ? &seen_status : nullptr;
        if (seen == nullptr) {
            return refuse(400, "unknown query parameter '" + name + "' (known: asset_id, status)");
        }
        if (*seen) return refuse(400, "query parameter '" + name + "' given twice");
        *seen = true;
        if (value.empty()) continue;  // an empty filter is no filter
        if (name == "asset_id") {
            filter.asset_id = std::move(value);
        } else {
            filter.status = sdk::command_status_from_string(value);
            if (!filter.status) {
                return refuse(400, "query parameter 'status': unknown status '" + value +
                                       "' (one of PENDING, DISPATCHED, COMPLETED, FAILED, "
                                       "TIMED_OUT, CANCELLED)");
            }
        }
    }
    RouteDecision d;
    d.route = Route{.endpoint = Endpoint::ListCommands, .filter = std::move(filter)};
    return d;
}

RouteDecision route_no_query(std::string_view query, Endpoint endpoint) {
    if (!query.empty()) {
        QueryParseResult parsed = parse_query(query);
        if (!parsed.error.empty()) return refuse(400, parsed.error);
        if (!parsed.parameters.empty()) {
            return refuse(400, "unknown query parameter '" + parsed.parameters.front().name + "'");
        }
    }
    RouteDecision d;
    d.route = Route{.endpoint = endpoint};
    return d;
}

}  // namespace

std::optional<std::string_view> header_value(const Request& req, boost::beast::http::field field) {
    auto it = req.find(field);
    if (it == req.end()) return std::nullopt;
    return std::string_view(it->value().data(), it->value().size());
}

RequestHead request_head(const Request& req) {
    RequestHead head;
    head.method = req.method();
    head.method_text = std::string_view(req.method_string().data(), req.method_string().size());
    head.target = std::string_view(req.target().data(), req.target().size());
    head.authorization = header_value(req, boost::beast::http::field::authorization);
    head.content_type = header_value(req, boost::beast::http::field::content_type);
    return head;
}

RouteDecision route_request(const RequestHead& head, std::string_view token) {
    auto target = split_target(head.target);
    if (!target) return refuse(400, "request target must be a path starting with '/'");
    const std::string_view path = target->path;
    // HEAD is GET without the body (monitoring probes use it).
    const bool get = head.method == bhttp::verb::get || head.method == bhttp::verb::head;
    constexpr std::string_view kGet = "GET, HEAD";

    // Open to probes and scrapers whatever the token.
    if (path == "/healthz") {
        if (!get) return method_not_allowed(head, path, kGet);
        return RouteDecision{.route = Route{.endpoint = Endpoint::Health}};
    }
    if (path == "/metrics") {
        if (!get) return method_not_allowed(head, path, kGet);
        return RouteDecision{.route = Route{.endpoint = Endpoint::Metrics}};
    }

    // Authenticate before matching, so an unauthenticated client learns
    // nothing about which /api/ paths exist.
    const bool api = path == "/api" || path.starts_with("/api/");
    if (api && !token.empty()) {
        if (!head.authorization) return unauthorized("missing bearer token", false);
        auto given = bearer_token(*head.authorization);
        if (!given || !constant_time_equals(token, *given)) {
            return unauthorized("invalid bearer token", true);
        }
    }

    if (path == "/api/v1/schedules") {
        if (head.method != bhttp::verb::post) return method_not_allowed(head, path, "POST");
        RouteDecision d = route_schedule(head);
        if (d.route) {
            RouteDecision q = route_no_query(target->query, Endpoint::PostSchedule);
            if (!q.route) return q;
        }
        return d;
    }
    if (path == kCommandsPath) {
        if (!get) return method_not_allowed(head, path, kGet);
        return route_command_list(target->query);
    }
    if (path.starts_with(kCommandsPath) && path.size() > kCommandsPath.size() + 1 &&
        path[kCommandsPath.size()] == '/' &&
        path.find('/', kCommandsPath.size() + 1) == std::string_view::npos) {
        if (!get) return method_not_allowed(head, path, kGet);
        std::string_view raw_id = path.substr(kCommandsPath.size() + 1);
        auto decoded = percent_decode(raw_id, false);
        if (!decoded) return refuse(400, "malformed percent-encoding in command id");
        auto id = sdk::CommandId::parse(*decoded);
        if (!id) return refuse(404, "command '" + *decoded + "' not found");
        RouteDecision q = route_no_query(target->query, Endpoint::GetCommand);
        if (q.route) q.route->command_id = *id;
        return q;
    }
    if (path == "/api/v1/assets") {
        if (!get) return method_not_allowed(head, path, kGet);
        return route_no_query(target->query, Endpoint::ListAssets);
    }
    return refuse(404, "not found");
}

}  // namespace gridgate::http::detail
