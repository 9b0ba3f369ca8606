// Shared by the modbus tests: waiting on conditions with a deadline and
// blocking wrappers around the asynchronous client.
#pragma once

#include <chrono>
#include <functional>
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "gridgate/modbus/connection.hpp"

namespace gridgate::modbus::testing {

using namespace std::chrono_literals;

/// Polls `condition` until it holds or `timeout` passes.
inline bool eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds timeout = 3s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (condition()) return true;
        std::this_thread::sleep_for(2ms);
    }
    return condition();
}

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
