#include "gridgate/battery_sim/simulator.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <iostream>
#include <stdexcept>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <modbus/modbus.h>

#include "gridgate/battery_sim/map_file.hpp"
#include "gridgate/modbus/codec.hpp"

namespace gridgate::battery_sim {

using Clock = std::chrono::steady_clock;
using modbus::PointType;
using modbus::RegisterPoint;
using modbus::Table;

SimulatorOptions::SimulatorOptions() : map(generic_battery_map()) {}

struct BatterySimulator::Unit {
    std::uint8_t id = 1;
    modbus_mapping_t* mapping = nullptr;
    /// Addresses the map defines, per table (index = Table).
    std::array<std::vector<bool>, 4> mapped;
    /// Holding/coil addresses of the setpoint pattern's points.
    std::array<std::vector<bool>, 4> setpoint_addresses;
    double soc = 50;
    double power_kw = 0;
    Clock::time_point last_setpoint_write{};

    Unit() { mapping = modbus_mapping_new(65536, 65536, 65536, 65536); }
    ~Unit() { modbus_mapping_free(mapping); }
    Unit(const Unit&) = delete;
    Unit& operator=(const Unit&) = delete;

    std::uint16_t get(Table table, std::uint32_t address) const {
        switch (table) {
            case Table::holding:
                return mapping->tab_registers[address];
            case Table::input:
                return mapping->tab_input_registers[address];
            case Table::coil:
                return mapping->tab_bits[address];
            case Table::discrete:
                return mapping->tab_input_bits[address];
        }
        return 0;
    }
    void put(Table table, std::uint32_t address, std::uint16_t value) {
        switch (table) {
            case Table::holding:
                mapping->tab_registers[address] = value;
                break;
            case Table::input:
                mapping->tab_input_registers[address] = value;
                break;
            case Table::coil:
                mapping->tab_bits[address] = value != 0 ? 1 : 0;
                break;
            case Table::discrete:
                mapping->tab_input_bits[address] = value != 0 ? 1 : 0;
                break;
        }
    }
    std::optional<double> read(const RegisterPoint& p) const {
        const std::uint16_t n = modbus::is_bit_table(p.table) ? 1 : p.width();
        std::vector<std::uint16_t> words(n);
        for (std::uint16_t i = 0; i < n; ++i) words[i] = get(p.table, p.address + i);
        return modbus::decode(p, words);
    }
    bool write(const RegisterPoint& p, double value) {
        auto words = modbus::encode(p, value);
        if (!words) return false;
        for (std::size_t i = 0; i < words->size(); ++i) put(p.table, p.address + i, (*words)[i]);
        return true;
    }
};

struct BatterySimulator::Client {
    int fd = -1;
    bool finished = false;  // serve() is past its last use of the mutex
    std::thread thread;     // the one running serve()
};

namespace {

std::size_t index_of(Table t) {
    return static_cast<std::size_t>(t);
}

/// The table and address range a request touches, if it is one we check.
struct Touch {
    Table table;
    std::uint16_t address;
    std::uint16_t count;
    bool is_write;
};

std::optional<Touch> touched(const std::uint8_t* q, int length) {
    constexpr int h = 7;  // MBAP header
    if (length < h + 5) return std::nullopt;
    const std::uint8_t function = q[h];
    const auto address = static_cast<std::uint16_t>((q[h + 1] << 8) | q[h + 2]);
    const auto count = static_cast<std::uint16_t>((q[h + 3] << 8) | q[h + 4]);
    switch (function) {
        case 1:
            return Touch{Table::coil, address, count, false};
        case 2:
            return Touch{Table::discrete, address, count, false};
        case 3:
            return Touch{Table::holding, address, count, false};
        case 4:
            return Touch{Table::input, address, count, false};
        case 5:
            return Touch{Table::coil, address, 1, true};
        case 6:
            return Touch{Table::holding, address, 1, true};
        case 15:
            return Touch{Table::coil, address, count, true};
        case 16:
            return Touch{Table::holding, address, count, true};
        default:
            return std::nullopt;
    }
}

ReceivedWrite parse_write(const std::uint8_t* q, std::uint8_t unit, const Touch& t) {
    constexpr int h = 7;
    ReceivedWrite w{unit, q[h], t.address, {}};
    switch (w.function) {
        case 5:
            w.values = {static_cast<std::uint16_t>(q[h + 3] == 0xFF ? 1 : 0)};
            break;
        case 6:
            w.values = {static_cast<std::uint16_t>((q[h + 3] << 8) | q[h + 4])};
            break;
        case 15:
            for (std::uint16_t i = 0; i < t.count; ++i) {
                w.values.push_back((q[h + 6 + i / 8] >> (i % 8)) & 1U);
            }
            break;
        case 16:
            for (std::uint16_t i = 0; i < t.count; ++i) {
                w.values.push_back(
                    static_cast<std::uint16_t>((q[h + 6 + 2 * i] << 8) | q[h + 7 + 2 * i]));
            }
            break;
        default:
            break;
    }
    return w;
}

/// The net power (kW, + charge) the setpoint registers ask for.
double requested_kw(const modbus::RegisterMap& map, const modbus::AssetLimits& limits,
                    const BatterySimulator::Unit& unit) {
    const auto kw_of = [&](const char* name) {
        const RegisterPoint* p = map.find(name);
        if (p == nullptr) return 0.0;
        const double v = unit.read(*p).value_or(0.0);
        return p->unit == modbus::PowerUnit::percent ? v / 100.0 * limits.rated_power_kw.value_or(0)
                                                     : v;
    };
    switch (map.effective_pattern()) {
        case modbus::SetpointPattern::signed_power:
            return kw_of(modbus::point_names::power_setpoint);
        case modbus::SetpointPattern::charge_discharge:
            return kw_of(modbus::point_names::charge_setpoint) -
                   kw_of(modbus::point_names::discharge_setpoint);
        case modbus::SetpointPattern::direction_magnitude: {
            const RegisterPoint* dir = map.find(modbus::point_names::direction);
            const auto d = dir != nullptr ? unit.read(*dir) : std::nullopt;
            const double magnitude = std::fabs(kw_of(modbus::point_names::power_magnitude));
            if (d && *d == map.direction_values.charge) return magnitude;
            if (d && *d == map.direction_values.discharge) return -magnitude;
            return 0.0;
        }
        case modbus::SetpointPattern::none:
            break;
    }
    return 0.0;
}

}  // namespace

BatterySimulator::BatterySimulator(SimulatorOptions options) : options_(std::move(options)) {
    if (auto errors = modbus::validate(options_.map); !errors.empty()) {
        throw std::invalid_argument("battery simulator: " + errors.front().str());
    }
    const auto pattern = options_.map.effective_pattern();
    std::vector<std::string> setpoint_points;
    switch (pattern) {
        case modbus::SetpointPattern::signed_power:
            setpoint_points = {modbus::point_names::power_setpoint};
            break;
        case modbus::SetpointPattern::charge_discharge:
            setpoint_points = {modbus::point_names::charge_setpoint,
                               modbus::point_names::discharge_setpoint};
            break;
        case modbus::SetpointPattern::direction_magnitude:
            setpoint_points = {modbus::point_names::direction,
                               modbus::point_names::power_magnitude};
            break;
        case modbus::SetpointPattern::none:
            break;
    }
    for (std::uint8_t id : options_.units) {
        auto unit = std::make_unique<Unit>();
        if (unit->mapping == nullptr) throw std::runtime_error("battery simulator: out of memory");
        unit->id = id;
        unit->soc = options_.initial_soc;
        for (auto& m : unit->mapped) m.assign(65536, false);
        for (auto& m : unit->setpoint_addresses) m.assign(65536, false);
        for (const auto& p : options_.map.points) {
            const std::uint32_t n = modbus::is_bit_table(p.table) ? 1 : p.width();
            const bool is_setpoint = std::find(setpoint_points.begin(), setpoint_points.end(),
                                               p.name) != setpoint_points.end();
            for (std::uint32_t i = 0; i < n && p.address + i < 65536; ++i) {
                unit->mapped[index_of(p.table)][p.address + i] = true;
                if (is_setpoint) unit->setpoint_addresses[index_of(p.table)][p.address + i] = true;
            }
        }
        if (const auto* p = options_.map.find(modbus::point_names::soc)) unit->write(*p, unit->soc);
        if (const auto* p = options_.map.find(modbus::point_names::active_power))
            unit->write(*p, 0);
        units_.push_back(std::move(unit));
    }
}

BatterySimulator::~BatterySimulator() {
    stop();
}

void BatterySimulator::start() {
    std::lock_guard lock(mutex_);
    if (started_) return;
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0)
        throw std::runtime_error(std::string("battery simulator: socket: ") + std::strerror(errno));
    const int yes = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(options_.port);
    const std::string where = options_.bind_address + ":" + std::to_string(options_.port);
    if (::inet_pton(AF_INET, options_.bind_address.c_str(), &addr.sin_addr) != 1) {
        ::close(listen_fd_);
        listen_fd_ = -1;
        throw std::runtime_error("battery simulator: bad IPv4 address " + options_.bind_address);
    }
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, 64) != 0) {
        const std::string why = std::strerror(errno);
        ::close(listen_fd_);
        listen_fd_ = -1;
        throw std::runtime_error("battery simulator: cannot listen on " + where + ": " + why);
    }
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    const auto now = Clock::now();
    for (auto& unit : units_) unit->last_setpoint_write = now;
    started_ = true;
    acceptor_ = std::thread([this] { accept_loop(); });
    physics_ = std::thread([this] { physics_loop(); });
}

