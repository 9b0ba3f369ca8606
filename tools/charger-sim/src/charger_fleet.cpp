#include "gridgate/sim/charger_fleet.hpp"

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "gridgate/ocpp/datetime.hpp"
#include "gridgate/ocpp/handshake.hpp"
#include "gridgate/ocpp/json_arena.hpp"
#include "gridgate/ocpp/messages.hpp"
#include "gridgate/ocpp/rpc.hpp"
#include "gridgate/ocpp/schema.hpp"

namespace gridgate::sim {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
// A charger lives on one io_context, which one thread runs: no strand. Its
// socket is named by its concrete executor type: the type-erased executor
// and the timeout bookkeeping of beast::tcp_stream cost a fleet of thousands
// a good share of its CPU.
using Executor = net::io_context::executor_type;

// A TCP socket that reads with recvmsg and keeps the kernel's receive time of
// what it read (SO_TIMESTAMPNS): the moment the bytes came off the wire into
// this socket, even when the fleet is too busy to read them at once. A
// call's "t" is that moment, so a benchmark measures the sender, not this
// process's backlog.
using PlainSocket = net::basic_stream_socket<tcp, Executor>;
class TcpStream : public PlainSocket {
  public:
    using PlainSocket::basic_stream_socket;

    // Asks the kernel to timestamp what arrives; call once connected.
    void stamp_arrivals() {
        const int on = 1;
        ::setsockopt(native_handle(), SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
    }
    // When the bytes of the last read arrived (now() if the kernel gave none).
    std::chrono::system_clock::time_point last_arrival() const { return last_arrival_; }

    // Hides the base's: Beast's websocket and TLS streams read through this.
    // As asio does, it reads at once and waits only when nothing is there.
    template <class Buffers, class Handler>
    auto async_read_some(const Buffers& buffers, Handler&& handler) {
        return net::async_initiate<Handler, void(boost::system::error_code, std::size_t)>(
            [this](auto done, const Buffers& into) {
                std::size_t n = 0;
                const auto ec = read_now(into, n);
                if (ec == net::error::would_block) return wait_then_read(std::move(done), into);
                // Never complete inside the initiating call.
                net::post(get_executor(), beast::bind_front_handler(std::move(done), ec, n));
            },
            handler, buffers);
    }

  private:
    template <class Done, class Buffers>
    void wait_then_read(Done done, const Buffers& into) {
        async_wait(wait_read,
                   [this, done = std::move(done), into](boost::system::error_code ec) mutable {
                       std::size_t n = 0;
                       if (!ec) ec = read_now(into, n);
                       if (ec == net::error::would_block)
                           return wait_then_read(std::move(done), into);
                       done(ec, n);
                   });
    }

    // One recvmsg; would_block when nothing is there yet.
    template <class Buffers>
    boost::system::error_code read_now(const Buffers& into, std::size_t& n) {
        std::array<iovec, 8> iov{};
        std::size_t count = 0;
        for (auto it = net::buffer_sequence_begin(into);
             it != net::buffer_sequence_end(into) && count < iov.size(); ++it) {
            const net::mutable_buffer b = *it;
            if (b.size() > 0) iov[count++] = {b.data(), b.size()};
        }
        if (count == 0) return {};
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(timespec))];
        msghdr message{};
        message.msg_iov = iov.data();
        message.msg_iovlen = count;
        message.msg_control = control;
        message.msg_controllen = sizeof control;
        ssize_t got = 0;
        do {
            got = ::recvmsg(native_handle(), &message, MSG_DONTWAIT);
        } while (got < 0 && errno == EINTR);
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return net::error::would_block;
        if (got < 0) return {errno, boost::system::system_category()};
        if (got == 0) return net::error::eof;
        n = static_cast<std::size_t>(got);
        last_arrival_ = std::chrono::system_clock::now();
        for (cmsghdr* c = CMSG_FIRSTHDR(&message); c; c = CMSG_NXTHDR(&message, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
                timespec at{};
                std::memcpy(&at, CMSG_DATA(c), sizeof at);
                last_arrival_ = std::chrono::system_clock::time_point(
                    std::chrono::duration_cast<std::chrono::system_clock::duration>(
                        std::chrono::seconds(at.tv_sec) + std::chrono::nanoseconds(at.tv_nsec)));
            }
        }
        return {};
    }

    std::chrono::system_clock::time_point last_arrival_{};
};

// Closing a WebSocket over it closes it as Beast closes a plain socket.
void teardown(beast::role_type role, TcpStream& socket, beast::error_code& ec) {
    websocket::teardown(role, static_cast<PlainSocket&>(socket), ec);
}
template <class Handler>
void async_teardown(beast::role_type role, TcpStream& socket, Handler&& handler) {
    websocket::async_teardown(role, static_cast<PlainSocket&>(socket),
                              std::forward<Handler>(handler));
}
using Timer = net::basic_waitable_timer<std::chrono::steady_clock,
                                        net::wait_traits<std::chrono::steady_clock>, Executor>;

namespace {

// BootNotification's chargePointSerialNumber is a CiString25Type.
constexpr std::size_t kMaxSerialNumberLength = 25;

ocpp::Timestamp now() {
    return std::chrono::time_point_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now());
}

