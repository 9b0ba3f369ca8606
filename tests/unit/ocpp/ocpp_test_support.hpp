// Loopback test scaffolding for the OCPP library: a central system running
// on its own threads, a WebSocket client (plain or TLS) that collects what
// it receives, a self-signed certificate made at test time, and a deadline
// poll instead of sleeps.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <unistd.h>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <rapidjson/document.h>

#include "eventually.hpp"
#include "gridgate/ocpp/central_system.hpp"
#include "gridgate/ocpp/central_system_core.hpp"

namespace gridgate::ocpp::test {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using namespace std::chrono_literals;

// The name these tests grew up with.
inline bool wait_until(const std::function<bool()>& condition,
                       std::chrono::milliseconds deadline = 5s) {
    return gridgate::test::eventually(condition, deadline);
}

inline rapidjson::Document parse(std::string_view text) {
    rapidjson::Document doc;
    doc.Parse(text.data(), text.size());
    return doc;
}

// A self-signed EC certificate for 127.0.0.1 (or `san`), written as PEM
// files; valid from an hour ago for a day unless told otherwise (seconds
// from now).
struct TestCertificate {
    std::filesystem::path directory;
    std::filesystem::path certificate;
    std::filesystem::path private_key;

    explicit TestCertificate(long not_before = -3600, long not_after = 3600 * 24,
                             const char* san = "IP:127.0.0.1") {
        directory = std::filesystem::temp_directory_path() /
                    ("gridgate-ocpp-tls-" + std::to_string(::getpid()) + "-" +
                     std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
        std::filesystem::create_directories(directory);
        certificate = directory / "cert.pem";
        private_key = directory / "key.pem";
        EVP_PKEY* key = EVP_EC_gen("P-256");
        X509* cert = X509_new();
        ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
        X509_gmtime_adj(X509_getm_notBefore(cert), not_before);
        X509_gmtime_adj(X509_getm_notAfter(cert), not_after);
        X509_set_pubkey(cert, key);
        X509_NAME* name = X509_get_subject_name(cert);
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
        X509_set_issuer_name(cert, name);
        // v3 with a SAN: clients that verify match an IP address only there.
        X509_set_version(cert, 2);
        X509V3_CTX context;
        X509V3_set_ctx_nodb(&context);
        X509V3_set_ctx(&context, cert, cert, nullptr, nullptr, 0);
        for (auto [nid, value] : {std::pair{NID_subject_alt_name, san},
                                  std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
            X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value);
            X509_add_ext(cert, extension, -1);
            X509_EXTENSION_free(extension);
        }
        X509_sign(cert, key, EVP_sha256());
        FILE* cert_file = std::fopen(certificate.c_str(), "w");
        PEM_write_X509(cert_file, cert);
        std::fclose(cert_file);
        FILE* key_file = std::fopen(private_key.c_str(), "w");
        PEM_write_PrivateKey(key_file, key, nullptr, nullptr, 0, nullptr, nullptr);
        std::fclose(key_file);
        X509_free(cert);
        EVP_PKEY_free(key);
    }
    ~TestCertificate() {
        std::error_code ignored;
        std::filesystem::remove_all(directory, ignored);
    }
};

// A CallHandler that records what reached it and delegates to the Core.
class RecordingHandler : public CallHandler {
  public:
    explicit RecordingHandler(CoreOptions options = {}, CoreObservers observers = {})
        : core(std::move(options), std::move(observers)) {}

    std::optional<HandlerError> on_call(std::string_view identity, std::string_view action,
                                        const rapidjson::Value& payload,
                                        rapidjson::Document& response) override {
        {
            std::lock_guard lock(mutex);
            actions.push_back(std::string(identity) + ":" + std::string(action));
        }
        return core.on_call(identity, action, payload, response);
    }
    void on_connected(std::string_view identity) override {
        std::lock_guard lock(mutex);
        connects.emplace_back(identity);
    }
    void on_disconnected(std::string_view identity, std::string_view reason) override {
        std::lock_guard lock(mutex);
        disconnects.push_back(std::string(identity) + ": " + std::string(reason));
    }
    std::size_t connect_count() const {
        std::lock_guard lock(mutex);
        return connects.size();
    }
    std::vector<std::string> disconnect_list() const {
        std::lock_guard lock(mutex);
        return disconnects;
    }