void BatterySimulator::stop() {
    {
        std::lock_guard lock(mutex_);
        if (!started_ || stopping_) return;
        stopping_ = true;
        ::shutdown(listen_fd_, SHUT_RDWR);  // wakes accept()
        for (auto& c : clients_) {
            if (c->fd >= 0) ::shutdown(c->fd, SHUT_RDWR);  // wakes modbus_receive()
        }
    }
    stop_cv_.notify_all();
    if (acceptor_.joinable()) acceptor_.join();
    if (physics_.joinable()) physics_.join();
    // Only this thread touches `servers_` now that the acceptor is gone.
    for (auto& c : servers_) c->thread.join();
    servers_.clear();
    ::close(listen_fd_);
    listen_fd_ = -1;
}

void BatterySimulator::accept_loop() {
    bool failing = false;  // an accept failed and no connection came since
    for (;;) {
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        const int error = errno;
        std::unique_lock lock(mutex_);
        if (stopping_) {
            if (fd >= 0) ::close(fd);
            return;
        }
        if (fd < 0) {
            // A connection reset while queued, or a network error Linux
            // hands on from it: the next one may be fine.
            if (error == EINTR || error == ECONNABORTED || error == EPROTO || error == ENETDOWN ||
                error == ENOPROTOOPT || error == EHOSTDOWN || error == ENONET ||
                error == EHOSTUNREACH || error == EOPNOTSUPP || error == ENETUNREACH)
                continue;
            // Out of descriptors (EMFILE, ENFILE) or memory: the connection
            // waits in the listen backlog until one is freed. Never give up
            // while running: retry every 100 ms, saying so once.
            if (!failing) {
                std::cerr << "battery simulator: accept failed: " << std::strerror(error)
                          << "; retrying every 100 ms" << std::endl;
                failing = true;
            }
            stop_cv_.wait_for(lock, std::chrono::milliseconds(100), [this] { return stopping_; });
            continue;
        }
        if (failing) {
            std::cerr << "battery simulator: accepting connections again" << std::endl;
            failing = false;
        }
        const int yes = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
        reap_finished_servers();
        auto client = std::make_shared<Client>();
        client->fd = fd;
        clients_.push_back(client);
        ++accepted_;
        client->thread = std::thread([this, client] { serve(client); });
        servers_.push_back(std::move(client));
    }
}

