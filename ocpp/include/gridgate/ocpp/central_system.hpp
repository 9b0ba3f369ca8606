// The OCPP 1.6-J central system: a Boost.Beast WebSocket server that charge
// points connect to (plain ws, or TLS under security profile 2), one session
// per charge point, schema validation of every payload in both directions,
// and an outbound call API with one CALL in flight per connection.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>
#include <boost/asio/io_context.hpp>

#include "gridgate/ocpp/handshake.hpp"
#include "gridgate/ocpp/json_arena.hpp"
#include "gridgate/ocpp/messages.hpp"
#include "gridgate/ocpp/rpc.hpp"
#include "gridgate/ocpp/schema.hpp"

namespace gridgate::ocpp {

enum class SecurityProfile : int { None = 0, BasicAuth = 1, TlsBasicAuth = 2 };

enum class LogLevel { Debug, Info, Warning, Error };
// Where the library's log lines go; called from I/O threads, must not block.
using LogSink = std::function<void(LogLevel, std::string_view message)>;

struct CentralSystemOptions {
    std::string listen_address = "127.0.0.1";
    std::uint16_t port = 0;  // 0: the OS picks; read it back with CentralSystem::port()
    std::string path = "/ocpp";
    SecurityProfile security_profile = SecurityProfile::None;
    std::filesystem::path tls_certificate;  // PEM chain, profile 2
    std::filesystem::path tls_private_key;  // PEM key, profile 2
    // A WebSocket ping goes out after this much silence; a peer silent for
    // twice as long is disconnected. Zero disables pings.
    std::chrono::milliseconds ping_interval{std::chrono::seconds(30)};
    std::chrono::milliseconds handshake_timeout{std::chrono::seconds(10)};
    std::chrono::milliseconds default_call_timeout{std::chrono::seconds(30)};
    // A bigger message closes the connection with 1009.
    std::size_t max_frame_bytes = 64 * 1024;
    // Calls waiting behind the one in flight; beyond this a call fails at once.
    std::size_t max_queued_calls = 64;
    // Frames waiting to be written; beyond this the peer is taken as not
    // reading and is disconnected.
    std::size_t max_queued_frames = 256;
    // Null: the embedded OCPP 1.6 schemas.
    const SchemaRegistry* schemas = nullptr;
    LogSink log;
};

// Why a certificate and key could not serve TLS (security profile 2).
struct TlsFilesProblem {
    enum class File { Certificate, PrivateKey } file;
    std::string message;  // names the file, e.g. "cert.pem: not a PEM certificate chain (...)"
};

// Loads the pair as CentralSystem::start() does, so a configuration check
// finds what would stop the server: a file that cannot be read, is not PEM,
// or a key that does not belong to the certificate.
std::optional<TlsFilesProblem> check_tls_files(const std::filesystem::path& certificate,
                                               const std::filesystem::path& private_key);

// What is wrong with the dates of the first certificate in `certificate`
// at `now`: "cert.pem: the certificate expired on 2026-01-31T12:00:00Z
// (notAfter); ..." or "... is not valid before ... (notBefore); ...".
// nullopt when it is valid then, or cannot be read (check_tls_files says why).
std::optional<std::string> certificate_date_problem(
    const std::filesystem::path& certificate,
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

enum class HandshakeDecision { Accept, NotFound, Unauthorized };

struct HandshakeRequest {
    std::string_view identity;
    const std::optional<BasicCredentials>& credentials;  // from `Authorization: Basic`
    std::string_view remote_address;
};

// Decides who may connect: NotFound answers 404, Unauthorized 401. Called on
// an I/O thread for every handshake; must be thread-safe and quick.
using HandshakeAuthorizer = std::function<HandshakeDecision(const HandshakeRequest&)>;

// CallOutcome::reason() of a call to a charge point with no connection.
inline constexpr std::string_view kNotConnected = "not connected";

// The end of an outbound call.
struct CallOutcome {
    enum class Kind {
        Result,           // CALLRESULT with a valid payload
        CallError,        // the charger answered CALLERROR
        Timeout,          // no answer in time
        NotConnected,     // no connection for the identity
        InvalidRequest,   // the payload would break the schema; nothing was sent
        InvalidResponse,  // the CALLRESULT payload broke the schema
        Disconnected,     // the connection ended before the answer
        QueueFull,        // too many calls waiting on this connection
    };
    CallOutcome() = default;
    CallOutcome(CallOutcome&& other) noexcept
        : kind(other.kind),
          pool_(std::move(other.pool_)),
          payload(std::move(other.payload)),
          error_code(std::move(other.error_code)),
          message(std::move(other.message)) {}
    CallOutcome& operator=(CallOutcome&& other) noexcept {
        kind = other.kind;
        payload = std::move(other.payload);  // first: it still uses the old pool until now
        pool_ = std::move(other.pool_);
        error_code = std::move(other.error_code);
        message = std::move(other.message);
        return *this;
    }

    Kind kind = Kind::Result;

  private:
    // The payload's memory. An answer is a few dozen bytes; a Document's own
    // pool would take a 64 KiB chunk per call, and returning it makes malloc
    // consolidate (and trim) its heap on every answer of a storm. The pool
    // and its first bytes are one block of 512, which the thread that frees
    // it keeps for the next (the I/O thread, for one answer after another).
    struct Pool {
        Pool() : allocator(first, sizeof first, 512) {}
        alignas(std::max_align_t) char first[448];
        rapidjson::MemoryPoolAllocator<> allocator;
        static void* operator new(std::size_t bytes);
        static void operator delete(void* p, std::size_t bytes) noexcept;
    };
    std::unique_ptr<Pool> pool_ = std::make_unique<Pool>();

  public:
    rapidjson::Document payload{
        &pool_->allocator};  // Result: the CALLRESULT payload; CallError: the details
    std::string error_code;  // CallError: the code as the charger spelled it
    std::string message;     // what went wrong, or the CALLERROR description

    bool ok() const { return kind == Kind::Result; }
    // The reason in the charger's own words where there are any:
    // "NotSupported: <description>", "timeout", "not connected", ...
    std::string reason() const;
};

using CallCallback = std::function<void(CallOutcome)>;

// When a call's maker gives up on it, whether it is sent or not (see
// CentralSystem::call).
using CallDeadline = std::chrono::steady_clock::time_point;

// An inbound handler refusal, sent as a CALLERROR.
struct HandlerError {
    ErrorCode code = ErrorCode::GenericError;
    std::string description;
};

// What the central system does with calls from charge points. on_call runs
// on the connection's I/O thread: calls of one charge point never overlap,
// calls of different charge points may run at once on different threads. It must
// not block; it answers by filling `response` (an empty object to start
// with) or by returning a HandlerError. An exception becomes InternalError.
class CallHandler {
  public:
    virtual ~CallHandler() = default;
    virtual std::optional<HandlerError> on_call(std::string_view identity, std::string_view action,
                                                const rapidjson::Value& payload,
                                                rapidjson::Document& response) = 0;
    // A charge point finished its WebSocket handshake (also when it replaced
    // an older connection of the same identity).
    virtual void on_connected(std::string_view identity) { (void)identity; }
    // The identity has no connection any more. A connection replaced by a
    // newer one of the same identity does not report this.
    virtual void on_disconnected(std::string_view identity, std::string_view reason) {
        (void)identity;
        (void)reason;
    }
};

namespace detail {
struct ServerState;
struct ChargePointSlot;
class SessionBase;
class Listener;
}  // namespace detail

// A charge point's place in a CentralSystem's registry, for a caller that
// calls the same charge points often: a call through it finds the
// connection without a lookup by identity (with thousands of chargers, a
// chain of cache misses per call). It follows the identity across
// reconnects. Valid while the CentralSystem that gave it lives.
class ChargePointHandle {
  public:
    ChargePointHandle() = default;
    explicit operator bool() const { return slot_ != nullptr; }

  private:
    friend class CentralSystem;
    explicit ChargePointHandle(detail::ChargePointSlot* slot) : slot_(slot) {}
    detail::ChargePointSlot* slot_ = nullptr;
};

// Thread-safety: start/stop from one thread; call(), is_connected() and
// connected() from any thread. Runs on the io_contexts the caller gives,
// each of which must be run by exactly one thread: a connection lives on
// one of them and relies on that instead of a strand (a strand doubles the
// scheduler's work for every read and write of a storm). Connections are
// spread over the contexts in turn; accepting runs on the first.
// Callbacks run on those I/O threads.
class CentralSystem {
  public:
    CentralSystem(boost::asio::io_context& io, CentralSystemOptions options,
                  HandshakeAuthorizer authorizer, std::shared_ptr<CallHandler> handler);
    // `contexts` must not be empty; each outlives the CentralSystem.
    CentralSystem(std::vector<boost::asio::io_context*> contexts, CentralSystemOptions options,
                  HandshakeAuthorizer authorizer, std::shared_ptr<CallHandler> handler);
    ~CentralSystem();
    CentralSystem(const CentralSystem&) = delete;
    CentralSystem& operator=(const CentralSystem&) = delete;

    // Binds and listens. Throws std::runtime_error naming the address, or the
    // TLS file that cannot be loaded.
    void start();
    // Stops accepting and closes every connection (a WebSocket close, then
    // the sockets). The io_contexts run out once the closes are done.
    void stop();
    std::uint16_t port() const;

    bool is_connected(std::string_view identity) const;
    std::vector<std::string> connected() const;

    // Sends a CALL to `identity`. The payload is validated against the
    // action's request schema first; the callback gets exactly one outcome,
    // always on an I/O thread, never inside call().
    //
    // One CALL is in flight per connection; the others wait in order.
    // `timeout` (default: options.default_call_timeout) is the charger's
    // time to answer, counted from when the CALL goes on the wire, so time
    // spent queued behind a slow charger's previous call does not eat it.
    // `deadline`, when given, bounds the call as a whole (its maker's own
    // limit): a call still queued then fails Timeout and is never sent, and
    // one in flight fails Timeout at the earlier of the two.
    void call(std::string_view identity, std::string_view action, const rapidjson::Value& payload,
              CallCallback callback, std::optional<std::chrono::milliseconds> timeout = {},
              std::optional<CallDeadline> deadline = {});

    template <class Request>
    requires requires { Request::action; }
    void call(std::string_view identity, const Request& request, CallCallback callback,
              std::optional<std::chrono::milliseconds> timeout = {},
              std::optional<CallDeadline> deadline = {}) {
        JsonArena<> arena;  // a request's JSON fits
        rapidjson::Value json = to_json(request, arena.pool);
        call(identity, Request::action, json, std::move(callback), timeout, deadline);
    }

    // The handle of `identity`, connected or not (yet).
    ChargePointHandle handle(std::string_view identity);

    // As call() above, to the charge point of `to` (which must not be empty).
    void call(const ChargePointHandle& to, std::string_view action, const rapidjson::Value& payload,
              CallCallback callback, std::optional<std::chrono::milliseconds> timeout = {},
              std::optional<CallDeadline> deadline = {});

    template <class Request>
    requires requires { Request::action; }
    void call(const ChargePointHandle& to, const Request& request, CallCallback callback,
              std::optional<std::chrono::milliseconds> timeout = {},
              std::optional<CallDeadline> deadline = {}) {
        JsonArena<> arena;
        rapidjson::Value json = to_json(request, arena.pool);
        call(to, Request::action, json, std::move(callback), timeout, deadline);
    }

  private:
    void call_slot(detail::ChargePointSlot* slot, std::string_view identity,
                   std::string_view action, const rapidjson::Value& payload, CallCallback callback,
                   std::optional<std::chrono::milliseconds> timeout,
                   std::optional<CallDeadline> deadline);

    std::vector<boost::asio::io_context*> contexts_;
    std::shared_ptr<detail::ServerState> state_;
    std::shared_ptr<detail::Listener> listener_;
    std::uint16_t port_ = 0;
};

}  // namespace gridgate::ocpp
