#include "gridgate/modbus/connection.hpp"

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <utility>

#include <modbus/modbus.h>

namespace gridgate::modbus {

using Clock = std::chrono::steady_clock;

namespace {

/// One queued request. Jobs are recycled (see Core::spare_), so a busy
/// connection makes no heap allocation per request once its pool is warm.
struct Job {
    bool is_read = true;
    ReadRequest read;
    /// Written in order, nothing else in between; one for a plain write.
    std::vector<WriteRequest> writes;
    /// Set for write_planned(): fills `writes` when the job's turn comes.
    WritePlanner plan;
    bool verify = false;
    ReadHandler on_read;
    WriteHandler on_write;

    void fail(ModbusError error) {
        if (is_read) {
            on_read(ReadResult::failure(std::move(error)));
        } else {
            on_write(std::move(error));
        }
    }
    /// Lets go of the handler at once, as a finished request would: what it
    /// captured (even the connection itself) must not outlive the call.
    void release_handlers() noexcept {
        on_read = nullptr;
        on_write = nullptr;
        plan = nullptr;
    }
};

using JobList = std::vector<std::unique_ptr<Job>>;

}  // namespace

struct ModbusConnection::Core {
    Core(Endpoint endpoint, ConnectionOptions options)
        : endpoint_(std::move(endpoint)), options_(options) {}

    /// Queues a job that `fill` sets up (under the queue lock, on a
    /// recycled job when one is spare). False when stopped or full.
    template <typename Fill>
    bool enqueue(Fill&& fill);
    /// Hands finished jobs back for reuse; call with mutex_ held. What does
    /// not fit the pool stays in `done`, to be freed outside the lock.
    void recycle(JobList& done);
    bool connected() const noexcept { return up_.load(std::memory_order_acquire); }
    int subscribe(StateHandler handler);
    void unsubscribe(int id);
    void request_stop();

    void run();
    bool connect_now();
    void disconnect(bool notify);
    void execute(Job& job);
    std::optional<ModbusError> perform(const ReadRequest& read, std::vector<std::uint16_t>& data);
    std::optional<ModbusError> perform(const WriteRequest& write);
    /// Classifies a libmodbus failure and re-opens after transport errors.
    std::optional<ModbusError> failed(int error_number, const std::string& what);
    /// Waits inter_request_delay; false if the connection stopped meanwhile.
    bool keep_silence();
    std::string describe(const ReadRequest& read) const;
    std::string describe(const WriteRequest& write) const;
    void set_state(bool up);
    /// "host:port unit U read|write TABLE FIRST..LAST", for error messages.
    std::string describe(const Job& job) const;
    void fail_queued(ErrorKind kind, const std::string& why);
    /// Waits on the queue until `deadline`, `wake` returns true or stop.
    template <typename Pred>
    void wait_until(std::chrono::steady_clock::time_point deadline, Pred wake);

    const Endpoint endpoint_;
    const ConnectionOptions options_;

    mutable std::mutex mutex_;  // guards queue_, spare_, stopping_
    std::condition_variable wakeup_;
    /// Waiting jobs, oldest first. The worker swaps the whole vector out, so
    /// both sides keep its capacity and neither allocates per request.
    JobList queue_;
    /// Finished jobs kept for reuse, at most queue_limit of them.
    JobList spare_;
    bool stopping_ = false;
    std::atomic<bool> stop_requested_{false};  // stopping_, readable without the lock

    std::mutex state_mutex_;  // guards subscribers_, serializes state handlers
    std::map<int, StateHandler> subscribers_;
    int next_subscriber_ = 1;
    std::atomic<bool> up_{false};