void BatterySimulator::reap_finished_servers() {
    // A finished thread that is never joined keeps its stack mapped: a
    // gateway reconnecting for days would run the process out of memory
    // maps. Joining under the mutex is safe: `finished` is set under it as
    // serve()'s last act, so such a thread no longer needs it.
    auto done = std::partition(servers_.begin(), servers_.end(),
                               [](const auto& c) { return !c->finished; });
    for (auto it = done; it != servers_.end(); ++it) (*it)->thread.join();
    servers_.erase(done, servers_.end());
}

std::size_t BatterySimulator::server_threads() const {
    std::lock_guard lock(mutex_);
    return servers_.size();
}

void BatterySimulator::pause(std::chrono::milliseconds d) {
    std::unique_lock lock(mutex_);
    stop_cv_.wait_for(lock, d, [this] { return stopping_; });
}

void BatterySimulator::serve(std::shared_ptr<Client> client) {
    modbus_t* ctx = modbus_new_tcp("127.0.0.1", 502);  // framing only; the socket is ours
    modbus_set_socket(ctx, client->fd);
    std::vector<std::uint8_t> query(MODBUS_TCP_MAX_ADU_LENGTH);
    for (;;) {
        const int length = modbus_receive(ctx, query.data());
        if (length == 0) continue;  // not for us
        if (length < 0) break;      // closed, reset or stopping
        ++requests_;

        std::chrono::milliseconds delay{0};
        {
            std::lock_guard lock(mutex_);
            if (stopping_) break;
            if (drops_ > 0) {
                --drops_;
                break;
            }
            if (delayed_replies_ > 0) {
                --delayed_replies_;
                delay = reply_delay_;
            }
        }
        if (delay.count() > 0) pause(delay);

        std::lock_guard lock(mutex_);
        if (stopping_) break;
        const std::uint8_t unit_id = query[6];
        Unit* unit = find_unit(unit_id);
        if (unit == nullptr) {
            modbus_reply_exception(ctx, query.data(), MODBUS_EXCEPTION_GATEWAY_TARGET);
            continue;
        }
        const auto touch = touched(query.data(), length);
        int exception = 0;
        if (touch) {
            const std::uint32_t end = std::uint32_t{touch->address} + touch->count;
            for (auto& rule : exception_rules_) {
                if (rule.remaining != 0 && rule.address >= touch->address && rule.address < end) {
                    if (rule.after > 0) {
                        --rule.after;
                        continue;
                    }
                    exception = rule.code;
                    if (rule.remaining > 0) --rule.remaining;
                    break;
                }
            }
            if (exception == 0 && options_.strict_addresses) {
                const auto& mapped = unit->mapped[index_of(touch->table)];
                for (std::uint32_t a = touch->address; a < end && a < 65536; ++a) {
                    if (!mapped[a]) {
                        exception = MODBUS_EXCEPTION_ILLEGAL_DATA_ADDRESS;
                        break;
                    }
                }
            }
        }
        if (exception != 0) {
            if (modbus_reply_exception(ctx, query.data(), static_cast<unsigned>(exception)) < 0)
                break;
            continue;
        }
        if (touch && touch->is_write) {
            if (options_.max_recorded_writes > 0) {
                if (writes_.size() >= options_.max_recorded_writes) writes_.pop_front();
                writes_.push_back(parse_write(query.data(), unit_id, *touch));
            }
            const auto& setpoint = unit->setpoint_addresses[index_of(touch->table)];
            for (std::uint32_t a = touch->address; a < std::uint32_t{touch->address} + touch->count;
                 ++a) {
                if (a < 65536 && setpoint[a]) {
                    unit->last_setpoint_write = Clock::now();
                    break;
                }
            }
        }
        // A write the device acknowledges but does not apply: reply, then put
        // the old registers back.
        std::vector<std::uint16_t> kept;
        if (touch && touch->is_write) {
            const std::uint32_t end = std::uint32_t{touch->address} + touch->count;
            for (auto& rule : ignore_rules_) {
                if (rule.remaining != 0 && rule.address >= touch->address && rule.address < end) {
                    if (rule.remaining > 0) --rule.remaining;
                    for (std::uint32_t a = touch->address; a < end && a < 65536; ++a) {
                        kept.push_back(unit->get(touch->table, a));
                    }
                    break;
                }
            }
        }
        if (modbus_reply(ctx, query.data(), length, unit->mapping) < 0) break;
        for (std::size_t i = 0; i < kept.size(); ++i) {
            unit->put(touch->table, touch->address + static_cast<std::uint32_t>(i), kept[i]);
        }
    }
    {
        std::lock_guard lock(mutex_);
        ::close(client->fd);
        client->fd = -1;
        clients_.erase(std::remove(clients_.begin(), clients_.end(), client), clients_.end());
    }
    modbus_free(ctx);
    std::lock_guard lock(mutex_);
    client->finished = true;
}

