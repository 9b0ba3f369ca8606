#include <algorithm>
#include <atomic>

#include "gridgate/modbus/codec.hpp"
#include "gridgate/modbus/poller.hpp"

namespace gridgate::modbus {

using Clock = std::chrono::steady_clock;

struct Poller::State {
    struct BlockState {
        PollBlock block;
        Clock::time_point next_due{};
        int outstanding = 0;
        bool split = false;
        std::string last_error;
    };

    std::shared_ptr<ModbusConnection> connection;
    std::vector<RegisterPoint> points;
    PollerOptions options;
    PollerHandlers handlers;

    mutable std::mutex mutex;  // guards everything up to handler_mutex
    std::condition_variable wakeup;
    bool running = false;
    bool stopped = false;
    std::vector<BlockState> blocks;
    std::vector<PointReading> readings;          // by point index
    std::vector<Clock::time_point> fresh_since;  // last good read (or start)
    std::vector<std::string> point_errors;       // last error of a split point's read

    std::mutex handler_mutex;  // serializes handlers; held while one runs
    bool handlers_off = false;

    std::chrono::milliseconds stale_age(std::size_t point) const {
        if (options.stale_after) return *options.stale_after;
        return 3 * points[point].poll_interval.value_or(options.plan.default_interval);
    }

    void deliver(const std::vector<PointReading>& out) {
        if (out.empty() || !handlers.on_reading) return;
        std::lock_guard lock(handler_mutex);
        if (handlers_off) return;
        for (const auto& r : out) handlers.on_reading(r);
    }