std::string percent_encode(std::string_view text) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : text) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 0xF]);
        }
    }
    return out;
}

using Arena = ocpp::JsonArena<>;

template <class Message>
std::string payload_text(const Message& message) {
    Arena arena;
    return ocpp::to_json_text(ocpp::to_json(message, arena.pool));
}

// The payload a charger in `mode` answers `action` with; nullopt when it
// does not know the action (answered NotImplemented).
std::optional<std::string> answer_payload(std::string_view action, bool accept,
                                          const ChargerOptions& options) {
    const char* status = accept ? "Accepted" : "Rejected";
    if (action == "SetChargingProfile" || action == "ClearChargingProfile" ||
        action == "ChangeAvailability" || action == "RemoteStartTransaction" ||
        action == "RemoteStopTransaction" || action == "Reset" || action == "TriggerMessage" ||
        action == "ChangeConfiguration" || action == "ClearCache" || action == "DataTransfer") {
        if (action == "ClearChargingProfile" && !accept) status = "Unknown";
        return std::string(R"({"status":")") + status + "\"}";
    }
    if (action == "UnlockConnector") {
        return std::string(R"({"status":")") + (accept ? "Unlocked" : "UnlockFailed") + "\"}";
    }
    if (action == "GetConfiguration") {
        ocpp::GetConfigurationResponse response;
        response.configuration_key = std::vector<ocpp::KeyValue>{
            {"ChargingScheduleAllowedChargingRateUnit", true, options.allowed_charging_rate_unit},
            {"NumberOfConnectors", true, std::to_string(options.connectors)}};
        return payload_text(response);
    }
    return std::nullopt;
}

// [3,"<message_id>",<payload>] for a payload that is already JSON text.
std::string call_result_frame(std::string_view message_id, std::string_view payload) {
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    writer.StartArray();
    writer.Int(3);
    writer.String(message_id.data(), static_cast<rapidjson::SizeType>(message_id.size()));
    writer.RawValue(payload.data(), payload.size(), rapidjson::kObjectType);
    writer.EndArray();
    return {buffer.GetString(), buffer.GetSize()};
}

}  // namespace

std::string_view call_payload_text(std::string_view frame) {
    std::size_t at = frame.find(',');  // after the message type
    for (int strings = 0; strings < 2 && at != std::string_view::npos; ++strings) {
        at = frame.find('"', at);  // the message id's, then the action's opening quote
        if (at == std::string_view::npos) return {};
        for (++at; at < frame.size() && frame[at] != '"'; ++at)
            if (frame[at] == '\\') ++at;  // an escaped character
        at = frame.find(',', at);
    }
    const std::size_t end = frame.rfind(']');
    if (at == std::string_view::npos || end == std::string_view::npos || end <= at) return {};
    auto payload = frame.substr(at + 1, end - at - 1);
    while (!payload.empty() && std::isspace(static_cast<unsigned char>(payload.front())))
        payload.remove_prefix(1);
    while (!payload.empty() && std::isspace(static_cast<unsigned char>(payload.back())))
        payload.remove_suffix(1);
    return payload;
}

namespace {

// `s` as a JSON string, spelled as RapidJSON's writer spells it (the report
// was written with it): \" \\ \b \f \n \r \t, other control characters as
// \u00XX, everything else as it is.
void append_json_string(std::string& out, std::string_view s) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    out += '"';
    std::size_t run = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        out.append(s.data() + run, i - run);
        run = i + 1;
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\f':
                out += "\\f";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                out += "\\u00";
                out += kHex[c >> 4];
                out += kHex[c & 0xf];
        }
    }
    out.append(s.data() + run, s.size() - run);
    out += '"';
}

}  // namespace

// Written by hand, not with a RapidJSON writer: the fleet writes one line
// per call it receives, and a benchmark's storm is thousands at once.
std::string SimEvent::to_json_line() const {
    // Microseconds, so a benchmark can time a call's arrival to well under
    // a millisecond (RFC 3339 allows any number of fraction digits).
    const auto when =
        at == std::chrono::system_clock::time_point{} ? std::chrono::system_clock::now() : at;
    const auto second = std::chrono::floor<std::chrono::seconds>(when);
    const auto micros =
        std::chrono::duration_cast<std::chrono::microseconds>(when - second).count();
    char stamp[ocpp::kTimestampBufferSize];
    ocpp::format_timestamp(std::chrono::time_point_cast<std::chrono::milliseconds>(second), stamp);
    char fraction[] = ".000000Z";  // micros is within [0, 999999]
    auto digits = static_cast<unsigned>(micros);
    for (int i = 6; i >= 1; --i, digits /= 10) fraction[i] = static_cast<char>('0' + digits % 10);
    std::string line;
    line.reserve(96 + identity.size() + action.size() + message_id.size() + payload.size() +
                 detail.size());
    line += R"({"t":")";
    line.append(stamp, 19);  // YYYY-MM-DDTHH:MM:SS
    line.append(fraction, 8);
    line += R"(","cp":)";
    append_json_string(line, identity);
    line += R"(,"event":)";
    append_json_string(line, kind);
    if (!action.empty()) {
        line += R"(,"action":)";
        append_json_string(line, action);
    }
    if (!message_id.empty()) {
        line += R"(,"message_id":)";
        append_json_string(line, message_id);
    }
    if (!payload.empty()) {
        line += R"(,"payload":)";
        line += payload;
    }
    if (!detail.empty()) {
        line += R"(,"detail":)";
        append_json_string(line, detail);
    }
    line += '}';
    return line;
}

