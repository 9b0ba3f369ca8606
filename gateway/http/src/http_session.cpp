#include "http_session.hpp"

#include <chrono>
#include <exception>
#include <limits>
#include <string>
#include <utility>

#include <spdlog/spdlog.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include "gridgate/http/json.hpp"
#include "gridgate/http/metrics.hpp"

namespace gridgate::http::detail {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

// How long a client still sending a refused request's body has to stop
// before the connection is closed; reading it meanwhile lets the client see
// the answer instead of a connection reset.
constexpr std::chrono::seconds kLingerTime{2};

// The largest body of a refused request that is read and dropped to keep
// the connection alive.
constexpr std::uint64_t kDrainedBodyLimit = 64 * 1024;

Reply error_reply(unsigned status, const std::string& message, bool close, bool unread_body) {
    Reply r;
    r.content.response = ApiResponse::json(status, error_json(message));
    r.close = close;
    r.unread_body = unread_body;
    return r;
}

bool is_http_error(const beast::error_code& ec) {
    return ec.category() == bhttp::make_error_code(bhttp::error::end_of_stream).category();
}

}  // namespace

HttpSession::HttpSession(tcp::socket&& socket, std::shared_ptr<ServerState> state)
    : stream_(std::move(socket)),
      strand_(stream_.get_executor()),
      state_(std::move(state)),
      backend_timer_(strand_) {}

HttpSession::~HttpSession() {
    state_->remove(this);
}

void HttpSession::run() {
    net::dispatch(strand_,
                  beast::bind_front_handler(&HttpSession::do_read_header, shared_from_this()));
}

void HttpSession::stop_gracefully() {
    net::post(strand_, [self = shared_from_this()] {
        self->stop_requested_ = true;
        // Waiting for a request that has not fully arrived: nothing is in
        // flight, so the connection goes now.
        if (self->phase_ == Phase::ReadingHeader) self->close();
    });
}

void HttpSession::close_now() {
    net::post(strand_, [self = shared_from_this()] { self->close(); });
}

void HttpSession::do_read_header() {
    if (stop_requested_ || state_->stopping()) return close();
    phase_ = Phase::ReadingHeader;
    const ApiServerOptions& options = state_->options();
    head_request_ = false;  // an answer to a request unread gets its body
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(options.header_limit));
    // The body's limit is set once the request is known to be allowed: a
    // client without the token gets 401 whatever its Content-Length, and
    // learns nothing of the limit.
    // (Not boost::none: Beast 1.74 compares a length with the optional, and
    // any length is "greater" than none.)
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    // Covers both an idle keep-alive connection and a client that trickles
    // its header: either way the slot is freed after header_timeout.
    stream_.expires_after(options.header_timeout);
    bhttp::async_read_header(
        stream_, buffer_, *parser_,
        beast::bind_front_handler(&HttpSession::on_read_header, shared_from_this()));
}

void HttpSession::on_read_header(beast::error_code ec, std::size_t) {
    if (phase_ == Phase::Closed) return;
    if (ec) return on_read_error(ec);

    const auto& req = parser_->get();
    version_ = req.version();
    keep_alive_ = req.keep_alive();
    head_request_ = req.method() == bhttp::verb::head;
    const RequestHead head = request_head(req);

    auto expect = header_value(req, bhttp::field::expect);
    const bool awaits_continue =
        expect &&
        beast::iequals(beast::string_view(expect->data(), expect->size()), "100-continue");
    RouteDecision decision = route_request(head, state_->options().token);
    // A refused request's body is only drained, up to kDrainedBodyLimit.
    parser_->body_limit(decision.route ? state_->options().body_limit : kDrainedBodyLimit);
    if (!decision.route) {
        Reply reply;
        reply.content = std::move(decision.refusal);
        // A small body on its way is read and dropped first, so the
        // connection stays usable. A large one, or one the client sends only
        // after a 100 Continue, is not read: the connection cannot be reused,
        // so it closes after the answer.
        const auto length = parser_->content_length();
        if (!parser_->is_done() && !awaits_continue && length && *length <= kDrainedBodyLimit) {
            refusal_ = std::move(reply);
            return do_read_body();
        }
        reply.unread_body = !parser_->is_done();
        reply.close = reply.unread_body;
        return do_write(std::move(reply));
    }
    route_ = std::move(*decision.route);
    if (const auto length = parser_->content_length();
        length && *length > state_->options().body_limit) {
        return on_read_error(bhttp::error::body_limit);  // 413, the body left unread
    }
    if (parser_->is_done()) return handle_request();
    if (awaits_continue) return do_send_continue();
    do_read_body();
}

