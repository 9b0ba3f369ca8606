// The end of a TLS connection (security profile 2), in place of Beast's,
// which only does the TLS shutdown: it sends close_notify and reads for the
// peer's. A charger that sent a frame over the size limit is still sending
// when we close with 1009; its application data after our close_notify
// fails the shutdown ("application data after close notify"), Beast then
// reports that in place of the 1009, and the socket is closed with bytes
// unread: a reset, which can overtake the close frame the charger has not
// read yet.
//
// A refused upgrade request ends the same way (charge_point_session.cpp).
//
// Here the shutdown runs as Beast's does (at most kTeardownTimeout); when
// the peer answered with its close_notify, nothing more is to come and the
// socket closes; when it failed, the TCP socket below is read to its end as
// for a plain connection (tcp_socket.hpp), encrypted bytes and all. Either
// way the teardown succeeds: the close went out and the socket is closed.
#pragma once

#include <memory>
#include <utility>

#include <boost/asio/compose.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "tcp_socket.hpp"

namespace gridgate::ocpp::detail {

using TlsSocketStream = boost::beast::ssl_stream<Socket>;

// The synchronous form, so that a blocking close does not fall back to
// Beast's either (nothing in the library closes one synchronously).
inline void teardown(boost::beast::role_type role, TlsSocketStream& stream,
                     boost::beast::error_code& ec) {
    stream.shutdown(ec);
    if (!ec) {
        stream.next_layer().close(ec);
        ec = {};
        return;
    }
    ec = {};
    teardown(role, stream.next_layer(), ec);
}

// async_teardown()'s steps: the TLS shutdown under a timer, then, if it
// failed, the drain of the socket below.
class TlsTeardown {
  public:
    TlsTeardown(boost::beast::role_type role, TlsSocketStream& stream)
        : role_(role), stream_(stream) {}

    template <class Self>
    void operator()(Self& self, boost::beast::error_code ec = {}) {
        switch (step_) {
            case Step::Start:
                step_ = Step::Shutdown;
                // A peer that neither answers the close_notify nor closes would
                // hold the shutdown for ever.
                timer_ = std::make_unique<Timer>(stream_.get_executor());
                close_on_timeout(*timer_, stream_.next_layer());
                stream_.async_shutdown(std::move(self));
                return;
            case Step::Shutdown:
                step_ = Step::Drain;
                timer_->cancel();
                timer_.reset();
                if (!ec) {  // both close_notify sent: the connection is over
                    boost::beast::error_code ignored;
                    stream_.next_layer().close(ignored);
                    return self.complete({});
                }
                async_teardown(role_, stream_.next_layer(), std::move(self));
                return;
            case Step::Drain:
                self.complete({});
                return;
        }
    }

  private:
    enum class Step { Start, Shutdown, Drain };
    boost::beast::role_type role_;
    TlsSocketStream& stream_;
    Step step_ = Step::Start;
    std::unique_ptr<Timer> timer_;
};

// Found by Beast's WebSocket close through argument-dependent lookup (Socket
// is of this namespace), and more specialized than Beast's own for any
// ssl_stream.
template <class Handler>
void async_teardown(boost::beast::role_type role, TlsSocketStream& stream, Handler&& handler) {
    boost::asio::async_compose<Handler, void(boost::beast::error_code)>(TlsTeardown(role, stream),
                                                                        handler, stream);
}

}  // namespace gridgate::ocpp::detail
