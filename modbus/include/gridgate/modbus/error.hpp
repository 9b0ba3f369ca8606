// Failures of Modbus requests, classified: the device's exception (with its
// name and code), timeouts, transport errors and not being connected, each
// saying whether retrying can help and naming host:port, unit and register.
#pragma once

#include <cstdint>
#include <string>

namespace gridgate::modbus {

/// What kind of failure a request met.
enum class ErrorKind {
    exception,           ///< the device answered with a Modbus exception
    timeout,             ///< no answer within the response timeout
    not_connected,       ///< no TCP connection to the device
    transport,           ///< the connection broke under the request
    bad_reply,           ///< an answer that does not fit the request (malformed, wrong
                         ///< transaction id or unit, unknown exception code)
    shutdown,            ///< the connection was stopped before the request ran
    invalid_request,     ///< the request cannot be sent (count or address out of range)
    verify_mismatch,     ///< a written value read back differently
    verify_read_failed,  ///< the write was acknowledged, but its read-back was
                         ///< answered with an exception (exception_code)
};

struct ModbusError {
    ErrorKind kind = ErrorKind::transport;
    /// The Modbus exception code for kind == exception, else 0.
    int exception_code = 0;
    /// False for exceptions 1, 2 and 3: the request itself is wrong for this
    /// device (configuration error), so sending it again cannot help.
    bool retryable = true;
    /// Full message: "127.0.0.1:1502 unit 1 write holding 100..101: Illegal
    /// data address (exception 2); retrying will not help".
    std::string message;
};

/// The name of a Modbus exception code: "Illegal data address (exception 2)".
std::string exception_name(int code);
/// The bare name, as a command's error carries it: "Illegal data address".
std::string exception_title(int code);

/// Exceptions 1 (illegal function), 2 (illegal data address) and 3 (illegal
/// data value) say the request is wrong; everything else may pass on retry.
constexpr bool exception_is_retryable(int code) noexcept {
    return code < 1 || code > 3;
}

/// Classifies a libmodbus errno (exception codes are MODBUS_ENOBASE + code).
/// `what` names the request: "127.0.0.1:1502 unit 1 read input 200..203".
ModbusError error_from_errno(int error_number, const std::string& what);

}  // namespace gridgate::modbus