class ConnectionBase {
  public:
    virtual ~ConnectionBase() = default;
    virtual void send_raw(std::string frame) = 0;
    virtual void close() = 0;
};

// Per charger, for the whole run; touched only on its io_context's thread.
struct ChargerState {
    ChargerState(net::io_context& io, ChargerOptions opts)
        : options(std::move(opts)), executor(io.get_executor()), reconnect_timer(executor) {}
    ChargerOptions options;
    Executor executor;
    Timer reconnect_timer;
    std::shared_ptr<ConnectionBase> connection;
    std::map<int, std::int32_t> transactions;  // connector -> running transaction id
    // The energy register, in Wh: each transaction adds 1 kWh when it stops.
    // Two starts never look alike, as a replayed StartTransaction does.
    std::int64_t meter_wh = 0;
    // What the central system's accepted charging profiles offer, in W: per
    // connector (0: every connector without one of its own), and the
    // ChargePointMaxProfile's cap.
    std::map<int, double> offered_w;
    std::optional<double> max_w;
    double meter_carry_wh = 0;  // the fraction of a Wh not yet on the register
};

namespace detail {
struct FleetShared : std::enable_shared_from_this<FleetShared> {
    FleetShared(std::vector<net::io_context*> io_contexts, FleetOptions opts,
                std::function<void(const SimEvent&)> obs)
        : contexts(std::move(io_contexts)), options(std::move(opts)), observer(std::move(obs)) {}

    // True when an event of `kind` would reach the observer: callers on a
    // hot path ask before building one.
    bool wants(std::string_view kind) const {
        if (!observer) return false;
        if (options.report_kinds.empty()) return true;
        return std::find(options.report_kinds.begin(), options.report_kinds.end(), kind) !=
               options.report_kinds.end();
    }

    void emit(SimEvent event) const {
        if (!wants(event.kind)) return;
        if (event.at == std::chrono::system_clock::time_point{})
            event.at = std::chrono::system_clock::now();
        observer(event);
    }
    void connect(const std::shared_ptr<ChargerState>& charger);
    void schedule_reconnect(const std::shared_ptr<ChargerState>& charger) {
        if (!running || !options.reconnect) return;
        charger->reconnect_timer.expires_after(options.reconnect_delay);
        charger->reconnect_timer.async_wait(
            [self = shared_from_this(), charger](beast::error_code ec) {
                if (!ec && self->running) self->connect(charger);
            });
    }

    const std::vector<net::io_context*> contexts;
    const FleetOptions options;
    const std::function<void(const SimEvent&)> observer;
    std::optional<net::ssl::context> tls;
    tcp::endpoint endpoint;
    std::vector<std::shared_ptr<ChargerState>> chargers;
    std::unordered_map<std::string, std::shared_ptr<ChargerState>> by_identity;
    std::atomic<bool> running{false};
    std::atomic<std::size_t> connected{0};
    std::atomic<std::size_t> booted{0};
};
}  // namespace detail

template <class Stream>
class Connection : public ConnectionBase, public std::enable_shared_from_this<Connection<Stream>> {
  public:
    template <class... Args>
    Connection(std::shared_ptr<detail::FleetShared> shared, std::shared_ptr<ChargerState> charger,
               Args&&... stream_args)
        : shared_(std::move(shared)),
          charger_(std::move(charger)),
          ws_(std::forward<Args>(stream_args)...),
          heartbeat_timer_(charger_->executor),
          meter_timer_(charger_->executor),
          connect_timer_(charger_->executor),
          close_timer_(charger_->executor) {}

