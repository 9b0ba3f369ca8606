// The Modbus TCP client: one connection per host:port, shared by the unit
// ids behind it, with every request serialized on the connection's own
// worker thread. No libmodbus call runs anywhere else, so no libmodbus
// context is touched by two threads and no caller's I/O thread ever blocks.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gridgate/modbus/error.hpp"
#include "gridgate/modbus/expected.hpp"
#include "gridgate/modbus/types.hpp"

// libmodbus's context (modbus_t), kept out of this header.
struct _modbus;

namespace gridgate::modbus {

struct Endpoint {
    std::string host;
    std::uint16_t port = 502;

    /// "host:port"
    std::string str() const { return host + ":" + std::to_string(port); }
    bool operator==(const Endpoint&) const = default;
};

struct ConnectionOptions {
    /// How long to wait for an answer (and for a connect).
    std::chrono::milliseconds response_timeout{1000};
    /// Silence after the TCP connect before the first request (some
    /// gateways drop requests that arrive too early).
    std::chrono::milliseconds delay_after_connect{0};
    /// Silence between the end of one request and the start of the next.
    std::chrono::milliseconds inter_request_delay{0};
    /// Reconnect backoff: first wait, doubled after each failed attempt up to the max.
    std::chrono::milliseconds reconnect_initial{250};
    std::chrono::milliseconds reconnect_max{std::chrono::seconds(30)};
    /// Requests waiting beyond this are refused (submit returns false). As
    /// many finished requests are kept for reuse, so a busy connection does
    /// not allocate per request.
    std::size_t queue_limit = 1024;

    bool operator==(const ConnectionOptions&) const = default;
};

/// A read: `count` registers (or bits) of `table` from `address`.
struct ReadRequest {
    std::uint8_t unit = 1;
    Table table = Table::holding;
    std::uint16_t address = 0;
    std::uint16_t count = 1;
};

/// A write of registers (holding) or bits (coil, values 0/1) from `address`.
/// One value uses FC6/FC5 unless `write_multiple`; several use FC16/FC15, so a
/// 32-bit point is always written in one request.
struct WriteRequest {
    std::uint8_t unit = 1;
    Table table = Table::holding;
    std::uint16_t address = 0;
    std::vector<std::uint16_t> values;
    bool write_multiple = false;
};

/// Registers (or 0/1 bits) read, in address order.
using ReadResult = Expected<std::vector<std::uint16_t>, ModbusError>;
using ReadHandler = std::function<void(ReadResult)>;
/// No error = the device acknowledged the write.
using WriteHandler = std::function<void(std::optional<ModbusError>)>;
/// Makes the writes of a job when its turn comes (see write_planned()).
using WritePlanner = std::function<std::vector<WriteRequest>()>;
/// Called with true when the connection comes up, false when it goes down.
using StateHandler = std::function<void(bool connected)>;

/// One TCP connection to a Modbus server (a device or a gateway).
///
/// Thread-safety: every public member may be called from any thread. The
/// worker thread owns the libmodbus context; handlers run on the worker, one
/// at a time, in request order, and must not block it for long (post the
/// result where it is needed). A handler must not call unsubscribe(); it may
/// drop the last reference to the connection (the worker then winds down on
/// its own).
///
/// After a timeout or a broken answer the connection is closed and opened
/// again before the next request, so a late reply can never be taken as the
/// answer to a later request. Failed connects are retried with exponential
/// backoff; requests submitted while the connection is down fail at once with
/// a retryable `not_connected` error.
class ModbusConnection {
  public:
    ModbusConnection(Endpoint endpoint, ConnectionOptions options);
    ~ModbusConnection();

    ModbusConnection(const ModbusConnection&) = delete;
    ModbusConnection& operator=(const ModbusConnection&) = delete;

    const Endpoint& endpoint() const noexcept { return endpoint_; }
    const ConnectionOptions& options() const noexcept { return options_; }

    /// Queues a request. Returns false, without ever calling the handler,
    /// when the connection is stopped or its queue is full; otherwise the
    /// handler is called exactly once on the worker.
    bool read(const ReadRequest& request, ReadHandler handler);
    bool write(WriteRequest request, WriteHandler handler);
    /// Writes `writes` in order as one job: no other request on this
    /// connection runs between them (pre-writes stay next to their
    /// setpoint), and the first failure ends the sequence. With `verify`,
    /// each write is read back and a difference fails it with a
    /// non-retryable `verify_mismatch`. Returns false for an empty sequence.
    bool write_sequence(std::vector<WriteRequest> writes, WriteHandler handler,
                        bool verify = false);
    /// As write_sequence(), but the writes are asked of `plan` on the worker
    /// just before they go out, not when the job is queued: a caller that
    /// keeps changing what it wants while the job waits (a battery's latest
    /// setpoint) sends its latest wish once. `plan` must not block; an empty
    /// sequence completes at once with success. `unit` names the job in
    /// error messages until it is planned.
    bool write_planned(std::uint8_t unit, WritePlanner plan, WriteHandler handler,
                       bool verify = false);

    /// True while the TCP connection is up and the last request did not fail
    /// at the transport level.
    bool connected() const noexcept;

    /// Subscribes to connection state changes. The handler is called at once
    /// (on the caller's thread) with the current state, then on the worker
    /// with each change. Returns an id for unsubscribe(), after which the
    /// handler is never called again.
    int subscribe(StateHandler handler);
    void unsubscribe(int id);

    /// Stops the worker; queued requests fail with a `shutdown` error.
    /// Idempotent. Waits for the worker unless called from a handler.
    void stop();
    /// Asks the worker to stop and returns at once: the request on the wire
    /// finishes (up to a response timeout), the queued ones then fail with
    /// `shutdown`. Stopping many connections, ask each first and then
    /// stop() each, so their last requests run out together. Idempotent.
    void request_stop();

    /// The worker's state. Shared by the worker thread, so the connection
    /// may even be destroyed from one of its own handlers (the last holder
    /// of a shared_ptr letting go there): the worker then winds down alone.
    struct Core;

  private:
    const Endpoint endpoint_;
    const ConnectionOptions options_;
    std::shared_ptr<Core> core_;
    std::thread worker_;
};

/// Hands out one shared connection per host:port.
///
/// Thread-safe. Connections live as long as someone holds them.
class ConnectionPool {
  public:
    /// The connection to `endpoint`, made if none is alive. Devices behind
    /// one host:port share its options: asking with different ones fails,
    /// naming the endpoint and the differing option.
    Expected<std::shared_ptr<ModbusConnection>> get(const Endpoint& endpoint,
                                                    const ConnectionOptions& options);

  private:
    std::mutex mutex_;
    std::map<std::string, std::weak_ptr<ModbusConnection>> connections_;
};

}  // namespace gridgate::modbus
