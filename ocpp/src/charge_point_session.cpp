#include "charge_point_session.hpp"

#include <algorithm>
#include <array>
#include <exception>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>

#include "gridgate/ocpp/json_arena.hpp"
#include "printable.hpp"

namespace gridgate::ocpp::detail {

namespace {

// Inbound frames parse into this much stack before touching the heap; the
// OCPP messages a charger sends fit with room to spare.
constexpr std::size_t kParseArenaBytes = 4096;

// What warn_about_message()'s lines are, to the line that counts them.
constexpr std::string_view kMessageWarnings = "warnings about its messages";

// "10 s", or "300 ms" when not whole seconds.
std::string duration_text(std::chrono::milliseconds duration) {
    if (duration.count() % 1000 == 0) return std::to_string(duration.count() / 1000) + " s";
    return std::to_string(duration.count()) + " ms";
}

bool is_http_parse_error(const beast::error_code& ec) {
    static const auto& category = http::make_error_code(http::error::bad_method).category();
    return ec.category() == category && ec != http::error::end_of_stream &&
           ec != http::error::partial_message;
}

std::string truncate_close_reason(std::string reason) {
    // A close frame's reason must fit in 123 bytes.
    if (reason.size() > 120) reason.resize(120);
    return reason;
}

}  // namespace

template <class Stream>
std::string ChargePointSession<Stream>::who() const {
    if (!identity_.empty()) return "charge point '" + printable(identity_) + "'";
    return "connection from " + remote_;
}

template <class Stream>
void ChargePointSession<Stream>::warn_about_message(std::string line) {
    write_within(log_budget_, std::chrono::steady_clock::now(), who(), kMessageWarnings,
                 std::move(line),
                 [this](const std::string& text) { state_->log(LogLevel::Warning, text); });
}

template <class Stream>
void ChargePointSession<Stream>::close_socket() {
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).close(ignored);
}

template <class Stream>
void ChargePointSession<Stream>::start_handshake_timer() {
    deadline_timer_.expires_after(state_->options.handshake_timeout);
    deadline_timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
        // Closing fails the pending TLS handshake, read or refusal write,
        // which ends the session.
        if (!ec && !self->upgrade_read_) {
            self->handshake_timed_out_ = true;
            self->close_socket();
        }
    });
}

template <class Stream>
void ChargePointSession<Stream>::run() {
    beast::error_code ec;
    const auto endpoint = beast::get_lowest_layer(ws_).remote_endpoint(ec);
    if (!ec) remote_ = endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
    state_->track(this, this->weak_from_this());
    net::dispatch(ws_.get_executor(), [self = this->shared_from_this()] {
        self->start_handshake_timer();
        if constexpr (kTls) {
            self->ws_.next_layer().async_handshake(
                net::ssl::stream_base::server,
                [self](beast::error_code e) { self->on_tls_handshake(e); });
        } else {
            self->do_read_request();
        }
    });
}

template <class Stream>
void ChargePointSession<Stream>::on_tls_handshake(beast::error_code ec) {
    if (ec && handshake_timed_out_) {
        const std::string why =
            "no TLS handshake within " + duration_text(state_->options.handshake_timeout);
        state_->log(LogLevel::Info, who() + ": " + why);
        on_end(why);
        return;
    }
    if (ec) {
        // Plain ws on a TLS port ends here: profile 2 never falls back.
        state_->log(LogLevel::Info, who() + ": TLS handshake failed: " + ec.message());
        on_end("TLS handshake failed");
        return;
    }
    do_read_request();
}

template <class Stream>
void ChargePointSession<Stream>::do_read_request() {
    if (closing_) return on_end(close_reason_);
    handshake_ = std::make_unique<Handshake>();
    handshake_->parser.header_limit(kHeaderLimitBytes);
    handshake_->parser.body_limit(0);
    http::async_read(ws_.next_layer(), buffer_, handshake_->parser,
                     [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                         self->on_read_request(ec);
                     });
}