    void start() {
        connect_timer_.expires_after(shared_->options.connect_timeout);
        connect_timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
            // Closing fails the pending connect or TLS handshake.
            if (ec || self->upgrading_) return;
            self->connect_timed_out_ = true;
            beast::get_lowest_layer(self->ws_).close(ec);
        });
        beast::get_lowest_layer(ws_).async_connect(
            shared_->endpoint,
            [self = this->shared_from_this()](beast::error_code ec) { self->on_connect(ec); });
    }

    void send_raw(std::string frame) override { write(std::move(frame)); }

    void close() override {
        if (closing_ || ended_) return;
        // A timer's handler already queued when it is cancelled still runs,
        // successful: closing_ keeps it from arming its timer again.
        closing_ = true;
        heartbeat_timer_.cancel();
        meter_timer_.cancel();
        connect_timer_.cancel();
        cancel_delayed_answers();
        if (!open_) {
            beast::error_code ignored;
            beast::get_lowest_layer(ws_).close(ignored);
            return;
        }
        ws_.async_close(websocket::close_code::normal,
                        [self = this->shared_from_this()](beast::error_code ec) {
                            if (ec) beast::get_lowest_layer(self->ws_).close(ec);
                        });
        // A central system that never answers the close frame would hold
        // the connection, and the run, for Beast's 30 s handshake timeout.
        close_timer_.expires_after(kCloseTimeout);
        close_timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
            if (ec) return;
            beast::get_lowest_layer(self->ws_).close(ec);
        });
    }

  private:
    static constexpr bool kTls = std::is_same_v<Stream, beast::ssl_stream<TcpStream>>;
    // How long close() waits for the central system's close frame.
    static constexpr std::chrono::seconds kCloseTimeout{2};
    const std::string& id() const { return charger_->options.identity; }

    void fail(std::string_view stage, beast::error_code ec, std::string detail = {}) {
        std::string why = connect_timed_out_
                              ? "timed out after " +
                                    std::to_string(shared_->options.connect_timeout.count()) + " ms"
                              : ec.message();
        if (!connect_timed_out_ && !detail.empty()) why += " (" + detail + ")";
        shared_->emit({id(), "handshake_failed", "", "", "", std::string(stage) + ": " + why});
        ended();
    }

    void on_connect(beast::error_code ec) {
        if (ec) return fail("connect", ec);
        beast::get_lowest_layer(ws_).stamp_arrivals();
        // A call right after an answer (StartTransaction after a remote
        // start) goes out at once, not when the answer is acknowledged.
        beast::error_code no_delay_ec;
        beast::get_lowest_layer(ws_).set_option(net::ip::tcp::no_delay(true), no_delay_ec);
        if constexpr (kTls) {
            SSL_set_tlsext_host_name(ws_.next_layer().native_handle(),
                                     shared_->options.host.c_str());
            // OpenSSL's own check of the name (DNS name or IP address) leaves
            // its reason in the verify result: "hostname mismatch",
            // "certificate has expired", "unable to get local issuer ...".
            if (!shared_->options.tls_insecure)
                SSL_set1_host(ws_.next_layer().native_handle(), shared_->options.host.c_str());
            ws_.next_layer().async_handshake(
                net::ssl::stream_base::client,
                [self = this->shared_from_this()](beast::error_code e) {
                    if (e) {
                        const long verify =
                            SSL_get_verify_result(self->ws_.next_layer().native_handle());
                        return self->fail("TLS handshake", e,
                                          verify == X509_V_OK
                                              ? std::string()
                                              : X509_verify_cert_error_string(verify));
                    }
                    self->do_upgrade();
                });
        } else {
            do_upgrade();
        }
    }

    void do_upgrade() {
        upgrading_ = true;
        connect_timer_.cancel();
        websocket::stream_base::timeout timeouts =
            websocket::stream_base::timeout::suggested(beast::role_type::client);
        ws_.set_option(timeouts);
        const auto& options = charger_->options;
        std::optional<std::string> authorization;
        if (options.password)
            authorization = ocpp::basic_authorization(options.identity, *options.password);
        ws_.set_option(
            websocket::stream_base::decorator([authorization](websocket::request_type& request) {
                request.set(http::field::sec_websocket_protocol, "ocpp1.6");
                request.set(http::field::user_agent, "gridgate-charger-sim");
                if (authorization) request.set(http::field::authorization, *authorization);
            }));
        std::string path = shared_->options.path;
        if (path.empty() || path.back() != '/') path.push_back('/');
        // The Host header names an IPv6 address in brackets, as a URL does.
        const auto& host = shared_->options.host;
        const std::string authority =
            (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
            std::to_string(shared_->options.port);
        ws_.async_handshake(
            response_, authority, path + percent_encode(options.identity),
            [self = this->shared_from_this()](beast::error_code e) { self->on_upgrade(e); });
    }

    void on_upgrade(beast::error_code ec) {
        if (ec) return fail("WebSocket handshake", ec);
        open_ = true;
        ++shared_->connected;
        shared_->emit({id(), "connected", "", "", "", ""});
        switch (charger_->options.greeting) {
            case Greeting::Boot: {
                ocpp::BootNotificationRequest boot;
                boot.charge_point_vendor = "gridgate";
                boot.charge_point_model = "charger-sim";
                // The charge point id doubles as the serial number where it fits.
                if (id().size() <= kMaxSerialNumberLength) boot.charge_point_serial_number = id();
                boot.firmware_version = "1.0";
                queue_call("BootNotification", payload_text(boot));
                break;
            }
            case Greeting::Status:
                report_connectors();
                break;
            case Greeting::Silent:
                break;
        }
        // Without a boot there is no interval from the central system.
        if (charger_->options.greeting != Greeting::Boot && shared_->options.heartbeat_interval) {
            heartbeat_every_ = *shared_->options.heartbeat_interval;
            schedule_heartbeat();
        }
        if (charger_->options.meter_interval) schedule_meter_values();
        do_read();
    }

    void do_read() {
        ws_.async_read(buffer_, [self = this->shared_from_this()](
                                    beast::error_code ec, std::size_t) { self->on_read(ec); });
    }

    void on_read(beast::error_code ec) {
        if (ec) {
            std::string why = ec == websocket::error::closed
                                  ? "closed by the central system (code " +
                                        std::to_string(ws_.reason().code) + ")"
                                  : ec.message();
            shared_->emit({id(), "disconnected", "", "", "", why});
            ended();
            return;
        }
        // A call is timed by the kernel's arrival stamp of its last bytes,
        // and handled after the reads already waiting, so that answering
        // one call does not delay reading the next.
        const auto received = beast::get_lowest_layer(ws_).last_arrival();
        std::string text = beast::buffers_to_string(buffer_.data());
        buffer_.consume(buffer_.size());
        net::post(charger_->executor, [self = this->shared_from_this(), text = std::move(text),
                                       received] { self->handle(text, received); });
        do_read();
    }

    void handle(const std::string& text, std::chrono::system_clock::time_point received) {
        Arena arena;
        auto frame = ocpp::parse_frame(text, arena.doc);
        if (auto* call = std::get_if<ocpp::Call>(&frame)) {
            on_call(*call, call_payload_text(text), received);
        } else if (auto* result = std::get_if<ocpp::CallResult>(&frame)) {
            if (result->message_id != in_flight_id_) return;
            // Read only once its schema holds: a central system that answers
            // with a payload missing a field must not crash the fleet.
            if (auto violation = ocpp::SchemaRegistry::v16().validate(
                    in_flight_action_, ocpp::PayloadKind::Response, *result->payload)) {
                call_failed("invalid answer: " + violation->message);
            } else {
                on_result(in_flight_action_, *result->payload);
            }
            in_flight_id_.clear();
            pump();
        } else if (auto* broken = std::get_if<ocpp::FrameError>(&frame)) {
            // A CALL we cannot read is answered as a charger would; a broken
            // answer is never answered (OCPP-J).
            shared_->emit(
                {id(), "malformed_frame", "", broken->message_id, "",
                 std::string(ocpp::to_string(broken->code)) + ": " + broken->description});
            if (broken->answer_expected &&
                charger_->options.answer.kind != AnswerMode::Kind::Silent)
                write(ocpp::serialize_call_error(broken->message_id.empty()
                                                     ? ocpp::kUnknownMessageId
                                                     : std::string_view(broken->message_id),
                                                 broken->code, broken->description));
        } else if (auto* error = std::get_if<ocpp::CallError>(&frame)) {
            if (error->message_id != in_flight_id_) return;
            call_failed(std::string(error->code_text) + ": " + std::string(error->description));
            in_flight_id_.clear();
            pump();
        }
    }

    // The call in flight got a CALLERROR or an answer it cannot use: a
    // transaction it was to start does not start.
    void call_failed(std::string detail) {
        if (in_flight_action_ == "StartTransaction" && !starting_.empty()) starting_.pop_front();
        shared_->emit(
            {id(), "call_error", in_flight_action_, in_flight_id_, "", std::move(detail)});
    }

    void on_call(const ocpp::Call& call, std::string_view raw_payload,
                 std::chrono::system_clock::time_point received) {
        const std::string action(call.action);
        const std::string message_id(call.message_id);
        if (shared_->wants("call"))
            shared_->emit(
                {id(), "call", action, message_id,
                 raw_payload.empty() ? ocpp::to_json_text(*call.payload) : std::string(raw_payload),
                 "", received});
        AnswerMode mode = charger_->options.answer;
        if (mode.kind == AnswerMode::Kind::Silent) return;
        // A charger checks a call before it acts on it; so does the
        // simulator, which reads the payload's fields below.
        if (auto violation = ocpp::SchemaRegistry::v16().validate(
                action, ocpp::PayloadKind::Request, *call.payload);
            violation && violation->code != ocpp::ErrorCode::NotImplemented) {
            return answer(
                ocpp::serialize_call_error(message_id, violation->code, violation->message), action,
                message_id, std::string(ocpp::to_string(violation->code)));
        }
        if (mode.kind != AnswerMode::Kind::Invalid && refuses_profile(action, *call.payload))
            mode.kind = AnswerMode::Kind::Reject;
        // Every 1.6 response schema refuses a property it does not name.
        auto payload =
            mode.kind == AnswerMode::Kind::Invalid
                ? std::optional<std::string>(R"({"chargerSim":"invalid on purpose"})")
                : answer_payload(action, mode.kind != AnswerMode::Kind::Reject, charger_->options);
        std::string frame;
        std::string summary;
        if (!payload) {
            frame = ocpp::serialize_call_error(message_id, ocpp::ErrorCode::NotImplemented,
                                               "charger-sim does not implement " + action);
            summary = "NotImplemented";
        } else {
            frame = call_result_frame(message_id, *payload);
            summary = *payload;
            if (mode.kind == AnswerMode::Kind::Accept || mode.kind == AnswerMode::Kind::Delay)
                follow_up(action, *call.payload);
        }
        if (mode.kind != AnswerMode::Kind::Delay)
            return answer(std::move(frame), action, message_id, summary);
        // Held here so that a stop or a disconnect cancels it: a pending
        // answer must neither keep the process from ending nor keep this
        // connection alive for its whole delay after the socket is gone.
        auto timer = std::make_shared<Timer>(charger_->executor, mode.delay);
        delayed_answers_.push_back(timer);
        timer->async_wait([timer, self = this->shared_from_this(), frame = std::move(frame), action,
                           message_id, summary](beast::error_code ec) mutable {
            std::erase(self->delayed_answers_, timer);
            if (!ec) self->answer(std::move(frame), action, message_id, summary);
        });
    }

    // With strict_tx_profiles: a TxProfile for a transaction that does not
    // run on its connector here (one that ended, or one from before a reboot).
    bool refuses_profile(std::string_view action, const rapidjson::Value& payload) const {
        if (!charger_->options.strict_tx_profiles || action != "SetChargingProfile") return false;
        const auto& profile = payload["csChargingProfiles"];
        if (std::string_view(profile["chargingProfilePurpose"].GetString()) != "TxProfile")
            return false;
        const auto running = charger_->transactions.find(payload["connectorId"].GetInt());
        return running == charger_->transactions.end() || !profile.HasMember("transactionId") ||
               profile["transactionId"].GetInt() != running->second;
    }

    void answer(std::string frame, const std::string& action, const std::string& message_id,
                const std::string& summary) {
        write(std::move(frame));
        if (shared_->wants("answered"))
            shared_->emit({id(), "answered", action, message_id, "", summary});
    }

    // What an accepting charger does after some calls: a remote start starts
    // a transaction, a remote stop ends it.
    void follow_up(const std::string& action, const rapidjson::Value& payload) {
        if (action == "SetChargingProfile") {
            note_profile(payload);
        } else if (action == "RemoteStartTransaction") {
            const int connector = payload.HasMember("connectorId")
                                      ? payload["connectorId"].GetInt()
                                      : charger_->options.transaction_connector;
            if (!busy(connector)) start_transaction(payload["idTag"].GetString(), connector);
        } else if (action == "RemoteStopTransaction") {
            const auto id = payload["transactionId"].GetInt();
            auto& running = charger_->transactions;
            auto found = std::find_if(running.begin(), running.end(),
                                      [id](const auto& entry) { return entry.second == id; });
            if (found == running.end()) return;
            const int connector = found->first;
            running.erase(found);
            ocpp::StopTransactionRequest stop;
            charger_->meter_wh += 1000;
            stop.meter_stop = charger_->meter_wh;
            stop.timestamp = now();
            stop.transaction_id = id;
            stop.reason = "Remote";
            queue_call("StopTransaction", payload_text(stop));
            queue_status(connector, "Finishing");
        }
    }

    // A transaction runs on `connector`, or is being started there.
    bool busy(int connector) const {
        return charger_->transactions.count(connector) > 0 ||
               std::find(starting_.begin(), starting_.end(), connector) != starting_.end();
    }

    void start_transaction(const std::string& id_tag, int connector) {
        starting_.push_back(connector);
        ocpp::StartTransactionRequest start;
        start.connector_id = connector;
        start.id_tag = id_tag;
        start.meter_start = charger_->meter_wh;
        start.timestamp = now();
        queue_call("StartTransaction", payload_text(start));
    }

    void on_result(const std::string& action, const rapidjson::Value& payload) {
        if (action == "BootNotification") {
            if (std::string_view(payload["status"].GetString()) != "Accepted") {
                shared_->emit(
                    {id(), "boot_rejected", action, "", "", payload["status"].GetString()});
                return;
            }
            booted_ = true;
            ++shared_->booted;
            shared_->emit({id(), "booted", "", "", "", ""});
            auto interval = std::chrono::milliseconds(
                std::max<std::int64_t>(1, payload["interval"].GetInt()) * 1000);
            if (shared_->options.heartbeat_interval) {
                interval = std::min(interval, *shared_->options.heartbeat_interval);
            }
            heartbeat_every_ = interval;
            schedule_heartbeat();
            report_connectors();
            const int own = charger_->options.transaction_connector;
            if (charger_->options.start_transaction && !busy(own)) {
                start_transaction(charger_->options.id_tag, own);
            }
        } else if (action == "StartTransaction") {
            if (starting_.empty()) return;
            const int connector = starting_.front();
            starting_.pop_front();
            const auto transaction = payload["transactionId"].GetInt();
            charger_->transactions[connector] = transaction;
            shared_->emit(
                {id(), "transaction_started", action, "", "", std::to_string(transaction)});
            queue_status(connector, "Charging");
        }
    }

    // Each connector's status: one with a transaction (or about to start
    // one) is Preparing, the others Available.
    void report_connectors() {
        const int own = charger_->options.transaction_connector;
        for (int connector = 1; connector <= charger_->options.connectors; ++connector) {
            const bool charging = charger_->transactions.count(connector) > 0 ||
                                  (connector == own && charger_->options.start_transaction);
            queue_status(connector, charging ? "Preparing" : "Available");
        }
    }

    void queue_status(int connector, const char* status) {
        ocpp::StatusNotificationRequest notification;
        notification.connector_id = connector;
        notification.error_code = "NoError";
        notification.status = status;
        notification.timestamp = now();
        queue_call("StatusNotification", payload_text(notification));
    }

    // An accepted profile's first period, in W, is what the car is offered.
    // A schedule without periods (valid: the schema sets no minimum) offers
    // nothing new.
    void note_profile(const rapidjson::Value& payload) {
        const auto& profile = payload["csChargingProfiles"];
        const auto& schedule = profile["chargingSchedule"];
        const auto& periods = schedule["chargingSchedulePeriod"];
        if (periods.Empty()) return;
        const auto& period = periods[0];
        double w = period["limit"].GetDouble();
        if (std::string_view(schedule["chargingRateUnit"].GetString()) == "A") {
            const int phases =
                period.HasMember("numberPhases") ? period["numberPhases"].GetInt() : 3;
            w *= 230.0 * phases;
        }
        if (std::string_view(profile["chargingProfilePurpose"].GetString()) ==
            "ChargePointMaxProfile") {
            charger_->max_w = w;
        } else {
            charger_->offered_w[payload["connectorId"].GetInt()] = w;
        }
    }

    double drawn_w(int connector) const {
        const auto& offered = charger_->offered_w;
        auto own = offered.find(connector);
        if (own == offered.end()) own = offered.find(0);
        double w = own == offered.end() ? charger_->options.car_max_w : own->second;
        w = std::min(w, charger_->options.car_max_w);
        if (charger_->max_w) w = std::min(w, *charger_->max_w);
        return std::max(w, 0.0);
    }

    void schedule_meter_values() {
        meter_timer_.expires_after(*charger_->options.meter_interval);
        meter_timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
            if (ec || !self->open_ || self->closing_) return;
            self->send_meter_values();
            self->schedule_meter_values();
        });
    }

    void send_meter_values() {
        const double hours =
            std::chrono::duration<double, std::ratio<3600>>(*charger_->options.meter_interval)
                .count();
        for (const auto& [connector, transaction] : charger_->transactions) {
            const double w = drawn_w(connector);
            charger_->meter_carry_wh += w * hours;
            const auto whole = static_cast<std::int64_t>(charger_->meter_carry_wh);
            charger_->meter_wh += whole;
            charger_->meter_carry_wh -= static_cast<double>(whole);
            char payload[512];
            std::snprintf(payload, sizeof payload,
                          R"({"connectorId":%d,"transactionId":%d,"meterValue":[{"timestamp":"%s",)"
                          R"("sampledValue":[{"value":"%.0f","measurand":"Power.Active.Import",)"
                          R"("unit":"W"},{"value":"%lld","measurand":)"
                          R"("Energy.Active.Import.Register","unit":"Wh"}]}]})",
                          connector, transaction, ocpp::format_timestamp(now()).c_str(), w,
                          static_cast<long long>(charger_->meter_wh));
            queue_call("MeterValues", payload);
        }
    }

    void schedule_heartbeat() {
        heartbeat_timer_.expires_after(heartbeat_every_);
        heartbeat_timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
            if (ec || !self->open_ || self->closing_) return;
            self->queue_call("Heartbeat", "{}");
            self->schedule_heartbeat();
        });
    }

    // One CALL of ours in flight at a time, as OCPP-J asks of both sides.
    void queue_call(std::string action, std::string payload) {
        outgoing_.emplace_back(std::move(action), std::move(payload));
        pump();
    }

    void pump() {
        if (!in_flight_id_.empty() || outgoing_.empty() || !open_ || closing_) return;
        auto [action, payload] = std::move(outgoing_.front());
        outgoing_.pop_front();
        in_flight_id_ = std::to_string(next_id_++);
        in_flight_action_ = action;
        Arena arena;
        arena.doc.Parse(payload.c_str());
        write(ocpp::serialize_call(in_flight_id_, action, arena.doc));
    }

    void write(std::string frame) {
        if (!open_ || closing_) return;
        writes_.push_back(std::move(frame));
        if (writes_.size() == 1) do_write();
    }

    void do_write() {
        ws_.text(true);
        ws_.async_write(net::buffer(writes_.front()),
                        [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                            self->writes_.pop_front();
                            if (ec) return;
                            if (!self->writes_.empty()) self->do_write();
                        });
    }

    void ended() {
        if (ended_) return;
        ended_ = true;
        heartbeat_timer_.cancel();
        meter_timer_.cancel();
        connect_timer_.cancel();
        close_timer_.cancel();
        cancel_delayed_answers();
        if (open_) --shared_->connected;
        if (booted_) --shared_->booted;
        open_ = false;
        if (charger_->connection.get() == this) charger_->connection.reset();
        shared_->schedule_reconnect(charger_);
    }

    void cancel_delayed_answers() {
        // A copy: each handler erases its own timer.
        for (const auto& timer : std::vector(delayed_answers_)) timer->cancel();
    }

    std::shared_ptr<detail::FleetShared> shared_;
    std::shared_ptr<ChargerState> charger_;
    websocket::stream<Stream> ws_;
    websocket::response_type response_;
    beast::flat_buffer buffer_;
    Timer heartbeat_timer_;
    Timer meter_timer_;
    Timer connect_timer_;
    Timer close_timer_;
    std::chrono::milliseconds heartbeat_every_{1000};
    std::deque<std::string> writes_;
    std::deque<std::pair<std::string, std::string>> outgoing_;
    std::string in_flight_id_;
    std::string in_flight_action_;
    // The connectors of the StartTransaction calls not answered yet, in order.
    std::deque<int> starting_;
    // The timers of answers held back by AnswerMode::Kind::Delay.
    std::vector<std::shared_ptr<Timer>> delayed_answers_;
    std::uint64_t next_id_ = 1;
    bool open_ = false;
    bool upgrading_ = false;
    bool connect_timed_out_ = false;
    bool booted_ = false;
    bool ended_ = false;
    bool closing_ = false;  // close() has begun: nothing new is sent or armed
};