    // Worker-only.
    struct ContextDeleter {
        void operator()(::_modbus* ctx) const noexcept;
    };
    std::unique_ptr<::_modbus, ContextDeleter> ctx_;
    bool socket_open_ = false;
    std::chrono::milliseconds backoff_{0};
    std::chrono::steady_clock::time_point next_attempt_{};
    std::chrono::steady_clock::time_point quiet_until_{};
    std::string last_connect_error_ = "not yet connected";
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

void ModbusConnection::Core::ContextDeleter::operator()(::_modbus* ctx) const noexcept {
    modbus_close(ctx);
    modbus_free(ctx);
}

template <typename Fill>
bool ModbusConnection::Core::enqueue(Fill&& fill) {
    std::lock_guard lock(mutex_);
    if (stopping_ || queue_.size() >= options_.queue_limit) return false;
    std::unique_ptr<Job> job;
    if (spare_.empty()) {
        job = std::make_unique<Job>();
    } else {
        job = std::move(spare_.back());
        spare_.pop_back();
    }
    // Only moves and copies of plain data: no user code runs under the lock.
    fill(*job);
    const bool was_empty = queue_.empty();
    queue_.push_back(std::move(job));
    // The worker only ever sleeps on an empty queue, so only the first job
    // of a burst needs to wake it. Notified under the lock: once it is let
    // go, the job may run and its handler drop the last reference to the
    // connection, and the worker then frees this core, condition variable
    // and all.
    if (was_empty) wakeup_.notify_one();
    return true;
}

void ModbusConnection::Core::recycle(JobList& done) {
    while (!done.empty() && spare_.size() < options_.queue_limit) {
        spare_.push_back(std::move(done.back()));
        done.pop_back();
    }
}

ModbusConnection::ModbusConnection(Endpoint endpoint, ConnectionOptions options)
    : endpoint_(endpoint), options_(options), core_(std::make_shared<Core>(endpoint, options)) {
    worker_ = std::thread([core = core_] { core->run(); });
}

ModbusConnection::~ModbusConnection() {
    stop();
}

bool ModbusConnection::read(const ReadRequest& request, ReadHandler handler) {
    return core_->enqueue([&](Job& job) {
        job.is_read = true;
        job.read = request;
        job.plan = nullptr;
        job.on_read = std::move(handler);
    });
}

bool ModbusConnection::write(WriteRequest request, WriteHandler handler) {
    return core_->enqueue([&](Job& job) {
        job.is_read = false;
        job.verify = false;
        job.plan = nullptr;
        job.writes.resize(1);
        WriteRequest& w = job.writes.front();
        w.unit = request.unit;
        w.table = request.table;
        w.address = request.address;
        w.write_multiple = request.write_multiple;
        // Into the recycled job's own buffer: the caller's is freed on the
        // caller's thread, and the worker frees nothing per request.
        w.values.assign(request.values.begin(), request.values.end());
        job.on_write = std::move(handler);
    });
}

bool ModbusConnection::write_sequence(std::vector<WriteRequest> writes, WriteHandler handler,
                                      bool verify) {
    if (writes.empty()) return false;
    return core_->enqueue([&](Job& job) {
        job.is_read = false;
        job.verify = verify;
        job.plan = nullptr;
        job.writes = std::move(writes);
        job.on_write = std::move(handler);
    });
}

bool ModbusConnection::write_planned(std::uint8_t unit, WritePlanner plan, WriteHandler handler,
                                     bool verify) {
    if (!plan) return false;
    return core_->enqueue([&](Job& job) {
        job.is_read = false;
        job.verify = verify;
        job.read.unit = unit;  // for describe() until the plan is made
        job.writes.clear();
        job.plan = std::move(plan);
        job.on_write = std::move(handler);
    });
}

bool ModbusConnection::connected() const noexcept {
    return core_->connected();
}

int ModbusConnection::subscribe(StateHandler handler) {
    return core_->subscribe(std::move(handler));
}

void ModbusConnection::unsubscribe(int id) {
    core_->unsubscribe(id);
}

void ModbusConnection::request_stop() {
    core_->request_stop();
}

void ModbusConnection::stop() {
    core_->request_stop();
    if (!worker_.joinable()) return;
    if (worker_.get_id() == std::this_thread::get_id()) {
        // Stopped (or destroyed) from one of our own handlers: the worker
        // holds the core and finishes on its own once the handler returns.
        worker_.detach();
    } else {
        worker_.join();
    }
}

int ModbusConnection::Core::subscribe(StateHandler handler) {
    std::lock_guard lock(state_mutex_);
    const int id = next_subscriber_++;
    // Told the current state under the same lock as every change, so the
    // subscriber neither misses nor repeats a transition.
    handler(up_.load(std::memory_order_acquire));
    subscribers_.emplace(id, std::move(handler));
    return id;
}

void ModbusConnection::Core::unsubscribe(int id) {
    std::lock_guard lock(state_mutex_);
    subscribers_.erase(id);
}

void ModbusConnection::Core::request_stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        stop_requested_.store(true, std::memory_order_release);
    }
    wakeup_.notify_all();
}