void HttpSession::do_send_continue() {
    continue_ =
        std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_, version_);
    stream_.expires_after(state_->options().write_timeout);
    bhttp::async_write(
        stream_, *continue_,
        beast::bind_front_handler(&HttpSession::on_send_continue, shared_from_this()));
}

void HttpSession::on_send_continue(beast::error_code ec, std::size_t) {
    continue_.reset();
    if (phase_ == Phase::Closed) return;
    if (ec) return close();
    do_read_body();
}

void HttpSession::do_read_body() {
    phase_ = Phase::ReadingBody;
    // Renewed per read: a large body may take long, but it must keep coming.
    stream_.expires_after(state_->options().body_progress_timeout);
    bhttp::async_read_some(
        stream_, buffer_, *parser_,
        beast::bind_front_handler(&HttpSession::on_read_body, shared_from_this()));
}

void HttpSession::on_read_body(beast::error_code ec, std::size_t) {
    if (phase_ == Phase::Closed) return;
    if (ec) return on_read_error(ec);
    if (!parser_->is_done()) return do_read_body();
    if (refusal_) {
        Reply reply = std::move(*refusal_);
        refusal_.reset();
        return do_write(std::move(reply));
    }
    handle_request();
}

void HttpSession::on_read_error(beast::error_code ec) {
    // A client closing between requests, a timeout, a reset, or our own
    // cancellation at stop: all normal ends of a connection.
    if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message ||
        !is_http_error(ec)) {
        if (ec == beast::error::timeout) {
            spdlog::debug("api: closing connection idle or stalled past its read timeout");
        }
        return close();
    }
    if (ec == bhttp::error::body_limit) {
        return do_write(error_reply(413,
                                    "request body exceeds the limit of " +
                                        std::to_string(state_->options().body_limit) + " bytes",
                                    true, true));
    }
    if (ec == bhttp::error::header_limit) {
        return do_write(error_reply(431,
                                    "request header exceeds the limit of " +
                                        std::to_string(state_->options().header_limit) + " bytes",
                                    true, true));
    }
    do_write(error_reply(400, "malformed HTTP request: " + ec.message(), true, true));
}

void HttpSession::handle_request() {
    phase_ = Phase::Handling;
    const std::uint64_t request = ++request_;
    const ApiServerOptions& options = state_->options();
    backend_timer_.expires_after(route_.endpoint == Endpoint::Health ? options.health_timeout
                                                                     : options.backend_timeout);
    backend_timer_.async_wait(
        beast::bind_front_handler(&HttpSession::on_backend_timeout, shared_from_this(), request));

    // The backend may answer from any thread; the answer comes back through
    // this connection's strand.
    auto answer = [self = shared_from_this(), request](ApiResponse response) {
        net::post(self->strand_, [self, request, response = std::move(response)]() mutable {
            self->on_backend_answer(request, std::move(response));
        });
    };
    claim_ = route_.endpoint == Endpoint::PostSchedule ? std::make_shared<RequestClaim>() : nullptr;
    ApiBackend& backend = state_->backend();
    try {
        switch (route_.endpoint) {
            case Endpoint::PostSchedule:
                backend.post_schedule(route_.format, parser_->release().body(), claim_,
                                      std::move(answer));
                break;
            case Endpoint::ListCommands:
                backend.list_commands(std::move(route_.filter), std::move(answer));
                break;
            case Endpoint::GetCommand:
                backend.get_command(route_.command_id, std::move(answer));
                break;
            case Endpoint::ListAssets:
                backend.list_assets(std::move(answer));
                break;
            case Endpoint::Health:
                backend.health([answer = std::move(answer)](bool alive) {
                    answer(alive ? ApiResponse::json(200, R"({"status":"ok"})")
                                 : ApiResponse::json(503, error_json("engine not responding")));
                });
                break;
            case Endpoint::Metrics:
                backend.metrics([answer = std::move(answer)](std::string text) {
                    answer(ApiResponse{200, std::string(Metrics::kContentType), std::move(text)});
                });
                break;
        }
    } catch (const std::exception& e) {
        spdlog::error("api: backend failed while taking a request: {}", e.what());
        // Had the backend taken the request before throwing, its answer is
        // the one to send.
        if (abandon_request())
            on_backend_answer(request, ApiResponse::json(500, error_json("internal error")));
    }
}