    void report(const std::optional<ModbusError>& failure, bool changed) {
        if (!failure || (!handlers.on_error && !handlers.on_failure)) return;
        std::lock_guard lock(handler_mutex);
        if (handlers_off) return;
        if (handlers.on_failure) handlers.on_failure(*failure);
        if (changed && handlers.on_error) handlers.on_error(*failure);
    }
};

namespace {

/// Submits the reads of one block (one request, or one per point when
/// split). Called with the state's mutex held; the handlers take it again.
void submit(const std::shared_ptr<Poller::State>& s, std::size_t block_index);

void on_result(const std::shared_ptr<Poller::State>& s, std::size_t block_index,
               std::optional<std::size_t> point, const ReadRequest& request, ReadResult result) {
    std::vector<PointReading> out;
    std::optional<ModbusError> failure;
    bool changed = false;
    {
        std::lock_guard lock(s->mutex);
        auto& bs = s->blocks[block_index];
        --bs.outstanding;
        if (result) {
            const auto now = Clock::now();
            const auto& words = result.value();
            const std::vector<std::size_t> covered =
                point ? std::vector<std::size_t>{*point} : bs.block.points;
            for (std::size_t i : covered) {
                const RegisterPoint& p = s->points[i];
                const std::size_t offset = p.address - request.address;
                auto& r = s->readings[i];
                r.value = decode(p, std::span(words).subspan(offset));
                r.stale = false;
                r.read_at = now;
                s->fresh_since[i] = now;
                out.push_back(r);
            }
            (point ? s->point_errors[*point] : bs.last_error).clear();
        } else {
            const ModbusError& error = result.error();
            if (!point && error.kind == ErrorKind::exception && error.exception_code == 2 &&
                bs.block.points.size() > 1 && !bs.split) {
                // The device refuses the block as a whole (a hole in its map
                // or a read limit): read it point by point from now on.
                // The block's own last error (say, `not connected` from
                // before the device came up) no longer says anything: the
                // device answered, and the points' reads speak from now on.
                bs.split = true;
                bs.last_error.clear();
                if (!s->stopped) submit(s, block_index);
            } else {
                std::string& last = point ? s->point_errors[*point] : bs.last_error;
                changed = last != error.message;
                last = error.message;
                failure = error;
            }
        }
    }
    s->wakeup.notify_all();
    s->report(failure, changed);
    s->deliver(out);
}

void submit(const std::shared_ptr<Poller::State>& s, std::size_t block_index) {
    auto& bs = s->blocks[block_index];
    const auto send = [&](ReadRequest request, std::optional<std::size_t> point) {
        ++bs.outstanding;
        const bool queued =
            s->connection->read(request, [s, block_index, point, request](ReadResult result) {
                on_result(s, block_index, point, request, std::move(result));
            });
        if (!queued) --bs.outstanding;  // stopped or saturated: try again next round
    };
    if (!bs.split) {
        send({s->options.unit, bs.block.table, bs.block.address, bs.block.count}, std::nullopt);
        return;
    }
    for (std::size_t i : bs.block.points) {
        const RegisterPoint& p = s->points[i];
        const auto count = static_cast<std::uint16_t>(is_bit_table(p.table) ? 1 : p.width());
        send({s->options.unit, p.table, p.address, count}, i);
    }
}

}  // namespace

Poller::Poller(std::shared_ptr<ModbusConnection> connection, std::vector<RegisterPoint> points,
               PollerOptions options, PollerHandlers handlers)
    : state_(std::make_shared<State>()) {
    auto& s = *state_;
    s.connection = std::move(connection);
    s.points = std::move(points);
    s.options = options;
    s.handlers = std::move(handlers);
    for (auto& block : plan_poll_blocks(s.points, s.options.plan)) {
        s.blocks.push_back({std::move(block)});
    }
    s.readings.resize(s.points.size());
    for (std::size_t i = 0; i < s.points.size(); ++i) s.readings[i].point = s.points[i].name;
    s.fresh_since.resize(s.points.size());
    s.point_errors.resize(s.points.size());
}

Poller::~Poller() {
    stop();
}

void Poller::start() {
    std::lock_guard lock(state_->mutex);
    if (state_->running || state_->stopped) return;
    state_->running = true;
    const auto now = Clock::now();
    for (auto& t : state_->fresh_since) t = now;
    for (auto& b : state_->blocks) b.next_due = now;
    thread_ = std::thread([this] { run(); });
}

void Poller::stop() {
    {
        std::lock_guard lock(state_->mutex);
        state_->stopped = true;
    }
    state_->wakeup.notify_all();
    if (thread_.joinable()) thread_.join();
    std::lock_guard lock(state_->handler_mutex);
    state_->handlers_off = true;
}

std::optional<PointReading> Poller::reading(std::string_view point) const {
    std::lock_guard lock(state_->mutex);
    for (std::size_t i = 0; i < state_->points.size(); ++i) {
        if (state_->points[i].name == point && state_->points[i].poll) return state_->readings[i];
    }
    return std::nullopt;
}

bool Poller::failing() const {
    std::lock_guard lock(state_->mutex);
    for (const auto& bs : state_->blocks) {
        if (!bs.last_error.empty()) return true;
    }
    for (const auto& e : state_->point_errors) {
        if (!e.empty()) return true;
    }
    return false;
}

std::vector<PollBlock> Poller::blocks() const {
    std::lock_guard lock(state_->mutex);
    std::vector<PollBlock> out;
    for (const auto& bs : state_->blocks) {
        if (!bs.split) {
            out.push_back(bs.block);
            continue;
        }
        for (std::size_t i : bs.block.points) {
            const auto& p = state_->points[i];
            out.push_back({p.table,
                           p.address,
                           static_cast<std::uint16_t>(is_bit_table(p.table) ? 1 : p.width()),
                           bs.block.interval,
                           {i}});
        }
    }
    return out;
}

void Poller::run() {
    auto& s = *state_;
    std::unique_lock lock(s.mutex);
    while (!s.stopped) {
        const auto now = Clock::now();
        auto next_wake = Clock::time_point::max();
        for (std::size_t b = 0; b < s.blocks.size(); ++b) {
            auto& bs = s.blocks[b];
            if (bs.outstanding > 0) continue;  // its completion wakes us
            if (now >= bs.next_due) {
                // Keep the cadence, but never catch up with a burst.
                bs.next_due += bs.block.interval;
                if (bs.next_due <= now) bs.next_due = now + bs.block.interval;
                submit(state_, b);
            }
            next_wake = std::min(next_wake, bs.next_due);
        }
        std::vector<PointReading> went_stale;
        for (std::size_t i = 0; i < s.points.size(); ++i) {
            if (!s.points[i].poll || s.readings[i].stale) continue;
            const auto deadline = s.fresh_since[i] + s.stale_age(i);
            if (now >= deadline) {
                s.readings[i].stale = true;
                went_stale.push_back(s.readings[i]);
            } else {
                next_wake = std::min(next_wake, deadline);
            }
        }
        if (!went_stale.empty()) {
            lock.unlock();
            s.deliver(went_stale);
            lock.lock();
            continue;
        }
        s.wakeup.wait_until(lock, next_wake);
    }
}

}  // namespace gridgate::modbus
