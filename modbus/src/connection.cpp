#include "gridgate/modbus/connection.hpp"

#include <cerrno>
#include <utility>

#include <modbus/modbus.h>

namespace gridgate::modbus {

using Clock = std::chrono::steady_clock;

struct ModbusConnection::Job {
    bool is_read = true;
    ReadRequest read;
    WriteRequest write;
    ReadHandler on_read;
    WriteHandler on_write;

    std::uint8_t unit() const { return is_read ? read.unit : write.unit; }

    void fail(ModbusError error) {
        if (is_read) {
            on_read(ReadResult::failure(std::move(error)));
        } else {
            on_write(std::move(error));
        }
    }
};

namespace {

std::string span_text(Table table, std::uint16_t address, std::size_t count) {
    std::string text = std::string(to_string(table)) + " " + std::to_string(address);
    if (count > 1) text += ".." + std::to_string(address + count - 1);
    return text;
}

void set_timeout(modbus_t* ctx, std::chrono::milliseconds timeout,
                 int (*setter)(modbus_t*, uint32_t, uint32_t)) {
    const auto ms = timeout.count() > 0 ? timeout.count() : 1;
    setter(ctx, static_cast<uint32_t>(ms / 1000), static_cast<uint32_t>((ms % 1000) * 1000));
}

}  // namespace

void ModbusConnection::ContextDeleter::operator()(::_modbus* ctx) const noexcept {
    modbus_close(ctx);
    modbus_free(ctx);
}

ModbusConnection::ModbusConnection(Endpoint endpoint, ConnectionOptions options)
    : endpoint_(std::move(endpoint)), options_(options) {
    worker_ = std::thread([this] { run(); });
}

ModbusConnection::~ModbusConnection() {
    stop();
}

bool ModbusConnection::read(const ReadRequest& request, ReadHandler handler) {
    auto job = std::make_unique<Job>();
    job->is_read = true;
    job->read = request;
    job->on_read = std::move(handler);
    {
        std::lock_guard lock(mutex_);
        if (stopping_ || queue_.size() >= options_.queue_limit) return false;
        queue_.push_back(std::move(job));
    }
    wakeup_.notify_one();
    return true;
}

bool ModbusConnection::write(WriteRequest request, WriteHandler handler) {
    auto job = std::make_unique<Job>();
    job->is_read = false;
    job->write = std::move(request);
    job->on_write = std::move(handler);
    {
        std::lock_guard lock(mutex_);
        if (stopping_ || queue_.size() >= options_.queue_limit) return false;
        queue_.push_back(std::move(job));
    }
    wakeup_.notify_one();
    return true;
}

bool ModbusConnection::connected() const noexcept {
    return up_.load(std::memory_order_acquire);
}

int ModbusConnection::subscribe(StateHandler handler) {
    std::lock_guard lock(state_mutex_);
    const int id = next_subscriber_++;
    // Told the current state under the same lock as every change, so the
    // subscriber neither misses nor repeats a transition.
    handler(up_.load(std::memory_order_acquire));
    subscribers_.emplace(id, std::move(handler));
    return id;
}

void ModbusConnection::unsubscribe(int id) {
    std::lock_guard lock(state_mutex_);
    subscribers_.erase(id);
}

void ModbusConnection::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wakeup_.notify_all();
    if (worker_.joinable() && worker_.get_id() != std::this_thread::get_id()) worker_.join();
}

template <typename Pred>
void ModbusConnection::wait_until(Clock::time_point deadline, Pred wake) {
    std::unique_lock lock(mutex_);
    wakeup_.wait_until(lock, deadline, [&] { return stopping_ || wake(); });
}

void ModbusConnection::run() {
    const auto stopping = [this] {
        std::lock_guard lock(mutex_);
        return stopping_;
    };
    while (!stopping()) {
        if (!socket_open_) {
            if (Clock::now() < next_attempt_) {
                fail_queued(ErrorKind::not_connected,
                            "not connected (" + last_connect_error_ + ")");
                wait_until(next_attempt_, [this] { return !queue_.empty(); });
                continue;
            }
            if (!connect_now()) {
                fail_queued(ErrorKind::not_connected,
                            "not connected (" + last_connect_error_ + ")");
            }
            continue;
        }
        std::unique_ptr<Job> job;
        {
            std::unique_lock lock(mutex_);
            wakeup_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (stopping_) break;
            job = std::move(queue_.front());
            queue_.pop_front();
        }
        if (Clock::now() < quiet_until_) {
            wait_until(quiet_until_, [] { return false; });
            if (stopping()) {
                job->fail({ErrorKind::shutdown, 0, true, endpoint_.str() + ": connection stopped"});
                break;
            }
        }
        execute(*job);
        quiet_until_ = Clock::now() + options_.inter_request_delay;
    }
    fail_queued(ErrorKind::shutdown, "connection stopped");
    disconnect(true);
}

