#include "gridgate/ocpp/central_system.hpp"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <stdexcept>
#include <variant>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "charge_point_session.hpp"
#include "json_output.hpp"
#include "printable.hpp"

namespace gridgate::ocpp {

namespace net = boost::asio;
using tcp = net::ip::tcp;

void* CallOutcome::Pool::operator new(std::size_t bytes) {
    static_assert(sizeof(Pool) <= 512, "a pool and its first bytes fit one cached block");
    return detail::BlockCache::allocate(bytes);
}

void CallOutcome::Pool::operator delete(void* p, std::size_t bytes) noexcept {
    detail::BlockCache::deallocate(p, bytes);
}

std::string CallOutcome::reason() const {
    switch (kind) {
        case Kind::Result:
            return {};
        case Kind::CallError:
            return message.empty() ? error_code : error_code + ": " + message;
        case Kind::Timeout:
            return "timeout";
        case Kind::NotConnected:
            return std::string(kNotConnected);
        case Kind::InvalidRequest:
            return "invalid request: " + message;
        case Kind::InvalidResponse:
            return "invalid response: " + message;
        case Kind::Disconnected:
            return "disconnected: " + message;
        case Kind::QueueFull:
            return "queue full: " + message;
    }
    return message;
}

namespace detail {

// Accepts connections and hands each to a new session on the next
// io_context in turn. Thread-safety: runs on the first context's thread;
// stop() posts onto it.
class Listener : public std::enable_shared_from_this<Listener> {
  public:
    Listener(std::vector<net::io_context*> contexts, std::shared_ptr<ServerState> state)
        : contexts_(std::move(contexts)),
          state_(std::move(state)),
          acceptor_(contexts_.front()->get_executor()),
          retry_timer_(contexts_.front()->get_executor()) {}

    void open(const tcp::endpoint& endpoint) {
        acceptor_.open(endpoint.protocol());
        acceptor_.set_option(net::socket_base::reuse_address(true));
        acceptor_.bind(endpoint);
        acceptor_.listen(net::socket_base::max_listen_connections);
    }

    std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

    void run() { do_accept(); }

    void stop() {
        net::post(acceptor_.get_executor(), [self = shared_from_this()] {
            beast::error_code ignored;
            self->acceptor_.close(ignored);
            self->retry_timer_.cancel();
        });
    }

  private:
    // After a failed accept: the connection that failed stays in the
    // backlog, so accepting again at once fails again at once.
    static constexpr std::chrono::milliseconds kAcceptRetry{100};

    void do_accept() {
        if (!acceptor_.is_open()) return;
        auto& context = *contexts_[next_context_];
        next_context_ = (next_context_ + 1) % contexts_.size();
        acceptor_.async_accept(context.get_executor(),
                               [self = shared_from_this()](beast::error_code ec, Socket socket) {
                                   self->on_accept(ec, std::move(socket));
                               });
    }

    void on_accept(beast::error_code ec, Socket socket) {
        if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
        if (ec) {
            // Out of descriptors and the like: back off instead of spinning,
            // and say so once until a connection is accepted again.
            if (!accept_failing_) {
                state_->log(LogLevel::Warning, "accept failed: " + ec.message() +
                                                   "; retrying every " +
                                                   std::to_string(kAcceptRetry.count()) + " ms");
                accept_failing_ = true;
            }
            retry_timer_.expires_after(kAcceptRetry);
            retry_timer_.async_wait([self = shared_from_this()](beast::error_code wait_ec) {
                if (!wait_ec) self->do_accept();
            });
            return;
        }
        if (accept_failing_) {
            accept_failing_ = false;
            state_->log(LogLevel::Info, "accepting connections again");
        }
        // Every frame goes out in one write, so Nagle's algorithm saves no
        // packet; it would only hold a call sent right after an answer until
        // the charger acknowledges the answer (a delayed ACK: 40 ms here,
        // 200 ms on some chargers).
        beast::error_code no_delay_ec;
        socket.set_option(tcp::no_delay(true), no_delay_ec);
        if (state_->tls) {
            std::make_shared<ChargePointSession<TlsStream>>(state_, std::move(socket), *state_->tls)
                ->run();
        } else {
            std::make_shared<ChargePointSession<PlainStream>>(state_, std::move(socket))->run();
        }
        do_accept();
    }