template <class Stream>
void ChargePointSession<Stream>::on_read_request(beast::error_code ec) {
    if (ec && handshake_timed_out_) {
        state_->log(LogLevel::Debug, who() + ": no HTTP upgrade request within " +
                                         duration_text(state_->options.handshake_timeout));
        on_end("handshake failed");
        return;
    }
    // Answered, so that the peer learns why; the rest of its request is
    // still unread.
    if (ec == http::error::header_limit) {
        return reject(http::status::request_header_fields_too_large,
                      "request headers over " + std::to_string(kHeaderLimitBytes / 1024) + " KiB",
                      true);
    }
    if (is_http_parse_error(ec)) {
        return reject(http::status::bad_request, "malformed HTTP request: " + ec.message(), true);
    }
    if (ec) {
        state_->log(LogLevel::Debug, who() + ": no valid HTTP upgrade request: " + ec.message());
        on_end("handshake failed");
        return;
    }
    handshake_->request.emplace(handshake_->parser.release());
    const auto& request = *handshake_->request;
    if (!websocket::is_upgrade(request)) {
        return reject(http::status::bad_request, "expected a WebSocket upgrade request");
    }
    const auto identity = identity_from_target(
        std::string_view(request.target().data(), request.target().size()), state_->options.path);
    if (!identity) {
        return reject(http::status::not_found,
                      "no charge point identity under " + state_->options.path);
    }
    identity_ = *identity;
    std::optional<BasicCredentials> credentials;
    if (auto header = request.find(http::field::authorization); header != request.end()) {
        credentials = parse_basic_authorization(
            std::string_view(header->value().data(), header->value().size()));
    }
    const HandshakeDecision decision =
        state_->authorizer ? state_->authorizer(HandshakeRequest{identity_, credentials, remote_})
                           : HandshakeDecision::NotFound;
    if (decision == HandshakeDecision::NotFound) {
        return reject(http::status::not_found,
                      "unknown charge point '" + printable(identity_) + "'");
    }
    if (decision == HandshakeDecision::Unauthorized) {
        return reject(http::status::unauthorized,
                      "wrong or missing credentials for '" + printable(identity_) + "'");
    }
    // OCPP-J 1.6 (3.1.2): a central system that does not agree to the
    // subprotocols offered completes the handshake without naming one, then
    // closes the connection at once (on_accept).
    // The offer may span several header lines, which are one list (RFC 6455
    // 11.3.4): a charger may name each protocol on a line of its own.
    subprotocol_agreed_ = false;
    for (auto [line, end] = request.equal_range(http::field::sec_websocket_protocol);
         line != end && !subprotocol_agreed_; ++line) {
        const auto offered = line->value();
        subprotocol_agreed_ = offers_subprotocol(std::string_view(offered.data(), offered.size()));
    }

    upgrade_read_ = true;
    deadline_timer_.cancel();
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = state_->options.handshake_timeout;
    timeouts.idle_timeout = websocket::stream_base::none();  // see on_ping_timer
    timeouts.keep_alive_pings = false;
    ws_.set_option(timeouts);
    // Pings, pongs and closes from the peer are signs of life as much as
    // its messages (on_read).
    ws_.control_callback([this](websocket::frame_type kind, beast::string_view) {
        last_heard_ = std::chrono::steady_clock::now();
        if (kind == websocket::frame_type::close) close_received_ = true;
    });
    ws_.read_message_max(state_->options.max_frame_bytes);
    ws_.set_option(websocket::stream_base::decorator(
        [agreed = subprotocol_agreed_](websocket::response_type& response) {
            if (agreed) {
                response.set(http::field::sec_websocket_protocol,
                             beast::string_view(kSubprotocol.data(), kSubprotocol.size()));
            }
            response.set(http::field::server, "gridgate");
        }));
    ws_.async_accept(*handshake_->request, [self = this->shared_from_this()](beast::error_code e) {
        self->on_accept(e);
    });
}