void HttpSession::on_backend_answer(std::uint64_t request, ApiResponse response) {
    // Late (after a timeout) or repeated answers find the request gone.
    if (request != request_ || phase_ != Phase::Handling) return;
    backend_timer_.cancel();
    Reply reply;
    reply.content.response = std::move(response);
    do_write(std::move(reply));
}

void HttpSession::on_backend_timeout(std::uint64_t request, beast::error_code ec) {
    if (ec || request != request_ || phase_ != Phase::Handling) return;
    const ApiServerOptions& options = state_->options();
    if (route_.endpoint == Endpoint::Health) {
        const std::string why = state_->backend().stall();
        return do_write(error_reply(503,
                                    "engine not responding within " +
                                        std::to_string(options.health_timeout.count()) + " ms" +
                                        (why.empty() ? "" : ": " + why),
                                    false, false));
    }
    const std::string waited = std::to_string(options.backend_timeout.count()) + " ms";
    if (!abandon_request()) {
        // The backend is applying the request: only its answer can tell the
        // client what happened, and it is coming, however late.
        spdlog::info("api: a schedule is still being applied after {}; waiting for its answer",
                     waited);
        return;
    }
    if (claim_) {
        spdlog::warn(
            "api: the engine did not take a schedule within {}: answered 503, and the "
            "schedule will not be applied",
            waited);
        return do_write(error_reply(
            503, "the gateway did not take the schedule within " + waited + "; it was not applied",
            false, false));
    }
    spdlog::warn("api: the gateway did not answer a request within {}", waited);
    do_write(error_reply(503, "the gateway did not answer within " + waited, false, false));
}

// True when the server may answer the request in flight itself: it changes
// nothing, or the backend has not taken it and now never will.
bool HttpSession::abandon_request() {
    return !claim_ || claim_->abandon();
}

void HttpSession::do_write(Reply reply) {
    phase_ = Phase::Writing;
    close_after_write_ = reply.close || !keep_alive_ || stop_requested_ || state_->stopping();
    linger_after_write_ = reply.unread_body;

    ApiResponse& answer = reply.content.response;
    response_ = std::make_shared<bhttp::response<bhttp::string_body>>(
        static_cast<bhttp::status>(answer.status), version_);
    response_->set(bhttp::field::server, "gridgate");
    response_->set(bhttp::field::content_type, answer.content_type);
    response_->set(bhttp::field::cache_control, "no-store");
    if (!reply.content.allow.empty()) response_->set(bhttp::field::allow, reply.content.allow);
    // Every 503 here is a busy or slow moment (an engine that did not answer
    // in time): a client may try again shortly.
    if (answer.status == 503) response_->set(bhttp::field::retry_after, "1");
    if (!reply.content.www_authenticate.empty()) {
        response_->set(bhttp::field::www_authenticate, reply.content.www_authenticate);
    }
    response_->body() = std::move(answer.body);
    response_->keep_alive(!close_after_write_);
    response_->prepare_payload();
    // The Content-Length a GET would have, and no body.
    if (head_request_) response_->body().clear();

    stream_.expires_after(state_->options().write_timeout);
    bhttp::async_write(stream_, *response_,
                       beast::bind_front_handler(&HttpSession::on_write, shared_from_this()));
}

void HttpSession::on_write(beast::error_code ec, std::size_t) {
    response_.reset();
    if (phase_ == Phase::Closed) return;
    if (ec) return close();
    if (!close_after_write_) return do_read_header();
    if (linger_after_write_) return do_linger();
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    close();
}

void HttpSession::do_linger() {
    if (phase_ != Phase::Lingering) {
        phase_ = Phase::Lingering;
        beast::error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
        discard_.resize(16 * 1024);
        // One deadline for the whole linger, not per read.
        stream_.expires_after(kLingerTime);
    }
    stream_.async_read_some(net::buffer(discard_),
                            beast::bind_front_handler(&HttpSession::on_linger, shared_from_this()));
}

void HttpSession::on_linger(beast::error_code ec, std::size_t) {
    if (phase_ == Phase::Closed) return;
    if (ec) return close();
    do_linger();
}

void HttpSession::close() {
    if (phase_ == Phase::Closed) return;
    phase_ = Phase::Closed;
    backend_timer_.cancel();
    // Closed without an answer (stop's grace ran out): a schedule the
    // backend has not taken yet is never applied either.
    abandon_request();
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
}

}  // namespace gridgate::http::detail
