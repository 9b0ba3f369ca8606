// Shared by the modbus tests: waiting on conditions with a deadline and
// blocking wrappers around the asynchronous client.
#pragma once

#include <chrono>
#include <functional>
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "eventually.hpp"
#include "gridgate/modbus/connection.hpp"

namespace gridgate::modbus::testing {

using namespace std::chrono_literals;

using test::eventually;

inline ReadResult read_sync(ModbusConnection& c, const ReadRequest& r) {
    auto promise = std::make_shared<std::promise<ReadResult>>();
    auto future = promise->get_future();
    if (!c.read(r, [promise](ReadResult result) { promise->set_value(std::move(result)); })) {
        return ReadResult::failure({ErrorKind::shutdown, 0, true, "refused"});
    }
    if (future.wait_for(10s) != std::future_status::ready) {
        ADD_FAILURE() << "read never completed";
        return ReadResult::failure({ErrorKind::timeout, 0, true, "test timeout"});
    }
    return future.get();
}

inline std::optional<ModbusError> write_sync(ModbusConnection& c, WriteRequest w) {
    auto promise = std::make_shared<std::promise<std::optional<ModbusError>>>();
    auto future = promise->get_future();
    if (!c.write(std::move(w),
                 [promise](std::optional<ModbusError> e) { promise->set_value(std::move(e)); })) {
        return ModbusError{ErrorKind::shutdown, 0, true, "refused"};
    }
    if (future.wait_for(10s) != std::future_status::ready) {
        ADD_FAILURE() << "write never completed";
        return ModbusError{ErrorKind::timeout, 0, true, "test timeout"};
    }
    return future.get();
}

inline ConnectionOptions fast_options() {
    ConnectionOptions o;
    o.response_timeout = 300ms;
    o.reconnect_initial = 20ms;
    o.reconnect_max = 200ms;
    return o;
}

}  // namespace gridgate::modbus::testing