template <class Stream>
void ChargePointSession<Stream>::reject(http::status status, std::string text, bool unread_input) {
    state_->log(LogLevel::Info, who() + ": handshake refused (" +
                                    std::to_string(static_cast<int>(status)) + "): " + text);
    auto response = std::make_shared<http::response<http::string_body>>(
        status, handshake_ && handshake_->request ? handshake_->request->version() : 11);
    response->set(http::field::server, "gridgate");
    response->set(http::field::content_type, "text/plain");
    if (status == http::status::unauthorized) {
        response->set(http::field::www_authenticate, "Basic realm=\"gridgate\"");
    }
    response->keep_alive(false);
    response->body() = std::move(text) + "\n";
    response->prepare_payload();
    http::async_write(
        ws_.next_layer(), *response,
        [self = this->shared_from_this(), response, unread_input](beast::error_code ec,
                                                                  std::size_t) {
            if constexpr (kTls) {
                if (!ec) {
                    // The answer ends with a close_notify, so the charger's TLS
                    // stack sees its end rather than a cut connection; the
                    // teardown waits for the charger's (bounded) and reads what
                    // it still sends (tls_teardown.hpp).
                    return async_teardown(
                        beast::role_type::server, self->ws_.next_layer(),
                        [self](beast::error_code) { self->on_end("handshake refused"); });
                }
            }
            beast::error_code ignored;
            if (!ec && unread_input) {
                // Closing with input unread would send a reset, which can
                // destroy the answer before the peer reads it: say FIN, then
                // read until the peer closes (bounded by the handshake timer).
                beast::get_lowest_layer(self->ws_).shutdown(net::ip::tcp::socket::shutdown_send,
                                                            ignored);
                return self->drain_then_end();
            }
            beast::get_lowest_layer(self->ws_).shutdown(net::ip::tcp::socket::shutdown_both,
                                                        ignored);
            self->close_socket();
            self->on_end("handshake refused");
        });
}

template <class Stream>
void ChargePointSession<Stream>::drain_then_end() {
    auto discard = std::make_shared<std::array<char, 4096>>();
    beast::get_lowest_layer(ws_).async_read_some(
        net::buffer(*discard),
        [self = this->shared_from_this(), discard](beast::error_code ec, std::size_t) {
            if (!ec) return self->drain_then_end();
            self->close_socket();
            self->on_end("handshake refused");
        });
}

template <class Stream>
void ChargePointSession<Stream>::on_accept(beast::error_code ec) {
    handshake_.reset();
    if (ec) {
        state_->log(LogLevel::Info, who() + ": WebSocket handshake failed: " + ec.message());
        on_end("WebSocket handshake failed");
        return;
    }
    accepted_ = true;
    if (closing_ || state_->stopping) {
        do_close(websocket::close_code::going_away, "server stopping");
        do_read();
        return;
    }
    if (!subprotocol_agreed_) {
        // Never registered: for the rest of the system it never connected.
        const std::string why =
            "the WebSocket subprotocol " + std::string(kSubprotocol) + " is required";
        state_->log(LogLevel::Info, who() + ": refused: " + why);
        do_close(websocket::close_code::protocol_error, why);
        do_read();
        return;
    }
    // The read buffer is given back between messages: Beast grows it to at
    // least 1.5 KiB per read, which idle connections by the thousand should
    // not keep. One allocation per message is the price.
    buffer_.shrink_to_fit();
    auto replaced = state_->replace(identity_, this->shared_from_this());
    registered_ = true;
    if (replaced) {
        state_->log(LogLevel::Info, who() + ": new connection replaces the previous one");
        replaced->close("replaced by a newer connection of the same charge point");
    }
    state_->log(LogLevel::Info, who() + ": connected from " + remote_);
    try {
        if (state_->handler) state_->handler->on_connected(identity_);
    } catch (const std::exception& e) {
        state_->log(LogLevel::Error, who() + ": on_connected threw: " + e.what());
    }
    last_heard_ = std::chrono::steady_clock::now();
    if (state_->options.ping_interval.count() > 0)
        arm_ping_timer(last_heard_ + state_->options.ping_interval);
    do_read();
}

