#include <string>

#include "gridgate/modbus/connection.hpp"

namespace gridgate::modbus {
namespace {

std::string ms(std::chrono::milliseconds d) {
    return std::to_string(d.count()) + " ms";
}

/// The first option two devices on one host:port disagree on, if any.
std::string first_difference(const ConnectionOptions& a, const ConnectionOptions& b) {
    if (a.response_timeout != b.response_timeout) {
        return "response timeout (" + ms(a.response_timeout) + " vs " + ms(b.response_timeout) +
               ")";
    }
    if (a.delay_after_connect != b.delay_after_connect) {
        return "delay_after_connect (" + ms(a.delay_after_connect) + " vs " +
               ms(b.delay_after_connect) + ")";
    }
    if (a.inter_request_delay != b.inter_request_delay) {
        return "inter_request_delay (" + ms(a.inter_request_delay) + " vs " +
               ms(b.inter_request_delay) + ")";
    }
    if (a.reconnect_initial != b.reconnect_initial || a.reconnect_max != b.reconnect_max) {
        return "reconnect backoff";
    }
    if (a.queue_limit != b.queue_limit) return "queue limit";
    return {};
}

}  // namespace

Expected<std::shared_ptr<ModbusConnection>> ConnectionPool::get(const Endpoint& endpoint,
                                                                const ConnectionOptions& options) {
    std::lock_guard lock(mutex_);
    auto& slot = connections_[endpoint.str()];
    if (auto existing = slot.lock()) {
        if (existing->options() == options) return existing;
        return Expected<std::shared_ptr<ModbusConnection>>::failure(
            "devices on " + endpoint.str() + " share one connection but differ in " +
            first_difference(existing->options(), options));
    }
    auto connection = std::make_shared<ModbusConnection>(endpoint, options);
    slot = connection;
    return connection;
}

}  // namespace gridgate::modbus