    const std::vector<net::io_context*> contexts_;
    std::size_t next_context_ = 0;
    std::shared_ptr<ServerState> state_;
    tcp::acceptor acceptor_;
    net::steady_timer retry_timer_;
    bool accept_failing_ = false;  // since the last accept that succeeded
};

}  // namespace detail

namespace {

// "cert.pem: Permission denied", or nothing if `path` is a file this
// process can read.
std::optional<std::string> unreadable(const std::filesystem::path& path) {
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    if (ec) return path.string() + ": " + ec.message();
    if (std::filesystem::is_directory(status)) return path.string() + ": is a directory";
    std::FILE* file = std::fopen(path.c_str(), "rb");
    if (file == nullptr) return path.string() + ": " + std::strerror(errno);
    std::fclose(file);
    return std::nullopt;
}

using TlsLoad = std::variant<net::ssl::context, TlsFilesProblem>;

TlsLoad load_tls(const std::filesystem::path& certificate, const std::filesystem::path& key) {
    using File = TlsFilesProblem::File;
    if (auto why = unreadable(certificate)) return TlsFilesProblem{File::Certificate, *why};
    if (auto why = unreadable(key)) return TlsFilesProblem{File::PrivateKey, *why};
    // Never a passphrase: without a callback OpenSSL would prompt for one on
    // the terminal. The callback being asked tells an encrypted key.
    auto asked_passphrase = std::make_shared<bool>(false);
    auto make = [&asked_passphrase] {
        net::ssl::context context(net::ssl::context::tls_server);
        context.set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                            net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                            net::ssl::context::no_tlsv1_1 | net::ssl::context::single_dh_use);
        context.set_password_callback(
            [asked = asked_passphrase](std::size_t, net::ssl::context::password_purpose) {
                *asked = true;
                return std::string();
            });
        return context;
    };
    net::ssl::context context = make();
    boost::system::error_code ec;
    context.use_certificate_chain_file(certificate.string(), ec);
    if (ec) {
        return TlsFilesProblem{
            File::Certificate,
            certificate.string() + ": not a PEM certificate chain (" + ec.message() + ")"};
    }
    context.use_private_key_file(key.string(), net::ssl::context::pem, ec);
    if (ec && *asked_passphrase) {
        return TlsFilesProblem{File::PrivateKey,
                               key.string() +
                                   ": the private key is encrypted; gridgate needs it "
                                   "unencrypted (openssl pkey -in " +
                                   key.string() + " -out NEW_KEY_FILE)"};
    }
    if (ec) {
        // Alone, a key that loads is one of another certificate.
        net::ssl::context alone = make();
        boost::system::error_code alone_ec;
        alone.use_private_key_file(key.string(), net::ssl::context::pem, alone_ec);
        if (alone_ec) {
            return TlsFilesProblem{File::PrivateKey, key.string() + ": not a PEM private key (" +
                                                         alone_ec.message() + ")"};
        }
        return TlsFilesProblem{File::PrivateKey, key.string() +
                                                     ": not the private key of the certificate "
                                                     "in " +
                                                     certificate.string()};
    }
    return context;
}

net::ssl::context make_tls_context(const CentralSystemOptions& options) {
    if (options.tls_certificate.empty() || options.tls_private_key.empty()) {
        throw std::runtime_error(
            "security profile 2 needs a TLS certificate and private key (tls_certificate, "
            "tls_private_key)");
    }
    auto loaded = load_tls(options.tls_certificate, options.tls_private_key);
    if (auto* problem = std::get_if<TlsFilesProblem>(&loaded))
        throw std::runtime_error(problem->message);
    return std::move(std::get<net::ssl::context>(loaded));
}

}  // namespace

std::optional<TlsFilesProblem> check_tls_files(const std::filesystem::path& certificate,
                                               const std::filesystem::path& private_key) {
    auto loaded = load_tls(certificate, private_key);
    if (auto* problem = std::get_if<TlsFilesProblem>(&loaded)) return std::move(*problem);
    return std::nullopt;
}

namespace {

// "2026-01-31T12:00:00Z"
std::string iso_utc(const ASN1_TIME* time) {
    std::tm tm{};
    if (ASN1_TIME_to_tm(time, &tm) != 1) return "an unreadable date";
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return text;
}

}  // namespace