template <class Stream>
void ChargePointSession<Stream>::arm_ping_timer(std::chrono::steady_clock::time_point at) {
    ping_timer_.expires_at(at);
    ping_timer_.async_wait(Cached{[self = this->shared_from_this()](beast::error_code ec) {
        if (!ec) self->on_ping_timer();
    }});
}

// A ping goes out after ping_interval of silence; a peer silent for twice
// that is disconnected. The timer is not moved when the peer speaks: it
// wakes when the last word would have become due and looks again.
template <class Stream>
void ChargePointSession<Stream>::on_ping_timer() {
    if (ended_ || closing_) return;
    const auto interval = state_->options.ping_interval;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_heard_ >= 2 * interval) {
        close_reason_ =
            "no answer to WebSocket ping within " + std::to_string((2 * interval).count()) + " ms";
        closing_ = true;
        close_socket();  // the pending read fails and ends the session
        return;
    }
    if (now - last_heard_ < interval) return arm_ping_timer(last_heard_ + interval);
    if (ping_sent_at_ < last_heard_ && !ping_in_flight_) {
        // One ping per silence; never two at once (Beast's rule), which a
        // peer that does not read at all could otherwise cause.
        ping_sent_at_ = now;
        ping_in_flight_ = true;
        ws_.async_ping({}, Cached{[self = this->shared_from_this()](beast::error_code) {
                           self->ping_in_flight_ = false;
                       }});
    }
    arm_ping_timer(last_heard_ + 2 * interval);
}

template <class Stream>
void ChargePointSession<Stream>::do_read() {
    ws_.async_read(buffer_, Cached{[self = this->shared_from_this()](
                                       beast::error_code ec, std::size_t) { self->on_read(ec); }});
}

template <class Stream>
std::string ChargePointSession<Stream>::describe_read_error(beast::error_code ec) const {
    if (ec == websocket::error::message_too_big) {
        return "message over " + std::to_string(state_->options.max_frame_bytes) +
               " bytes (closed with 1009)";
    }
    // A close frame followed by a dropped connection (no TLS close_notify,
    // or a reset before our answering close went out) ends the read with
    // stream_truncated or the like, not `closed`: the peer's close says
    // more than how the transport ended.
    if (ec == websocket::error::closed || close_received_) {
        if (closing_) return close_reason_;
        const auto& reason = ws_.reason();
        // Beast reads a close frame without a body (1005, "no status
        // received") as code 0, which no peer sends.
        if (reason.code == websocket::close_code::none)
            return "closed by the charge point without a status code";
        return "closed by the charge point (code " + std::to_string(reason.code) +
               (reason.reason.empty() ? "" : ", " + printable(reason.reason.c_str())) + ")";
    }
    if (closing_) return close_reason_;
    return ec.message();
}

template <class Stream>
void ChargePointSession<Stream>::on_read(beast::error_code ec) {
    if (ec) {
        on_end(describe_read_error(ec));
        return;
    }
    last_heard_ = std::chrono::steady_clock::now();
    state_->send_waiting_calls();
    if (!ws_.got_text()) {
        buffer_.consume(buffer_.size());
        do_close(websocket::close_code::unknown_data, "OCPP-J frames are text, not binary");
        do_read();
        return;
    }
    const auto data = buffer_.data();
    handle_message(std::string_view(static_cast<const char*>(data.data()), data.size()));
    buffer_.consume(buffer_.size());
    buffer_.shrink_to_fit();
    do_read();
}