template <typename Pred>
void ModbusConnection::Core::wait_until(Clock::time_point deadline, Pred wake) {
    std::unique_lock lock(mutex_);
    wakeup_.wait_until(lock, deadline, [&] { return stopping_ || wake(); });
}

void ModbusConnection::Core::run() {
    const auto stopping = [this] { return stop_requested_.load(std::memory_order_acquire); };
    // A zero inter_request_delay costs nothing: no clock read per request.
    const bool paced = options_.inter_request_delay.count() > 0;
    JobList batch;
    JobList done;
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
        {
            // Take everything waiting at once: callers queueing while the
            // worker runs do not contend with it for every request, and the
            // jobs of the last batch go back to the pool under the same lock.
            std::unique_lock lock(mutex_);
            recycle(done);
            wakeup_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (stopping_) break;
            batch.swap(queue_);
        }
        done.clear();  // whatever the pool had no room for
        std::size_t next = 0;
        while (next < batch.size() && socket_open_ && !stopping()) {
            Job& job = *batch[next];
            if (paced && Clock::now() < quiet_until_) {
                wait_until(quiet_until_, [] { return false; });
                if (stopping()) {
                    job.fail(
                        {ErrorKind::shutdown, 0, true, describe(job) + ": connection stopped"});
                    job.release_handlers();
                    done.push_back(std::move(batch[next++]));
                    break;
                }
            }
            execute(job);
            if (paced) quiet_until_ = Clock::now() + options_.inter_request_delay;
            job.release_handlers();
            done.push_back(std::move(batch[next++]));
        }
        if (next < batch.size()) {
            // The connection broke (or is stopping): the rest go back, in
            // order and ahead of anything queued since, for the reconnect or
            // the shutdown below to handle.
            std::lock_guard lock(mutex_);
            queue_.insert(queue_.begin(), std::make_move_iterator(batch.begin() + next),
                          std::make_move_iterator(batch.end()));
        }
        batch.clear();
    }
    fail_queued(ErrorKind::shutdown, "connection stopped");
    disconnect(true);
}

bool ModbusConnection::Core::connect_now() {
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
        const int error_number = errno;
        modbus_close(ctx_.get());
        backoff_ = backoff_.count() == 0 ? options_.reconnect_initial
                                         : std::min(backoff_ * 2, options_.reconnect_max);
        // libmodbus connects without blocking and waits for the socket with
        // the response timeout; when that runs out it leaves errno at
        // EINPROGRESS, whose text ("Operation now in progress") would hide
        // that the device never answered.
        const std::string cause =
            error_number == EINPROGRESS
                ? "no answer within " + std::to_string(options_.response_timeout.count()) + " ms"
                : std::string(modbus_strerror(error_number));
        last_connect_error_ = "connect failed: " + cause + "; next attempt in " +
                              std::to_string(backoff_.count()) + " ms";
        next_attempt_ = Clock::now() + backoff_;
        set_state(false);
        return false;
    }
    socket_open_ = true;
    // backoff_ stays until a request gets an answer: a device that accepts
    // connections but fails every request is retried at a growing interval.
    if (options_.delay_after_connect.count() > 0) {
        wait_until(Clock::now() + options_.delay_after_connect, [] { return false; });
    }
    quiet_until_ = Clock::time_point{};
    set_state(true);
    return true;
}