std::optional<std::string> certificate_date_problem(const std::filesystem::path& certificate,
                                                    std::chrono::system_clock::time_point now) {
    std::unique_ptr<BIO, decltype(&BIO_free)> file(BIO_new_file(certificate.c_str(), "r"),
                                                   &BIO_free);
    if (!file) return std::nullopt;
    std::unique_ptr<X509, decltype(&X509_free)> cert(
        PEM_read_bio_X509(file.get(), nullptr, nullptr, nullptr), &X509_free);
    ERR_clear_error();
    if (!cert) return std::nullopt;
    std::time_t at = std::chrono::system_clock::to_time_t(now);
    const ASN1_TIME* not_after = X509_get0_notAfter(cert.get());
    const ASN1_TIME* not_before = X509_get0_notBefore(cert.get());
    if (X509_cmp_time(not_after, &at) < 0) {
        return certificate.string() + ": the certificate expired on " + iso_utc(not_after) +
               " (notAfter); chargers will refuse the TLS handshake";
    }
    if (X509_cmp_time(not_before, &at) > 0) {
        return certificate.string() + ": the certificate is not valid before " +
               iso_utc(not_before) + " (notBefore); chargers will refuse the TLS handshake";
    }
    return std::nullopt;
}

CentralSystem::CentralSystem(boost::asio::io_context& io, CentralSystemOptions options,
                             HandshakeAuthorizer authorizer, std::shared_ptr<CallHandler> handler)
    : CentralSystem(std::vector<boost::asio::io_context*>{&io}, std::move(options),
                    std::move(authorizer), std::move(handler)) {}

CentralSystem::CentralSystem(std::vector<boost::asio::io_context*> contexts,
                             CentralSystemOptions options, HandshakeAuthorizer authorizer,
                             std::shared_ptr<CallHandler> handler)
    : contexts_(std::move(contexts)),
      state_(std::make_shared<detail::ServerState>(std::move(options), std::move(authorizer),
                                                   std::move(handler))) {
    if (contexts_.empty()) throw std::invalid_argument("CentralSystem needs an io_context");
    state_->drain_context = contexts_.front();
}

CentralSystem::~CentralSystem() {
    stop();
}

void CentralSystem::start() {
    const auto& options = state_->options;
    if (options.security_profile == SecurityProfile::TlsBasicAuth) {
        state_->tls.emplace(make_tls_context(options));
    }
    boost::system::error_code ec;
    tcp::endpoint endpoint(net::ip::make_address(options.listen_address, ec), options.port);
    if (ec) {
        // A host name: its first IPv4 address, else its first. "localhost"
        // lists ::1 first on many systems, and chargers are mostly told an
        // IPv4 address.
        tcp::resolver resolver(*contexts_.front());
        auto found = resolver.resolve(options.listen_address, std::to_string(options.port),
                                      tcp::resolver::passive, ec);
        if (ec || found.empty()) {
            throw std::runtime_error("OCPP listen address '" + options.listen_address +
                                     "': " + (ec ? ec.message() : "no address"));
        }
        endpoint = found.begin()->endpoint();
        for (const auto& entry : found) {
            if (entry.endpoint().address().is_v4()) {
                endpoint = entry.endpoint();
                break;
            }
        }
    }
    auto listener = std::make_shared<detail::Listener>(contexts_, state_);
    try {
        listener->open(endpoint);
    } catch (const boost::system::system_error& e) {
        throw std::runtime_error("cannot listen on " + options.listen_address + ":" +
                                 std::to_string(options.port) + ": " + e.code().message());
    }
    port_ = listener->port();
    listener->run();
    listener_ = std::move(listener);
}

void CentralSystem::stop() {
    if (!listener_) return;
    state_->stopping = true;
    listener_->stop();
    listener_.reset();
    std::vector<std::shared_ptr<detail::SessionBase>> open;
    {
        std::lock_guard lock(state_->mutex);
        for (auto& [session, weak] : state_->live) {
            if (auto strong = weak.lock()) open.push_back(std::move(strong));
        }
    }
    for (auto& session : open) session->close("server stopping");
}