void BatterySimulator::physics_loop() {
    const auto& map = options_.map;
    const RegisterPoint* soc_point = map.find(modbus::point_names::soc);
    const RegisterPoint* power_point = map.find(modbus::point_names::active_power);
    auto last = Clock::now();
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        stop_cv_.wait_for(lock, options_.tick, [this] { return stopping_; });
        if (stopping_) break;
        const auto now = Clock::now();
        const double hours =
            std::chrono::duration<double>(now - last).count() * options_.time_scale / 3600.0;
        last = now;
        for (auto& unit : units_) {
            if (options_.revert_after && now - unit->last_setpoint_write > *options_.revert_after &&
                requested_kw(map, options_.limits, *unit) != 0.0) {
                // The device gives up on a setpoint nobody refreshed.
                if (auto idle = modbus::plan_idle(map, options_.limits)) {
                    for (const auto& w : idle->writes) {
                        const bool pre =
                            std::any_of(map.pre_writes.begin(), map.pre_writes.end(),
                                        [&](const auto& p) { return p.point == w.point; });
                        if (pre) continue;
                        for (std::size_t i = 0; i < w.values.size(); ++i) {
                            unit->put(w.table, w.address + i, w.values[i]);
                        }
                    }
                }
                unit->last_setpoint_write = now;
                ++reverts_;
            }
            double kw = requested_kw(map, options_.limits, *unit);
            kw = std::clamp(kw, -options_.limits.max_discharge_kw, options_.limits.max_charge_kw);
            if ((kw > 0 && unit->soc >= 100.0) || (kw < 0 && unit->soc <= 0.0)) kw = 0;
            unit->power_kw = kw;
            unit->soc =
                std::clamp(unit->soc + kw * hours / options_.capacity_kwh * 100.0, 0.0, 100.0);
            if (soc_point != nullptr) unit->write(*soc_point, unit->soc);
            if (power_point != nullptr) unit->write(*power_point, unit->power_kw);
        }
    }
}