void detail::FleetShared::connect(const std::shared_ptr<ChargerState>& charger) {
    if (!running) return;
    if (tls) {
        auto connection = std::make_shared<Connection<beast::ssl_stream<TcpStream>>>(
            shared_from_this(), charger, charger->executor, *tls);
        charger->connection = connection;
        connection->start();
    } else {
        auto connection =
            std::make_shared<Connection<TcpStream>>(shared_from_this(), charger, charger->executor);
        charger->connection = connection;
        connection->start();
    }
}

ChargerFleet::ChargerFleet(net::io_context& io, FleetOptions options,
                           std::vector<ChargerOptions> chargers,
                           std::function<void(const SimEvent&)> observer)
    : ChargerFleet(std::vector<net::io_context*>{&io}, std::move(options), std::move(chargers),
                   std::move(observer)) {}

ChargerFleet::ChargerFleet(std::vector<net::io_context*> contexts, FleetOptions options,
                           std::vector<ChargerOptions> chargers,
                           std::function<void(const SimEvent&)> observer) {
    if (contexts.empty()) throw std::invalid_argument("ChargerFleet needs an io_context");
    shared_ = std::make_shared<detail::FleetShared>(std::move(contexts), std::move(options),
                                                    std::move(observer));
    for (auto& charger : chargers) {
        auto& io = *shared_->contexts[shared_->chargers.size() % shared_->contexts.size()];
        auto state = std::make_shared<ChargerState>(io, std::move(charger));
        shared_->by_identity[state->options.identity] = state;
        shared_->chargers.push_back(std::move(state));
    }
}

