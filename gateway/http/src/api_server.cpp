#include "gridgate/http/api_server.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "gridgate/http/json.hpp"
#include "http_session.hpp"
#include "server_state.hpp"

namespace gridgate::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;

// Answers a connection over max_connections with a complete 503 instead of a
// bare reset, then reads and drops what the client sent for a moment so the
// answer is not lost to a reset.
class ConnectionRefusal : public std::enable_shared_from_this<ConnectionRefusal> {
  public:
    explicit ConnectionRefusal(tcp::socket&& socket) : stream_(std::move(socket)) {}

    void run() {
        static const std::string answer = [] {
            std::string body = error_json("too many connections; retry shortly");
            return "HTTP/1.1 503 Service Unavailable\r\nServer: gridgate\r\n"
                   "Content-Type: application/json\r\nRetry-After: 1\r\n"
                   "Connection: close\r\nContent-Length: " +
                   std::to_string(body.size()) + "\r\n\r\n" + body;
        }();
        stream_.expires_after(std::chrono::seconds(1));
        net::async_write(
            stream_, net::buffer(answer),
            beast::bind_front_handler(&ConnectionRefusal::on_write, shared_from_this()));
    }

  private:
    void on_write(beast::error_code ec, std::size_t) {
        if (ec) return;
        beast::error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
        do_drain();
    }
    void do_drain() {
        stream_.async_read_some(
            net::buffer(discard_),
            beast::bind_front_handler(&ConnectionRefusal::on_drain, shared_from_this()));
    }
    void on_drain(beast::error_code ec, std::size_t) {
        if (!ec) do_drain();
    }

    beast::tcp_stream stream_;
    std::array<char, 4096> discard_{};
};

}  // namespace

// The listener and the stop sequence. Acceptor, timers and the stop
// bookkeeping live on one strand.
class ApiServer::Impl : public std::enable_shared_from_this<ApiServer::Impl> {
  public:
    Impl(net::io_context& ioc, ApiServerOptions options, ApiBackend& backend)
        : ioc_(ioc),
          strand_(net::make_strand(ioc)),
          acceptor_(strand_),
          retry_timer_(strand_),
          grace_timer_(strand_),
          state_(std::make_shared<detail::ServerState>(std::move(options), backend)) {}

    beast::error_code start() {
        if (started_.exchange(true)) return net::error::already_started;
        beast::error_code ec = open();
        if (ec) {
            beast::error_code ignored;
            acceptor_.close(ignored);
            started_ = false;
            return ec;
        }
        net::dispatch(strand_, beast::bind_front_handler(&Impl::do_accept, shared_from_this()));
        return {};
    }

    std::uint16_t port() const noexcept { return port_.load(); }
    std::size_t open_connections() const noexcept { return state_->open_connections(); }

    void stop(std::function<void()> on_stopped) {
        net::post(strand_,
                  [self = shared_from_this(), on_stopped = std::move(on_stopped)]() mutable {
                      self->on_stop(std::move(on_stopped));
                  });
    }

    // From the destructor: no grace, as the owner is going away.
    void stop_now() {
        net::post(strand_, [self = shared_from_this()] {
            self->on_stop({});
            for (auto& session : self->state_->sessions()) session->close_now();
        });
    }

  private:
    beast::error_code open() {
        const ApiServerOptions& options = state_->options();
        beast::error_code ec;
        tcp::endpoint endpoint;
        auto address = net::ip::make_address(options.host, ec);
        if (!ec) {
            endpoint = tcp::endpoint(address, options.port);
        } else {
            // A host name: its first IPv4 address, else its first ("localhost"
            // lists ::1 first on many systems; most clients are told 127.0.0.1).
            tcp::resolver resolver(ioc_);
            auto results = resolver.resolve(options.host, std::to_string(options.port),
                                            tcp::resolver::passive, ec);
            if (ec) return ec;
            endpoint = results.begin()->endpoint();
            for (const auto& entry : results) {
                if (entry.endpoint().address().is_v4()) {
                    endpoint = entry.endpoint();
                    break;
                }
            }
        }
        acceptor_.open(endpoint.protocol(), ec);
        if (ec) return ec;
        acceptor_.set_option(net::socket_base::reuse_address(true), ec);
        if (ec) return ec;
        acceptor_.bind(endpoint, ec);
        if (ec) return ec;
        acceptor_.listen(net::socket_base::max_listen_connections, ec);
        if (ec) return ec;
        port_ = acceptor_.local_endpoint(ec).port();
        return ec;
    }

    void do_accept() {
        if (!acceptor_.is_open()) return;
        // Each connection gets its own strand.
        acceptor_.async_accept(net::make_strand(ioc_),
                               beast::bind_front_handler(&Impl::on_accept, shared_from_this()));
    }

    void on_accept(beast::error_code ec, tcp::socket socket) {
        if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
        if (ec) {
            // Out of descriptors and the like: back off instead of spinning.
            spdlog::warn("api: accepting a connection failed: {}", ec.message());
            retry_timer_.expires_after(std::chrono::milliseconds(100));
            retry_timer_.async_wait([self = shared_from_this()](beast::error_code wait_ec) {
                if (!wait_ec) self->do_accept();
            });
            return;
        }
        if (!state_->try_reserve_connection()) {
            std::make_shared<ConnectionRefusal>(std::move(socket))->run();
        } else {
            auto session = std::make_shared<detail::HttpSession>(std::move(socket), state_);
            if (state_->add(session)) session->run();
        }
        do_accept();
    }

    void on_stop(std::function<void()> on_stopped) {
        if (on_stopped) stopped_callbacks_.push_back(std::move(on_stopped));
        if (all_closed_) return run_stopped_callbacks();
        if (stopping_) return;
        stopping_ = true;
        beast::error_code ignored;
        acceptor_.close(ignored);
        retry_timer_.cancel();
        grace_timer_.expires_after(state_->options().shutdown_grace);
        grace_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
            if (ec) return;
            for (auto& session : self->state_->sessions()) session->close_now();
        });
        auto open = state_->begin_stop([self = shared_from_this()] {
            net::post(self->strand_, [self] {
                self->all_closed_ = true;
                self->grace_timer_.cancel();
                self->run_stopped_callbacks();
            });
        });
        for (auto& session : open) session->stop_gracefully();
    }

    void run_stopped_callbacks() {
        auto callbacks = std::exchange(stopped_callbacks_, {});
        for (auto& callback : callbacks) callback();
    }

    net::io_context& ioc_;
    net::strand<net::io_context::executor_type> strand_;
    tcp::acceptor acceptor_;
    net::steady_timer retry_timer_;
    net::steady_timer grace_timer_;
    std::shared_ptr<detail::ServerState> state_;
    std::atomic<bool> started_{false};
    std::atomic<std::uint16_t> port_{0};
    bool stopping_ = false;
    bool all_closed_ = false;
    std::vector<std::function<void()>> stopped_callbacks_;
};

ApiServer::ApiServer(net::io_context& ioc, ApiServerOptions options, ApiBackend& backend)
    : impl_(std::make_shared<Impl>(ioc, std::move(options), backend)) {}

ApiServer::~ApiServer() {
    impl_->stop_now();
}

beast::error_code ApiServer::start() {
    return impl_->start();
}

std::uint16_t ApiServer::port() const noexcept {
    return impl_->port();
}

void ApiServer::stop(std::function<void()> on_stopped) {
    impl_->stop(std::move(on_stopped));
}

std::size_t ApiServer::open_connections() const noexcept {
    return impl_->open_connections();
}

}  // namespace gridgate::http