    CentralSystemCore core;
    mutable std::mutex mutex;
    std::vector<std::string> actions;
    std::vector<std::string> connects;
    std::vector<std::string> disconnects;
};

// A central system on 127.0.0.1 with an OS-chosen port, run by two threads
// (one io_context each), so connections land on both.
struct TestServer {
    explicit TestServer(CentralSystemOptions options = {},
                        std::shared_ptr<RecordingHandler> h = std::make_shared<RecordingHandler>(),
                        std::function<HandshakeDecision(const HandshakeRequest&)> authorizer = {})
        : handler(std::move(h)), work{net::make_work_guard(io[0]), net::make_work_guard(io[1])} {
        if (!authorizer) {
            authorizer = [](const HandshakeRequest& request) {
                return request.identity.starts_with("CP") ? HandshakeDecision::Accept
                                                          : HandshakeDecision::NotFound;
            };
        }
        options.listen_address = "127.0.0.1";
        options.port = 0;
        options.log = [this](LogLevel, std::string_view message) {
            std::lock_guard lock(log_mutex);
            log_lines.emplace_back(message);
        };
        server =
            std::make_unique<CentralSystem>(std::vector<net::io_context*>{&io[0], &io[1]},
                                            std::move(options), std::move(authorizer), handler);
        server->start();
        for (auto& context : io) threads.emplace_back([&context] { context.run(); });
    }
    ~TestServer() {
        server->stop();
        for (auto& w : work) w.reset();
        for (auto& t : threads) t.join();
        server.reset();
    }
    bool logged(std::string_view needle) const {
        std::lock_guard lock(log_mutex);
        for (const auto& line : log_lines) {
            if (line.find(needle) != std::string::npos) return true;
        }
        return false;
    }

    // Blocking call from the test thread; returns the outcome.
    CallOutcome call(std::string_view identity, std::string_view action, std::string_view payload,
                     std::optional<std::chrono::milliseconds> timeout = {}) {
        auto promise = std::make_shared<std::promise<CallOutcome>>();
        auto future = promise->get_future();
        const auto document = parse(payload);
        server->call(
            identity, action, document,
            [promise](CallOutcome outcome) { promise->set_value(std::move(outcome)); }, timeout);
        return future.get();
    }

    net::io_context io[2];
    std::shared_ptr<RecordingHandler> handler;
    net::executor_work_guard<net::io_context::executor_type> work[2];
    std::unique_ptr<CentralSystem> server;
    std::vector<std::thread> threads;
    mutable std::mutex log_mutex;
    std::vector<std::string> log_lines;
};

struct ClientOptions {
    std::string target = "/ocpp/CP001";
    std::optional<std::string> subprotocol = "ocpp1.6";
    std::optional<std::string> authorization;  // full header value
    bool tls = false;
    // False: never read, so pings go unanswered.
    bool read = true;
    // Non-zero: the socket's SO_RCVBUF, so that a client that does not read
    // backs the server's writes up after a few kilobytes, not megabytes.
    int receive_buffer_bytes = 0;
};

// A charger-side WebSocket client. The handshake is synchronous; after it a
// thread keeps one read outstanding and queues what arrives.
class TestClient {
  public:
    TestClient(std::uint16_t port, ClientOptions options) : options_(std::move(options)) {
        tls_context_.set_verify_mode(net::ssl::verify_none);
        net::ip::tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), port);
        if (options_.tls) {
            tls_ws_.emplace(io_, tls_context_);
            beast::get_lowest_layer(*tls_ws_).connect(endpoint);
            tls_ws_->next_layer().handshake(net::ssl::stream_base::client, ec_);
            if (ec_) return;
            upgrade(*tls_ws_);
        } else {
            ws_.emplace(io_);
            auto& socket = beast::get_lowest_layer(*ws_).socket();
            socket.open(endpoint.protocol());
            if (options_.receive_buffer_bytes > 0)
                socket.set_option(
                    net::socket_base::receive_buffer_size(options_.receive_buffer_bytes));
            beast::get_lowest_layer(*ws_).connect(endpoint);
            upgrade(*ws_);
        }
    }
    ~TestClient() {
        close_socket();
        work_.reset();
        if (reader_.joinable()) reader_.join();
    }

    const beast::error_code& handshake_error() const { return ec_; }
    const websocket::response_type& response() const { return response_; }
    bool open() const { return !ec_; }

    void send(std::string text) {
        auto done = std::make_shared<std::promise<beast::error_code>>();
        auto future = done->get_future();
        net::post(io_, [this, text = std::move(text), done]() mutable {
            auto buffer = std::make_shared<std::string>(std::move(text));
            auto handler = [buffer, done](beast::error_code e, std::size_t) { done->set_value(e); };
            if (tls_ws_) {
                tls_ws_->text(true);
                tls_ws_->async_write(net::buffer(*buffer), handler);
            } else {
                ws_->text(true);
                ws_->async_write(net::buffer(*buffer), handler);
            }
        });
        future.wait();
    }

