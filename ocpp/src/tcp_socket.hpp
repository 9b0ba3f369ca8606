// The plain TCP socket of a charge point's connection, as a type of this
// library: Beast ends a WebSocket by calling teardown() on the stream under
// it, found by argument-dependent lookup, and the one below replaces Beast's
// own for a TCP socket.
//
// Why: a socket closed with bytes it has not read sends a reset, not a FIN,
// and a reset fails the peer's next write and can overtake the close frame
// it has not read yet. A charger that sends a frame over the size limit is
// still sending when we close with 1009 (Beast closes without reading the
// payload), so it must be read to its end first. Beast 1.74's teardown
// means to do that, but stops after one read of 2 KiB (it tests the
// coroutine's byte count, not the read's). This one reads until the peer
// closes, within limits: at most kTeardownDrainBytes, at most
// kTeardownTimeout; past either it closes anyway.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <memory>

#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/beast/websocket/teardown.hpp>

namespace gridgate::ocpp::detail {

// Every connection runs on its io_context's executor, named by its concrete
// type (see charge_point_session.hpp).
using Executor = boost::asio::io_context::executor_type;
using Timer = boost::asio::basic_waitable_timer<
    std::chrono::steady_clock, boost::asio::wait_traits<std::chrono::steady_clock>, Executor>;

class Socket : public boost::asio::basic_stream_socket<boost::asio::ip::tcp, Executor> {
  public:
    using Base = boost::asio::basic_stream_socket<boost::asio::ip::tcp, Executor>;
    using Base::Base;
    // An accepted connection (the acceptor hands out the base type).
    Socket(Base&& accepted) : Base(std::move(accepted)) {}  // NOLINT: implicit on purpose
};

inline constexpr std::size_t kTeardownDrainBytes = 16 << 20;
inline constexpr std::chrono::seconds kTeardownTimeout{5};

// The synchronous form, which Beast's blocking close would call; nothing in
// the library closes a WebSocket synchronously, but a blocking teardown
// must not fall back to Beast's. Reads until the peer closes, at most
// kTeardownDrainBytes (there is no timer in a blocking call).
inline void teardown(boost::beast::role_type role, Socket& socket, boost::beast::error_code& ec) {
    namespace net = boost::asio;
    if (role == boost::beast::role_type::server)
        socket.shutdown(net::socket_base::shutdown_send, ec);
    std::array<char, 4096> discard;
    for (std::size_t drained = 0; !ec && drained < kTeardownDrainBytes;)
        drained += socket.read_some(net::buffer(discard), ec);
    ec = {};  // as async_teardown: done, however the reading ended
    boost::beast::error_code ignored;
    if (role == boost::beast::role_type::client)
        socket.shutdown(net::socket_base::shutdown_send, ignored);
    socket.close(ignored);
}

// Arms `timer` to close `socket` after kTeardownTimeout unless cancelled
// first: the operation pending on the socket then fails, and its step ends.
inline void close_on_timeout(Timer& timer, Socket& socket) {
    timer.expires_after(kTeardownTimeout);
    timer.async_wait([&socket](boost::beast::error_code ec) {
        if (ec) return;  // cancelled: the step ended first
        boost::beast::error_code ignored;
        socket.close(ignored);
    });
}

// async_teardown()'s steps: shut our side (a server), read and drop until
// the peer closes, the limits pass or the socket is closed, then close.
class TeardownDrain {
  public:
    TeardownDrain(boost::beast::role_type role, Socket& socket) : role_(role), socket_(socket) {}

    template <class Self>
    void operator()(Self& self, boost::beast::error_code ec = {}, std::size_t bytes = 0) {
        namespace net = boost::asio;
        if (!state_) {
            // The first step runs inside async_teardown(): it only starts
            // operations, so the handler is never called from there.
            state_ = std::make_unique<State>(socket_.get_executor());
            if (role_ == boost::beast::role_type::server) {
                boost::beast::error_code ignored;  // a read below says what is wrong
                socket_.shutdown(net::socket_base::shutdown_send, ignored);
            }
            close_on_timeout(state_->timer, socket_);
        } else {
            state_->drained += bytes;
            if (ec || state_->drained >= kTeardownDrainBytes) {
                boost::beast::error_code ignored;
                if (socket_.is_open()) {
                    if (role_ == boost::beast::role_type::client)
                        socket_.shutdown(net::socket_base::shutdown_send, ignored);
                    socket_.close(ignored);
                }
                state_->timer.cancel();
                state_.reset();
                // The close went out and the socket is closed: done, however
                // the reading ended (Beast would report a failure here in
                // place of the reason the connection was closed for).
                return self.complete({});
            }
        }
        socket_.async_read_some(net::buffer(state_->discard), std::move(self));
    }

  private:
    struct State {
        explicit State(const Executor& executor) : timer(executor) {}
        Timer timer;
        std::array<char, 4096> discard;
        std::size_t drained = 0;
    };

    boost::beast::role_type role_;
    Socket& socket_;
    std::unique_ptr<State> state_;
};

template <class Handler>
void async_teardown(boost::beast::role_type role, Socket& socket, Handler&& handler) {
    boost::asio::async_compose<Handler, void(boost::beast::error_code)>(TeardownDrain(role, socket),
                                                                        handler, socket);
}

}  // namespace gridgate::ocpp::detail