void ModbusConnection::Core::disconnect(bool notify) {
    if (ctx_ && socket_open_) modbus_close(ctx_.get());
    socket_open_ = false;
    if (notify) set_state(false);
}

std::string ModbusConnection::Core::describe(const ReadRequest& r) const {
    return endpoint_.str() + " unit " + std::to_string(r.unit) + " read " +
           span_text(r.table, r.address, r.count);
}

std::string ModbusConnection::Core::describe(const WriteRequest& w) const {
    return endpoint_.str() + " unit " + std::to_string(w.unit) + " write " +
           span_text(w.table, w.address, w.values.size());
}

std::string ModbusConnection::Core::describe(const Job& job) const {
    if (job.is_read) return describe(job.read);
    if (job.writes.empty()) {
        return endpoint_.str() + " unit " + std::to_string(job.read.unit) + " write";
    }
    return describe(job.writes.front());
}

std::optional<ModbusError> ModbusConnection::Core::failed(int error_number,
                                                          const std::string& what) {
    ModbusError error = error_from_errno(error_number, what);
    if (error.kind == ErrorKind::exception) {
        backoff_ = std::chrono::milliseconds{0};  // the device answered
        return error;
    }
    // Re-open before the next request: whatever the device still sends on
    // this socket belongs to a request we gave up on. At once after a
    // connection that worked (a device may close an idle one); after one
    // that failed before any answer, at the connect's growing interval.
    disconnect(true);
    if (backoff_.count() == 0) {
        backoff_ = options_.reconnect_initial;
        next_attempt_ = Clock::now();
        last_connect_error_ = error.message;
    } else {
        backoff_ = std::min(backoff_ * 2, options_.reconnect_max);
        next_attempt_ = Clock::now() + backoff_;
        last_connect_error_ =
            error.message + "; next attempt in " + std::to_string(backoff_.count()) + " ms";
    }
    return error;
}

std::optional<ModbusError> ModbusConnection::Core::perform(const ReadRequest& r,
                                                           std::vector<std::uint16_t>& data) {
    const std::uint16_t limit = is_bit_table(r.table) ? max_bits_per_read : max_registers_per_read;
    if (r.count == 0 || r.count > limit || r.address + std::size_t{r.count} > 65536) {
        return ModbusError{ErrorKind::invalid_request, 0, false,
                           describe(r) + ": a read covers 1 to " + std::to_string(limit) +
                               " items within the address space"};
    }
    if (!socket_open_) {
        return ModbusError{ErrorKind::not_connected, 0, true, describe(r) + ": not connected"};
    }
    modbus_t* ctx = ctx_.get();
    modbus_set_slave(ctx, r.unit);
    data.resize(r.count);
    int rc = -1;
    if (is_bit_table(r.table)) {
        std::vector<std::uint8_t> bits(r.count);
        rc = r.table == Table::coil ? modbus_read_bits(ctx, r.address, r.count, bits.data())
                                    : modbus_read_input_bits(ctx, r.address, r.count, bits.data());
        for (std::size_t i = 0; i < bits.size(); ++i) data[i] = bits[i] != 0 ? 1 : 0;
    } else {
        rc = r.table == Table::holding
                 ? modbus_read_registers(ctx, r.address, r.count, data.data())
                 : modbus_read_input_registers(ctx, r.address, r.count, data.data());
    }
    if (rc == -1) return failed(errno, describe(r));
    backoff_ = std::chrono::milliseconds{0};
    set_state(true);
    return std::nullopt;
}

std::optional<ModbusError> ModbusConnection::Core::perform(const WriteRequest& w) {
    const bool bits = w.table == Table::coil;
    const std::size_t limit = bits ? 1968 : 123;  // FC15 / FC16 limits
    if (!is_writable(w.table)) {
        return ModbusError{
            ErrorKind::invalid_request, 0, false,
            describe(w) + ": the " + std::string(to_string(w.table)) + " table is read-only"};
    }
    if (w.values.empty() || w.values.size() > limit || w.address + w.values.size() > 65536) {
        return ModbusError{ErrorKind::invalid_request, 0, false,
                           describe(w) + ": a write covers 1 to " + std::to_string(limit) +
                               " items within the address space"};
    }
    if (!socket_open_) {
        return ModbusError{ErrorKind::not_connected, 0, true, describe(w) + ": not connected"};
    }
    modbus_t* ctx = ctx_.get();
    modbus_set_slave(ctx, w.unit);
    const bool single = w.values.size() == 1 && !w.write_multiple;
    const int count = static_cast<int>(w.values.size());
    int rc = -1;
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
    if (rc == -1) return failed(errno, describe(w));
    backoff_ = std::chrono::milliseconds{0};
    set_state(true);
    return std::nullopt;
}

