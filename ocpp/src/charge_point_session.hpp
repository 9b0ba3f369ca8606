// One charge point's connection: TLS handshake (profile 2), the HTTP upgrade
// and its checks, then the OCPP-J message loop. Template over the stream so
// plain and TLS connections share every line of protocol code.
//
// Thread-safety: everything runs on the thread of the connection's
// io_context (one thread per io_context; see CentralSystem); other threads
// reach it only through SessionBase (post).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "block_cache.hpp"
#include "fifo.hpp"
#include "gridgate/ocpp/log_budget.hpp"
#include "server_state.hpp"
#include "tcp_socket.hpp"
#include "tls_teardown.hpp"

namespace gridgate::ocpp::detail {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
namespace net = boost::asio;

// Every connection runs on its io_context's executor (Executor and Timer, in
// tcp_socket.hpp), named by its concrete type: the type-erased executor of
// beast::tcp_stream costs a good part of a call's CPU time in a storm
// (executor copies, work counting, timeout bookkeeping), and a strand would
// add a second scheduler hop to every completion. One thread runs each
// io_context, so none is needed. Socket is tcp_socket.hpp's, for its
// WebSocket teardown (and tls_teardown.hpp's over TLS).
using PlainStream = Socket;
using TlsStream = TlsSocketStream;

template <class Stream>
class ChargePointSession : public SessionBase,
                           public std::enable_shared_from_this<ChargePointSession<Stream>> {
  public:
    template <class... StreamArgs>
    explicit ChargePointSession(std::shared_ptr<ServerState> state, StreamArgs&&... args)
        : state_(std::move(state)),
          ws_(std::forward<StreamArgs>(args)...),
          call_timer_(ws_.get_executor()),
          deadline_timer_(ws_.get_executor()),
          ping_timer_(ws_.get_executor()) {}

    void run();
    void submit_call(PendingCall&& call) override;
    void close(std::string reason) override;

  private:
    static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;
    static constexpr std::size_t kHeaderLimitBytes = 8 * 1024;

    void start_handshake_timer();
    void close_socket();
    void on_tls_handshake(beast::error_code ec);
    void do_read_request();
    void on_read_request(beast::error_code ec);
    // unread_input: the request was not read to its end (over the header
    // limit, malformed); its rest is drained so the answer is not lost.
    void reject(http::status status, std::string text, bool unread_input = false);
    void drain_then_end();
    void on_accept(beast::error_code ec);
    void do_read();
    void on_read(beast::error_code ec);
    void handle_message(std::string_view text);
    bool answers_call_in_flight(const FrameError& problem) const;
    void handle_call(const Call& call);
    void handle_result(const CallResult& result);
    void handle_error(const CallError& error);
    void send_frame(std::string frame);
    void do_write();
    void on_write(beast::error_code ec);
    void enqueue_call(PendingCall&& call);
    void pump_calls();
    void start_call(PendingCall&& call, std::chrono::steady_clock::time_point now);
    void expire_unsent(PendingCall&& call);
    void arm_call_timer(std::chrono::steady_clock::time_point at);
    void on_call_timer();
    void arm_ping_timer(std::chrono::steady_clock::time_point at);
    void on_ping_timer();
    void finish_call(CallOutcome&& outcome);
    void deliver(CallCallback& callback, CallOutcome&& outcome);
    void do_close(websocket::close_code code, std::string reason);
    void on_end(std::string reason);
    std::string describe_read_error(beast::error_code ec) const;
    std::string who() const;
    // A warning the charger's own message caused (malformed, refused, an
    // answer to no call): written within log_budget_.
    void warn_about_message(std::string line);

    std::shared_ptr<ServerState> state_;
    websocket::stream<Stream> ws_;
    // Taken for each message and given back after it (see on_accept).
    beast::basic_flat_buffer<CachingAllocator<char>> buffer_;
    // Needed only until the upgrade; on the heap so an open connection does
    // not carry their few hundred bytes.
    struct Handshake {
        http::request_parser<http::empty_body> parser;
        std::optional<http::request<http::empty_body>> request;
    };
    std::unique_ptr<Handshake> handshake_;
    std::string identity_;
    std::string remote_;
    std::string writing_frame_;  // the frame being written, if writing_
    Fifo<std::string> writes_;   // the frames behind it
    Fifo<PendingCall> calls_;
    CachedPtr<PendingCall> in_flight_;  // from the cache: one per call
    Timer call_timer_;
    // Bounds the TLS handshake and the upgrade request (the WebSocket
    // handshake has Beast's own timeout), and later our closing handshake:
    // a peer that does not read never takes the close frame.
    Timer deadline_timer_;
    // Keep-alive (options.ping_interval), ours rather than Beast's idle
    // timeout, which re-arms a timer on every read: this one wakes once per
    // interval and compares against the time the peer was last heard.
    Timer ping_timer_;
    std::chrono::steady_clock::time_point last_heard_{};
    std::chrono::steady_clock::time_point ping_sent_at_{};
    bool ping_in_flight_ = false;
    std::chrono::steady_clock::time_point call_timer_at_{};
    std::uint64_t call_timer_waits_ = 0;  // tells a superseded wait from the current one
    bool call_timer_armed_ = false;
    LogBudget log_budget_;
    std::string close_reason_;
    bool accepted_ = false;
    bool upgrade_read_ = false;
    bool handshake_timed_out_ = false;  // the deadline closed the socket before the upgrade
    bool subprotocol_agreed_ = false;   // the peer offered ocpp1.6
    bool close_received_ = false;       // the peer sent a close frame (ws_.reason())
    bool registered_ = false;
    bool writing_ = false;
    bool closing_ = false;
    bool ended_ = false;
};

extern template class ChargePointSession<PlainStream>;
extern template class ChargePointSession<TlsStream>;

}  // namespace gridgate::ocpp::detail