    // The next text message, or nullopt when none came in time (or closed).
    std::optional<std::string> next(std::chrono::milliseconds timeout = 5s) {
        std::unique_lock lock(mutex_);
        if (!cv_.wait_for(lock, timeout, [this] { return !inbox_.empty() || closed_; })) {
            return std::nullopt;
        }
        if (inbox_.empty()) return std::nullopt;
        auto text = std::move(inbox_.front());
        inbox_.pop_front();
        return text;
    }

    // Waits for the connection to end; the close code the server sent.
    std::optional<int> wait_closed(std::chrono::milliseconds timeout = 5s) {
        std::unique_lock lock(mutex_);
        cv_.wait_for(lock, timeout, [this] { return closed_; });
        if (!closed_) return std::nullopt;
        return close_code_;
    }

    // Stop answering pings: the client stops reading (no pong goes out).
    void stop_reading() { paused_ = true; }

    void close_socket() {
        net::post(io_, [this] {
            beast::error_code ignored;
            if (tls_ws_) beast::get_lowest_layer(*tls_ws_).socket().close(ignored);
            if (ws_) beast::get_lowest_layer(*ws_).socket().close(ignored);
        });
    }

  private:
    template <class Ws>
    void upgrade(Ws& ws) {
        ws.set_option(websocket::stream_base::decorator([this](websocket::request_type& request) {
            if (options_.subprotocol) {
                request.set(http::field::sec_websocket_protocol, *options_.subprotocol);
            }
            if (options_.authorization) {
                request.set(http::field::authorization, *options_.authorization);
            }
        }));
        ws.handshake(response_, "127.0.0.1", options_.target, ec_);
        if (ec_) return;
        // send() keeps working when the client does not read.
        work_.emplace(io_.get_executor());
        reader_ = std::thread([this, &ws] {
            if (options_.read) read_loop(ws);
            io_.run();
        });
    }

    template <class Ws>
    void read_loop(Ws& ws) {
        if (paused_) return;
        ws.async_read(buffer_, [this, &ws](beast::error_code e, std::size_t) {
            std::lock_guard lock(mutex_);
            if (e) {
                closed_ = true;
                close_code_ = ws.reason().code;
                cv_.notify_all();
                return;
            }
            inbox_.push_back(beast::buffers_to_string(buffer_.data()));
            buffer_.consume(buffer_.size());
            cv_.notify_all();
            read_loop(ws);
        });
    }

    ClientOptions options_;
    net::io_context io_;
    std::optional<net::executor_work_guard<net::io_context::executor_type>> work_;
    net::ssl::context tls_context_{net::ssl::context::tls_client};
    std::optional<websocket::stream<beast::tcp_stream>> ws_;
    std::optional<websocket::stream<beast::ssl_stream<beast::tcp_stream>>> tls_ws_;
    websocket::response_type response_;
    beast::error_code ec_;
    beast::flat_buffer buffer_;
    std::thread reader_;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<std::string> inbox_;
    bool closed_ = false;
    int close_code_ = 0;
    std::atomic<bool> paused_{false};
};

// A raw HTTP upgrade request, for the refusals: Beast's client does not
// hand back the response of a declined handshake. Status 0: no response.
inline http::response<http::string_body> probe_upgrade(std::uint16_t port,
                                                       const ClientOptions& options) {
    net::io_context io;
    net::ssl::context tls_context{net::ssl::context::tls_client};
    tls_context.set_verify_mode(net::ssl::verify_none);
    http::request<http::empty_body> request{http::verb::get, options.target, 11};
    request.set(http::field::host, "127.0.0.1");
    request.set(http::field::upgrade, "websocket");
    request.set(http::field::connection, "Upgrade");
    request.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
    request.set(http::field::sec_websocket_version, "13");
    if (options.subprotocol) request.set(http::field::sec_websocket_protocol, *options.subprotocol);
    if (options.authorization) request.set(http::field::authorization, *options.authorization);
    http::response<http::string_body> response;
    response.result(0);
    beast::flat_buffer buffer;
    beast::error_code ec;
    net::ip::tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), port);
    if (options.tls) {
        beast::ssl_stream<beast::tcp_stream> stream(io, tls_context);
        beast::get_lowest_layer(stream).connect(endpoint);
        stream.handshake(net::ssl::stream_base::client, ec);
        if (ec) return response;
        http::write(stream, request, ec);
        if (!ec) http::read(stream, buffer, response, ec);
    } else {
        beast::tcp_stream stream(io);
        stream.connect(endpoint);
        http::write(stream, request, ec);
        if (!ec) http::read(stream, buffer, response, ec);
    }
    return response;
}

}  // namespace gridgate::ocpp::test