std::uint16_t CentralSystem::port() const {
    return port_;
}

bool CentralSystem::is_connected(std::string_view identity) const {
    return state_->find(identity) != nullptr;
}

std::vector<std::string> CentralSystem::connected() const {
    return state_->connected();
}

ChargePointHandle CentralSystem::handle(std::string_view identity) {
    return ChargePointHandle(&state_->slot(identity));
}

void CentralSystem::call(std::string_view identity, std::string_view action,
                         const rapidjson::Value& payload, CallCallback callback,
                         std::optional<std::chrono::milliseconds> timeout,
                         std::optional<CallDeadline> deadline) {
    call_slot(state_->find_slot(identity), identity, action, payload, std::move(callback), timeout,
              deadline);
}

void CentralSystem::call(const ChargePointHandle& to, std::string_view action,
                         const rapidjson::Value& payload, CallCallback callback,
                         std::optional<std::chrono::milliseconds> timeout,
                         std::optional<CallDeadline> deadline) {
    if (!to) throw std::invalid_argument("CentralSystem::call with an empty ChargePointHandle");
    call_slot(to.slot_, to.slot_->identity, action, payload, std::move(callback), timeout,
              deadline);
}

void CentralSystem::call_slot(detail::ChargePointSlot* slot, std::string_view identity,
                              std::string_view action, const rapidjson::Value& payload,
                              CallCallback callback,
                              std::optional<std::chrono::milliseconds> timeout,
                              std::optional<CallDeadline> deadline) {
    auto fail = [&](CallOutcome::Kind kind, std::string message) {
        net::post(*contexts_.front(),
                  [callback = std::move(callback), kind, message = std::move(message)] {
                      CallOutcome outcome;
                      outcome.kind = kind;
                      outcome.message = message;
                      callback(std::move(outcome));
                  });
    };
    const auto connection = slot ? state_->connection_of(*slot) : std::nullopt;
    if (!connection) {
        return fail(CallOutcome::Kind::NotConnected,
                    "charge point '" + std::string(identity) + "' is not connected");
    }
    detail::PendingCall call;
    call.message_id = slot->next_message_id();
    call.frame = state_->frames.take();
    // The payload is validated, then written into the frame.
    std::optional<SchemaViolation> violation;
    detail::write_call(call.frame, call.message_id, action, [&](detail::StringWriter& writer) {
        violation = state_->schemas->validate_into(action, PayloadKind::Request, payload, writer);
        return !violation;
    });
    if (violation) return fail(CallOutcome::Kind::InvalidRequest, violation->message);
    call.action = state_->schemas->request_action(action);
    call.timeout = timeout.value_or(state_->options.default_call_timeout);
    if (deadline) {
        call.made = std::chrono::steady_clock::now();
        call.deadline = *deadline;
    }
    call.callback = std::move(callback);
    bool first = false;
    {
        std::lock_guard lock(state_->submissions_mutex);
        first = state_->submissions.empty();
        state_->submissions.push_back({slot, *connection, std::move(call)});
        state_->calls_waiting.store(true, std::memory_order_relaxed);
    }
    if (first) net::post(*contexts_.front(), [state = state_] { state->drain_submissions(); });
}

void detail::ServerState::drain_submissions() {
    auto& batch = draining;
    {
        std::lock_guard lock(submissions_mutex);
        batch.swap(submissions);
        calls_waiting.store(false, std::memory_order_relaxed);
    }
    if (batch.empty()) return;  // taken by send_waiting_calls()
    auto& sessions = draining_sessions;
    sessions_of(batch, sessions);
    for (std::size_t i = 0; i < batch.size(); ++i) {
        detail::PendingCall& call = batch[i].call;
        if (sessions[i]) {
            sessions[i]->submit_call(std::move(call));
            continue;
        }
        const std::string who = "charge point '" + detail::printable(batch[i].slot->identity) + "'";
        CallOutcome outcome;
        outcome.kind = CallOutcome::Kind::Disconnected;
        outcome.message = who + ": connection closed before " + std::string(call.action) +
                          " (message id " + call.message_id + ") was sent";
        deliver(call.callback, std::move(outcome), [&who] { return who; });
    }
    batch.clear();
    sessions.clear();
}

}  // namespace gridgate::ocpp
