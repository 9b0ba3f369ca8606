#include "gridgate/modbus/error.hpp"

#include <cerrno>
#include <cstring>

#include <modbus/modbus.h>

namespace gridgate::modbus {

std::string exception_name(int code) {
    return exception_title(code) + " (exception " + std::to_string(code) + ")";
}

std::string exception_title(int code) {
    const char* name = nullptr;
    switch (code) {
        case 1:
            name = "Illegal function";
            break;
        case 2:
            name = "Illegal data address";
            break;
        case 3:
            name = "Illegal data value";
            break;
        case 4:
            name = "Server device failure";
            break;
        case 5:
            name = "Acknowledge";
            break;
        case 6:
            name = "Server device busy";
            break;
        case 7:
            name = "Negative acknowledge";
            break;
        case 8:
            name = "Memory parity error";
            break;
        case 10:
            name = "Gateway path unavailable";
            break;
        case 11:
            name = "Gateway target device failed to respond";
            break;
        default:
            name = "Unknown exception";
            break;
    }
    return name;
}

ModbusError error_from_errno(int error_number, const std::string& what) {
    ModbusError error;
    const int code = error_number - MODBUS_ENOBASE;
    if (code >= 1 && code <= 11 && error_number != EMBBADCRC) {
        error.kind = ErrorKind::exception;
        error.exception_code = code;
        error.retryable = exception_is_retryable(code);
        error.message = what + ": " + exception_name(code);
        if (!error.retryable) error.message += "; retrying will not help";
        return error;
    }
    if (error_number == ETIMEDOUT) {
        error.kind = ErrorKind::timeout;
        error.message = what + ": timeout";
        return error;
    }
    // libmodbus's own codes past the exceptions: the device answered, but
    // not with anything that fits the request.
    error.kind = error_number >= MODBUS_ENOBASE ? ErrorKind::bad_reply : ErrorKind::transport;
    error.message = what + ": " + modbus_strerror(error_number);
    return error;
}

}  // namespace gridgate::modbus