template <class Stream>
void ChargePointSession<Stream>::handle_message(std::string_view text) {
    JsonArena<kParseArenaBytes> arena;
    Frame frame = parse_frame(text, arena.doc);
    if (auto* call = std::get_if<Call>(&frame)) {
        handle_call(*call);
    } else if (auto* result = std::get_if<CallResult>(&frame)) {
        handle_result(*result);
    } else if (auto* error = std::get_if<CallError>(&frame)) {
        handle_error(*error);
    } else {
        const auto& problem = std::get<FrameError>(frame);
        if (!problem.answer_expected && answers_call_in_flight(problem)) {
            // The charger's answer to our call, broken: the call fails now
            // rather than wait out its timeout for an answer already given.
            CallOutcome outcome;
            outcome.kind = CallOutcome::Kind::InvalidResponse;
            outcome.message = who() + " message id " + in_flight_->message_id + ": " +
                              printable(problem.description);
            state_->log(LogLevel::Warning, outcome.message);
            finish_call(std::move(outcome));
            return;
        }
        warn_about_message(who() + ": malformed frame (" + std::string(to_string(problem.code)) +
                           "): " + printable(problem.description));
        if (problem.answer_expected) {
            send_frame(serialize_call_error(
                problem.message_id.empty() ? kUnknownMessageId : problem.message_id, problem.code,
                problem.description));
        }
    }
}

// True when a malformed CALLRESULT or CALLERROR names the call in flight:
// by its message id, or by the same digits sent as a number.
template <class Stream>
bool ChargePointSession<Stream>::answers_call_in_flight(const FrameError& problem) const {
    if (!in_flight_) return false;
    const std::string& id = in_flight_->message_id;
    return problem.message_id == id || problem.numeric_message_id == id;
}

template <class Stream>
void ChargePointSession<Stream>::handle_call(const Call& call) {
    const std::string where =
        who() + " " + printable(call.action) + " (message id " + printable(call.message_id) + ")";
    if (!sent_by_charge_point(call.action) && state_->schemas->has_action(call.action)) {
        // Refused before its payload is looked at: no payload makes it right.
        const std::string why = std::string(call.action) +
                                " is sent by a central system to a charge point, not the other way";
        warn_about_message(where + ": refused: " + why);
        send_frame(serialize_call_error(call.message_id, ErrorCode::NotSupported, why));
        return;
    }
    if (auto violation =
            state_->schemas->validate(call.action, PayloadKind::Request, *call.payload)) {
        warn_about_message(where + ": refused: " + printable(violation->message));
        send_frame(serialize_call_error(call.message_id, violation->code, violation->message));
        return;
    }
    JsonArena<kParseArenaBytes> arena;
    rapidjson::Document& response = arena.doc;
    response.SetObject();
    std::optional<HandlerError> refusal;
    try {
        if (!state_->handler) {
            refusal = HandlerError{ErrorCode::NotSupported, "no handler"};
        } else {
            refusal = state_->handler->on_call(identity_, call.action, *call.payload, response);
        }
    } catch (const std::exception& e) {
        state_->log(LogLevel::Error, where + ": handler failed: " + printable(e.what()));
        refusal = HandlerError{ErrorCode::InternalError, "the central system failed to handle it"};
    }
    if (refusal) {
        send_frame(serialize_call_error(call.message_id, refusal->code, refusal->description));
        return;
    }
    if (auto violation = state_->schemas->validate(call.action, PayloadKind::Response, response)) {
        // Our own bug; the charger gets an honest InternalError instead of
        // an answer that would break its parser.
        state_->log(LogLevel::Error,
                    where + ": handler's answer is invalid: " + printable(violation->message));
        send_frame(serialize_call_error(call.message_id, ErrorCode::InternalError,
                                        "the central system produced an invalid answer"));
        return;
    }
    send_frame(serialize_call_result(call.message_id, response));
}

