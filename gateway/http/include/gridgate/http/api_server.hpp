// The gateway's HTTP/1.1 API server: listens on `[api] listen`, routes the
// endpoints of ARCHITECTURE.md to an ApiBackend, and enforces the limits that
// keep one client from hurting the others (body size, read timeouts,
// connection count, Bearer token).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/system/error_code.hpp>

#include "gridgate/http/api_backend.hpp"

namespace gridgate::http {

struct ApiServerOptions {
    std::string host = "127.0.0.1";
    std::uint16_t port = 8080;  // 0: the OS picks one; read it back with ApiServer::port()
    /// When non-empty, every /api/* request needs "Authorization: Bearer <token>".
    std::string token;
    std::size_t body_limit = 8 * 1024 * 1024;  // larger bodies get 413
    std::size_t header_limit = 16 * 1024;      // larger headers get 431
    std::size_t max_connections = 256;         // extra connections get 503 and are closed
    /// A request's header must arrive whole within this time of the first
    /// read; an idle keep-alive connection is closed after it as well.
    std::chrono::milliseconds header_timeout{10'000};
    /// The body must keep coming: each read must deliver something within this time.
    std::chrono::milliseconds body_progress_timeout{10'000};
    /// A client must take each response within this time.
    std::chrono::milliseconds write_timeout{10'000};
    /// The backend must answer within this time or the client gets 503.
    std::chrono::milliseconds backend_timeout{30'000};
    /// /healthz reports 503 when the engine does not answer within this time.
    std::chrono::milliseconds health_timeout{2'000};
    /// After stop(), requests in flight have this long to finish before their
    /// connections are closed.
    std::chrono::milliseconds shutdown_grace{5'000};
};

/// Thread-safety: every member function may be called from any thread. The
/// server runs on the io_context given (any number of threads may run it);
/// each connection has its own strand. `backend` must outlive the io_context's
/// last handler, not only this object.
class ApiServer {
  public:
    ApiServer(boost::asio::io_context& ioc, ApiServerOptions options, ApiBackend& backend);
    ~ApiServer();  // stops at once (no grace) if stop() was not called
    ApiServer(const ApiServer&) = delete;
    ApiServer& operator=(const ApiServer&) = delete;

    /// Binds and starts accepting. An error (address in use, bad host) is
    /// returned, nothing is left open, and the server may be started again.
    boost::system::error_code start();

    /// The bound port (the OS's choice when options.port was 0); 0 before start().
    std::uint16_t port() const noexcept;

    /// Stops accepting, closes idle connections at once, lets requests in
    /// flight finish (their connections then close) within shutdown_grace, and
    /// closes whatever remains after it. `on_stopped` runs, on an I/O thread,
    /// once every connection is gone. A later stop() only adds its callback.
    void stop(std::function<void()> on_stopped = {});

    /// Connections currently open (accepted and not yet closed).
    std::size_t open_connections() const noexcept;

  private:
    class Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace gridgate::http