bool ModbusConnection::connect_now() {
    if (!ctx_) {
        const std::string port = std::to_string(endpoint_.port);
        ctx_.reset(modbus_new_tcp_pi(endpoint_.host.c_str(), port.c_str()));
        if (!ctx_) {
            last_connect_error_ = modbus_strerror(errno);
            next_attempt_ = Clock::time_point::max();
            return false;
        }
        set_timeout(ctx_.get(), options_.response_timeout, modbus_set_response_timeout);
        // libmodbus waits for the rest of a frame with the byte timeout; with
        // none it would wait forever on a peer that stalls mid-frame.
        set_timeout(ctx_.get(), options_.response_timeout, modbus_set_byte_timeout);
    }
    if (modbus_connect(ctx_.get()) == -1) {
        last_connect_error_ = std::string("connect failed: ") + modbus_strerror(errno);
        modbus_close(ctx_.get());
        backoff_ = backoff_.count() == 0 ? options_.reconnect_initial
                                         : std::min(backoff_ * 2, options_.reconnect_max);
        next_attempt_ = Clock::now() + backoff_;
        set_state(false);
        return false;
    }
    socket_open_ = true;
    backoff_ = std::chrono::milliseconds{0};
    if (options_.delay_after_connect.count() > 0) {
        wait_until(Clock::now() + options_.delay_after_connect, [] { return false; });
    }
    quiet_until_ = Clock::time_point{};
    set_state(true);
    return true;
}

void ModbusConnection::disconnect(bool notify) {
    if (ctx_ && socket_open_) modbus_close(ctx_.get());
    socket_open_ = false;
    if (notify) set_state(false);
}

void ModbusConnection::execute(Job& job) {
    modbus_t* ctx = ctx_.get();
    modbus_set_slave(ctx, job.unit());
    // Names the request in errors; built only when one occurs.
    const auto what = [&] { return describe(job); };
    int rc = -1;
    int error_number = 0;
    std::vector<std::uint16_t> data;

    const auto invalid = [&](const std::string& why) {
        job.fail({ErrorKind::invalid_request, 0, false, what() + ": " + why});
    };

    if (job.is_read) {
        const ReadRequest& r = job.read;
        const std::uint16_t limit =
            is_bit_table(r.table) ? max_bits_per_read : max_registers_per_read;
        if (r.count == 0 || r.count > limit || r.address + std::size_t{r.count} > 65536) {
            invalid("a read covers 1 to " + std::to_string(limit) +
                    " items within the address space");
            return;
        }
        data.resize(r.count);
        if (is_bit_table(r.table)) {
            std::vector<std::uint8_t> bits(r.count);
            rc = r.table == Table::coil
                     ? modbus_read_bits(ctx, r.address, r.count, bits.data())
                     : modbus_read_input_bits(ctx, r.address, r.count, bits.data());
            for (std::size_t i = 0; i < bits.size(); ++i) data[i] = bits[i] != 0 ? 1 : 0;
        } else {
            rc = r.table == Table::holding
                     ? modbus_read_registers(ctx, r.address, r.count, data.data())
                     : modbus_read_input_registers(ctx, r.address, r.count, data.data());
        }
    } else {
        const WriteRequest& w = job.write;
        const bool bits = w.table == Table::coil;
        const std::size_t limit = bits ? 1968 : 123;
        if (!is_writable(w.table)) {
            invalid(std::string(to_string(w.table)) + " table is read-only");
            return;
        }
        if (w.values.empty() || w.values.size() > limit || w.address + w.values.size() > 65536) {
            invalid("a write covers 1 to " + std::to_string(limit) +
                    " items within the address space");
            return;
        }
        const bool single = w.values.size() == 1 && !w.write_multiple;
        const int count = static_cast<int>(w.values.size());
        if (bits) {
            if (single) {
                rc = modbus_write_bit(ctx, w.address, w.values[0] != 0 ? 1 : 0);
            } else {
                std::vector<std::uint8_t> raw(w.values.size());
                for (std::size_t i = 0; i < raw.size(); ++i) raw[i] = w.values[i] != 0 ? 1 : 0;
                rc = modbus_write_bits(ctx, w.address, count, raw.data());
            }
        } else {
            rc = single ? modbus_write_register(ctx, w.address, w.values[0])
                        : modbus_write_registers(ctx, w.address, count, w.values.data());
        }
    }
    if (rc == -1) error_number = errno;

    if (rc == -1) {
        ModbusError error = error_from_errno(error_number, what());
        if (error.kind != ErrorKind::exception) {
            // Re-open before the next request: whatever the device still
            // sends on this socket belongs to a request we gave up on.
            disconnect(true);
            next_attempt_ = Clock::now();
        }
        job.fail(std::move(error));
        return;
    }
    set_state(true);
    if (job.is_read) {
        job.on_read(std::move(data));
    } else {
        job.on_write(std::nullopt);
    }
}

std::string ModbusConnection::describe(const Job& job) const {
    std::string text = endpoint_.str() + " unit " + std::to_string(job.unit());
    if (job.is_read)
        return text + " read " + span_text(job.read.table, job.read.address, job.read.count);
    return text + " write " +
           span_text(job.write.table, job.write.address, job.write.values.size());
}

void ModbusConnection::set_state(bool up) {
    if (up_.load(std::memory_order_acquire) == up) return;  // only the worker changes it
    std::lock_guard lock(state_mutex_);
    up_.store(up, std::memory_order_release);
    for (auto& [id, handler] : subscribers_) handler(up);
}

void ModbusConnection::fail_queued(ErrorKind kind, const std::string& why) {
    std::deque<std::unique_ptr<Job>> jobs;
    {
        std::lock_guard lock(mutex_);
        jobs.swap(queue_);
    }
    for (auto& job : jobs) {
        job->fail({kind, 0, true, describe(*job) + ": " + why});
    }
}

}  // namespace gridgate::modbus