template <class Stream>
void ChargePointSession<Stream>::handle_result(const CallResult& result) {
    if (!in_flight_ || result.message_id != in_flight_->message_id) {
        warn_about_message(who() + ": dropped a CALLRESULT for message id " +
                           printable(result.message_id) +
                           ", which is not the call in flight (late or unknown)");
        return;
    }
    CallOutcome outcome;
    if (auto violation =
            state_->schemas->validate(in_flight_->action, PayloadKind::Response, *result.payload)) {
        outcome.kind = CallOutcome::Kind::InvalidResponse;
        outcome.message =
            who() + " message id " + in_flight_->message_id + ": " + printable(violation->message);
        state_->log(LogLevel::Warning, outcome.message);
    } else {
        outcome.kind = CallOutcome::Kind::Result;
        copy_value(*result.payload, outcome.payload, outcome.payload.GetAllocator());
    }
    finish_call(std::move(outcome));
}

template <class Stream>
void ChargePointSession<Stream>::handle_error(const CallError& error) {
    if (!in_flight_ || error.message_id != in_flight_->message_id) {
        warn_about_message(who() + ": dropped a CALLERROR for message id " +
                           printable(error.message_id) +
                           ", which is not the call in flight (late or unknown)");
        return;
    }
    CallOutcome outcome;
    outcome.kind = CallOutcome::Kind::CallError;
    // The charger's words travel on into logs (the command's error).
    outcome.error_code = printable(error.code_text);
    outcome.message = printable(error.description);
    if (error.details != nullptr) {
        copy_value(*error.details, outcome.payload, outcome.payload.GetAllocator());
    } else {
        state_->log(LogLevel::Warning, who() + ": the CALLERROR for message id " +
                                           in_flight_->message_id +
                                           " has no details object; taken for its code and "
                                           "description");
    }
    finish_call(std::move(outcome));
}

template <class Stream>
void ChargePointSession<Stream>::send_frame(std::string frame) {
    if (ended_ || !accepted_) return;
    if (!writing_) {
        // The usual case, a connection with nothing on its way out: no queue.
        writing_frame_ = std::move(frame);
        do_write();
        return;
    }
    const std::size_t unsent = writes_.size() + 1;
    if (unsent >= state_->options.max_queued_frames) {
        state_->log(LogLevel::Warning, who() + ": " + std::to_string(unsent) +
                                           " frames unsent; the peer is not reading");
        do_close(websocket::close_code::policy_error, "not reading");
        return;
    }
    writes_.push(std::move(frame));
}

template <class Stream>
void ChargePointSession<Stream>::do_write() {
    writing_ = true;
    ws_.text(true);
    ws_.async_write(net::buffer(writing_frame_),
                    Cached{[self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                        self->on_write(ec);
                    }});
}

template <class Stream>
void ChargePointSession<Stream>::on_write(beast::error_code ec) {
    writing_ = false;
    // An idle connection holds no frame; the buffer serves the next call.
    state_->frames.give(std::move(writing_frame_));
    writing_frame_ = std::string();
    if (ec) {
        // The pending read fails too and ends the session.
        if (ec != net::error::operation_aborted && ec != websocket::error::closed) {
            state_->log(LogLevel::Info, who() + ": write failed: " + ec.message());
        }
        close_socket();
        return;
    }
    if (!writes_.empty()) {
        writing_frame_ = writes_.pop();
        do_write();
    }
}

template <class Stream>
void ChargePointSession<Stream>::submit_call(PendingCall&& call) {
    // CentralSystem::call's batches are handed over on an I/O thread: with
    // one thread, always this session's own.
    if (ws_.get_executor().running_in_this_thread()) return enqueue_call(std::move(call));
    net::post(ws_.get_executor(),
              Cached{[self = this->shared_from_this(), call = std::move(call)]() mutable {
                  self->enqueue_call(std::move(call));
              }});
}