bool ModbusConnection::Core::keep_silence() {
    if (options_.inter_request_delay.count() <= 0) return true;
    wait_until(Clock::now() + options_.inter_request_delay, [] { return false; });
    std::lock_guard lock(mutex_);
    return !stopping_;
}

namespace {
std::string hex_words(const std::vector<std::uint16_t>& words) {
    std::string text;
    char buffer[8];
    for (auto w : words) {
        std::snprintf(buffer, sizeof buffer, "%s0x%04X", text.empty() ? "" : " ", w);
        text += buffer;
    }
    return text;
}
}  // namespace

void ModbusConnection::Core::execute(Job& job) {
    if (job.is_read) {
        std::vector<std::uint16_t> data;
        if (auto error = perform(job.read, data)) {
            job.on_read(ReadResult::failure(std::move(*error)));
        } else {
            job.on_read(std::move(data));
        }
        return;
    }
    if (job.plan) {
        // Planned now, with the caller's latest values (no lock of ours held).
        job.writes = job.plan();
        if (job.writes.empty()) {
            job.on_write(std::nullopt);
            return;
        }
    }
    for (std::size_t i = 0; i < job.writes.size(); ++i) {
        const WriteRequest& w = job.writes[i];
        if (i > 0 && !keep_silence()) {
            job.on_write(
                ModbusError{ErrorKind::shutdown, 0, true, describe(w) + ": connection stopped"});
            return;
        }
        if (auto error = perform(w)) {
            job.on_write(std::move(error));
            return;
        }
        if (!job.verify) continue;
        if (!keep_silence()) {
            job.on_write(
                ModbusError{ErrorKind::shutdown, 0, true, describe(w) + ": connection stopped"});
            return;
        }
        std::vector<std::uint16_t> back;
        const ReadRequest check{w.unit, w.table, w.address,
                                static_cast<std::uint16_t>(w.values.size())};
        if (auto error = perform(check, back)) {
            // The device took the write and answered the read: it is there,
            // only the read-back is refused (a write-only register, say).
            // Refused with exception 1-3, it will be refused every time.
            if (error->kind == ErrorKind::exception) error->kind = ErrorKind::verify_read_failed;
            error->message = describe(w) + ": verify: read back failed: " + error->message;
            job.on_write(std::move(error));
            return;
        }
        std::vector<std::uint16_t> expected = w.values;
        if (w.table == Table::coil) {
            for (auto& v : expected) v = v != 0 ? 1 : 0;
        }
        if (back != expected) {
            job.on_write(ModbusError{ErrorKind::verify_mismatch, 0, false,
                                     describe(w) + ": wrote " + hex_words(expected) +
                                         " but read back " + hex_words(back)});
            return;
        }
    }
    job.on_write(std::nullopt);
}

void ModbusConnection::Core::set_state(bool up) {
    if (up_.load(std::memory_order_acquire) == up) return;  // only the worker changes it
    std::lock_guard lock(state_mutex_);
    up_.store(up, std::memory_order_release);
    for (auto& [id, handler] : subscribers_) handler(up);
}

void ModbusConnection::Core::fail_queued(ErrorKind kind, const std::string& why) {
    JobList jobs;
    {
        std::lock_guard lock(mutex_);
        jobs.swap(queue_);
    }
    for (auto& job : jobs) {
        job->fail({kind, 0, true, describe(*job) + ": " + why});
    }
}

}  // namespace gridgate::modbus