BatterySimulator::Unit* BatterySimulator::find_unit(std::uint8_t id) const {
    for (const auto& unit : units_) {
        if (unit->id == id) return unit.get();
    }
    return nullptr;
}

void BatterySimulator::inject_exception(std::uint16_t address, int exception_code, int times,
                                        int after) {
    std::lock_guard lock(mutex_);
    exception_rules_.push_back({address, exception_code, times, after});
}

void BatterySimulator::ignore_writes(std::uint16_t address, int times) {
    std::lock_guard lock(mutex_);
    ignore_rules_.push_back({address, 0, times});
}

void BatterySimulator::delay_replies(std::chrono::milliseconds delay, int count) {
    std::lock_guard lock(mutex_);
    reply_delay_ = delay;
    delayed_replies_ = count;
}

void BatterySimulator::drop_connections(int count) {
    std::lock_guard lock(mutex_);
    drops_ = count;
}

void BatterySimulator::set_revert_after(std::optional<std::chrono::milliseconds> after) {
    std::lock_guard lock(mutex_);
    options_.revert_after = after;
    for (auto& unit : units_) unit->last_setpoint_write = Clock::now();
}

void BatterySimulator::clear_faults() {
    std::lock_guard lock(mutex_);
    exception_rules_.clear();
    ignore_rules_.clear();
    delayed_replies_ = 0;
    drops_ = 0;
}