ChargerFleet::~ChargerFleet() {
    stop();
}

void ChargerFleet::start() {
    auto& shared = *shared_;
    boost::system::error_code ec;
    tcp::resolver resolver(*shared.contexts.front());
    auto results = resolver.resolve(shared.options.host, std::to_string(shared.options.port), ec);
    if (ec || results.empty()) {
        throw std::runtime_error("cannot resolve " + shared.options.host + ": " + ec.message());
    }
    shared.endpoint = *results.begin();
    if (shared.options.tls) {
        shared.tls.emplace(net::ssl::context::tls_client);
        if (shared.options.tls_insecure) {
            shared.tls->set_verify_mode(net::ssl::verify_none);
        } else {
            shared.tls->set_verify_mode(net::ssl::verify_peer);
            if (!shared.options.ca_file.empty()) {
                // OpenSSL says only "asio.ssl error" for a file it cannot open.
                if (std::FILE* f = std::fopen(shared.options.ca_file.c_str(), "r")) {
                    std::fclose(f);
                } else {
                    throw std::runtime_error(shared.options.ca_file +
                                             ": cannot read the CA file: " + std::strerror(errno));
                }
                shared.tls->load_verify_file(shared.options.ca_file, ec);
                if (ec) {
                    throw std::runtime_error(shared.options.ca_file +
                                             ": cannot load the CA file: " + ec.message());
                }
            } else {
                shared.tls->set_default_verify_paths();
            }
        }
    }
    shared.running = true;
    for (auto& charger : shared.chargers) {
        net::post(charger->executor, [s = shared_, charger] { s->connect(charger); });
    }
}

void ChargerFleet::stop() {
    if (!shared_->running.exchange(false)) return;
    for (auto& charger : shared_->chargers) {
        net::post(charger->executor, [charger] {
            charger->reconnect_timer.cancel();
            if (charger->connection) charger->connection->close();
        });
    }
}

std::size_t ChargerFleet::connected_count() const {
    return shared_->connected;
}
std::size_t ChargerFleet::booted_count() const {
    return shared_->booted;
}

void ChargerFleet::set_answer(std::string_view identity, AnswerMode mode) {
    auto found = shared_->by_identity.find(std::string(identity));
    if (found == shared_->by_identity.end()) return;
    net::post(found->second->executor,
              [charger = found->second, mode] { charger->options.answer = mode; });
}

void ChargerFleet::send_raw(std::string_view identity, std::string frame) {
    auto found = shared_->by_identity.find(std::string(identity));
    if (found == shared_->by_identity.end()) return;
    net::post(found->second->executor,
              [charger = found->second, frame = std::move(frame)]() mutable {
                  if (charger->connection) charger->connection->send_raw(std::move(frame));
              });
}

}  // namespace gridgate::sim