template <class Stream>
void ChargePointSession<Stream>::enqueue_call(PendingCall&& call) {
    if (!ended_ && !closing_ && calls_.size() < state_->options.max_queued_calls) {
        if (!in_flight_ && calls_.empty())  // no queue
            return start_call(std::move(call), std::chrono::steady_clock::now());
        const auto deadline = call.deadline;
        calls_.push(std::move(call));
        // It may run out before the call in flight is done.
        if (deadline != kNoDeadline) arm_call_timer(deadline);
        pump_calls();
        return;
    }
    CallOutcome refusal;  // made only here: its payload pool is an allocation
    if (ended_ || closing_) {
        refusal.kind = CallOutcome::Kind::Disconnected;
        refusal.message = who() + ": connection closed: " + close_reason_;
    } else {
        refusal.kind = CallOutcome::Kind::QueueFull;
        refusal.message = who() + ": " + std::to_string(calls_.size()) + " calls already waiting";
    }
    deliver(call.callback, std::move(refusal));
}

template <class Stream>
void ChargePointSession<Stream>::pump_calls() {
    const auto now = std::chrono::steady_clock::now();
    while (!in_flight_ && !calls_.empty() && !ended_) start_call(calls_.pop(), now);
}

template <class Stream>
void ChargePointSession<Stream>::start_call(PendingCall&& call,
                                            std::chrono::steady_clock::time_point now) {
    if (call.deadline <= now) return expire_unsent(std::move(call));
    in_flight_ = make_cached<PendingCall>(std::move(call));
    // The charger's time to answer runs from now, not from when the call
    // was made: a call queued behind a slow charger's previous one gets all
    // of it. Its maker's deadline still bounds it.
    in_flight_->due = std::min(now + in_flight_->timeout, in_flight_->deadline);
    arm_call_timer(in_flight_->due);
    send_frame(std::move(in_flight_->frame));  // sent once: a call is never re-sent
}

// The timer is left running when a call ends: one armed for an earlier
// deadline fires, finds nothing due and waits again. A storm then costs one
// timer operation per call, not three.
template <class Stream>
void ChargePointSession<Stream>::arm_call_timer(std::chrono::steady_clock::time_point at) {
    if (call_timer_armed_ && call_timer_at_ <= at) return;
    call_timer_armed_ = true;
    call_timer_at_ = at;
    call_timer_.expires_at(call_timer_at_);  // cancels a wait for a later deadline
    const std::uint64_t wait = ++call_timer_waits_;
    call_timer_.async_wait(Cached{[self = this->shared_from_this(), wait](beast::error_code ec) {
        if (ec == net::error::operation_aborted || wait != self->call_timer_waits_) return;
        self->on_call_timer();
    }});
}

template <class Stream>
void ChargePointSession<Stream>::on_call_timer() {
    call_timer_armed_ = false;
    if (ended_) return;
    const auto now = std::chrono::steady_clock::now();
    if (!calls_.empty()) {
        for (auto& call : calls_.take_if([now](const PendingCall& c) { return c.deadline <= now; }))
            expire_unsent(std::move(call));
    }
    if (in_flight_ && now >= in_flight_->due) {
        CallOutcome outcome;
        outcome.kind = CallOutcome::Kind::Timeout;
        outcome.message = who() + ": no answer to " + std::string(in_flight_->action) +
                          " (message id " + in_flight_->message_id + ") ";
        if (in_flight_->due == in_flight_->deadline) {
            outcome.message += "by the deadline its caller set";
        } else {
            outcome.message += "within " + std::to_string(in_flight_->timeout.count()) + " ms";
        }
        state_->log(LogLevel::Warning, outcome.message);
        finish_call(std::move(outcome));
    }
    if (ended_) return;
    // The next deadline, if any call is left.
    std::optional<std::chrono::steady_clock::time_point> next;
    if (in_flight_) next = in_flight_->due;
    calls_.for_each([&next](const PendingCall& c) {
        if (c.deadline != kNoDeadline && (!next || c.deadline < *next)) next = c.deadline;
    });
    if (next) arm_call_timer(*next);
}