std::vector<ReceivedWrite> BatterySimulator::writes() const {
    std::lock_guard lock(mutex_);
    return {writes_.begin(), writes_.end()};
}

void BatterySimulator::clear_writes() {
    std::lock_guard lock(mutex_);
    writes_.clear();
}

std::size_t BatterySimulator::open_connections() const {
    std::lock_guard lock(mutex_);
    return clients_.size();
}

namespace {
[[noreturn]] void unknown(const std::string& what) {
    throw std::invalid_argument("battery simulator: " + what);
}
}  // namespace

double BatterySimulator::setpoint_kw(std::uint8_t unit) const {
    std::lock_guard lock(mutex_);
    const Unit* u = find_unit(unit);
    if (u == nullptr) unknown("no unit " + std::to_string(unit));
    return requested_kw(options_.map, options_.limits, *u);
}

double BatterySimulator::soc(std::uint8_t unit) const {
    std::lock_guard lock(mutex_);
    const Unit* u = find_unit(unit);
    if (u == nullptr) unknown("no unit " + std::to_string(unit));
    return u->soc;
}

double BatterySimulator::active_power_kw(std::uint8_t unit) const {
    std::lock_guard lock(mutex_);
    const Unit* u = find_unit(unit);
    if (u == nullptr) unknown("no unit " + std::to_string(unit));
    return u->power_kw;
}

std::optional<double> BatterySimulator::point_value(const std::string& point,
                                                    std::uint8_t unit) const {
    std::lock_guard lock(mutex_);
    const Unit* u = find_unit(unit);
    const RegisterPoint* p = options_.map.find(point);
    if (u == nullptr || p == nullptr)
        unknown("no unit " + std::to_string(unit) + " point " + point);
    return u->read(*p);
}

void BatterySimulator::set_point_value(const std::string& point, double value, std::uint8_t unit) {
    std::lock_guard lock(mutex_);
    Unit* u = find_unit(unit);
    const RegisterPoint* p = options_.map.find(point);
    if (u == nullptr || p == nullptr)
        unknown("no unit " + std::to_string(unit) + " point " + point);
    if (p->name == modbus::point_names::soc) u->soc = value;
    if (!u->write(*p, value)) unknown("value does not fit point " + point);
}

void BatterySimulator::set_registers(Table table, std::uint16_t address,
                                     const std::vector<std::uint16_t>& values, std::uint8_t unit) {
    std::lock_guard lock(mutex_);
    Unit* u = find_unit(unit);
    if (u == nullptr) unknown("no unit " + std::to_string(unit));
    for (std::size_t i = 0; i < values.size() && address + i < 65536; ++i) {
        u->put(table, static_cast<std::uint32_t>(address + i), values[i]);
    }
}

std::vector<std::uint16_t> BatterySimulator::registers(Table table, std::uint16_t address,
                                                       std::uint16_t count,
                                                       std::uint8_t unit) const {
    std::lock_guard lock(mutex_);
    const Unit* u = find_unit(unit);
    if (u == nullptr) unknown("no unit " + std::to_string(unit));
    std::vector<std::uint16_t> out;
    for (std::uint32_t i = 0; i < count && address + i < 65536; ++i)
        out.push_back(u->get(table, address + i));
    return out;
}

}  // namespace gridgate::battery_sim