// A call whose deadline passed before its turn: never sent, since whoever
// made it has given up on it (the engine has, and may have sent its retry
// since).
template <class Stream>
void ChargePointSession<Stream>::expire_unsent(PendingCall&& call) {
    CallOutcome outcome;
    outcome.kind = CallOutcome::Kind::Timeout;
    const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::max(call.deadline - call.made, std::chrono::steady_clock::duration::zero()));
    outcome.message = who() + ": " + std::string(call.action) + " (message id " + call.message_id +
                      ") waited " + std::to_string(waited.count()) +
                      " ms behind earlier calls; not sent";
    state_->log(LogLevel::Warning, outcome.message);
    deliver(call.callback, std::move(outcome));
}

// Every outcome of this session's calls goes through here (and the calls the
// drain cannot hand to a session through ServerState::deliver directly).
template <class Stream>
void ChargePointSession<Stream>::deliver(CallCallback& callback, CallOutcome&& outcome) {
    state_->deliver(callback, std::move(outcome), [this] { return who(); });
}

template <class Stream>
void ChargePointSession<Stream>::finish_call(CallOutcome&& outcome) {
    CallCallback callback = std::move(in_flight_->callback);
    in_flight_.reset();
    deliver(callback, std::move(outcome));
    pump_calls();
}

template <class Stream>
void ChargePointSession<Stream>::close(std::string reason) {
    net::post(ws_.get_executor(), [self = this->shared_from_this(), reason = std::move(reason)] {
        self->do_close(websocket::close_code::going_away, reason);
    });
}

template <class Stream>
void ChargePointSession<Stream>::do_close(websocket::close_code code, std::string reason) {
    if (closing_ || ended_) return;
    closing_ = true;
    close_reason_ = reason;
    if (!accepted_) {
        // Still in the TLS or HTTP handshake: nothing to say goodbye to.
        close_socket();
        return;
    }
    ws_.async_close(websocket::close_reason(code, truncate_close_reason(std::move(reason))),
                    [self = this->shared_from_this()](beast::error_code ec) {
                        // The pending read ends the session; a failed close
                        // must not leave the socket open.
                        if (ec) self->close_socket();
                    });
    // Beast's own close timeout does not run while the close frame waits
    // behind a write the peer never takes (it does not read): without this,
    // such a peer would hold its connection for ever.
    deadline_timer_.expires_after(state_->options.handshake_timeout);
    deadline_timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
        if (!ec && !self->ended_) self->close_socket();
    });
}

template <class Stream>
void ChargePointSession<Stream>::on_end(std::string reason) {
    if (ended_) return;
    ended_ = true;
    ++call_timer_waits_;
    call_timer_.cancel();
    deadline_timer_.cancel();
    ping_timer_.cancel();
    state_->untrack(this);

    std::vector<PendingCall> unanswered = calls_.take_all();
    if (in_flight_) {
        unanswered.insert(unanswered.begin(), std::move(*in_flight_));
        in_flight_.reset();
    }
    for (auto& call : unanswered) {
        CallOutcome outcome;
        outcome.kind = CallOutcome::Kind::Disconnected;
        outcome.message = who() + ": connection closed before the answer to " +
                          std::string(call.action) + " (message id " + call.message_id +
                          "): " + reason;
        deliver(call.callback, std::move(outcome));
    }

    if (const auto unwritten = log_budget_.take_unwritten(); unwritten > 0)
        state_->log(LogLevel::Warning, unwritten_line(who(), kMessageWarnings, unwritten));
    if (registered_ && state_->remove(identity_, this)) {
        state_->log(LogLevel::Info, who() + ": disconnected: " + reason);
        try {
            if (state_->handler) state_->handler->on_disconnected(identity_, reason);
        } catch (const std::exception& e) {
            state_->log(LogLevel::Error, who() + ": on_disconnected threw: " + e.what());
        }
    }
}

template class ChargePointSession<PlainStream>;
template class ChargePointSession<TlsStream>;

}  // namespace gridgate::ocpp::detail
