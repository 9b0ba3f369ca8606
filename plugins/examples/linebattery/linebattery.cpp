// linebattery: a gridgate adapter plugin for a battery whose vendor protocol
// is one text line per request over TCP:
//
//   SET <kw>\n     -> OK\n | ERR <reason>\n    (+ charges, - discharges)
//   GET SOC\n      -> SOC <percent>\n
//
// It shows what a vendor plugin needs: declared keys, a worker thread that
// does all the blocking I/O, completions from that thread, asset events, and
// a stop() that finishes what is in flight before the host unloads it.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gridgate/sdk/plugin_entry.hpp"

namespace sdk = gridgate::sdk;

namespace {

const std::vector<sdk::ConfigKey> kAdapterKeys = {
    {.name = "io_timeout_seconds",
     .type = sdk::ConfigType::Float,
     .default_value = "2.0",
     .description = "how long to wait for a connection or a reply",
     .min = 0.01,
     .max = 60.0},
};
const std::vector<sdk::ConfigKey> kAssetKeys = {
    {.name = "host",
     .type = sdk::ConfigType::String,
     .required = true,
     .description = "the battery controller's address"},
    {.name = "port",
     .type = sdk::ConfigType::Integer,
     .required = true,
     .description = "its TCP port",
     .min = 1,
     .max = 65535},
};
constexpr std::string_view kAssetTypes[] = {"battery"};

std::string format_kw(double kw) {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, kw);
    return ec == std::errc() ? std::string(buf, end) : std::to_string(kw);
}

// One blocking connection to one battery controller. Used by the worker
// thread only.
class LineConnection {
  public:
    LineConnection(std::string host, int port, int timeout_ms)
        : host_(std::move(host)), port_(port), timeout_ms_(timeout_ms) {}
    ~LineConnection() { close(); }
    LineConnection(const LineConnection&) = delete;
    LineConnection& operator=(const LineConnection&) = delete;

    bool is_open() const { return fd_ >= 0; }
    void close() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
        buffer_.clear();
    }

    /// Connects if needed; on failure returns the reason.
    std::optional<std::string> open() {
        if (fd_ >= 0) return std::nullopt;
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        addrinfo* found = nullptr;
        std::string port = std::to_string(port_);
        if (int rc = ::getaddrinfo(host_.c_str(), port.c_str(), &hints, &found); rc != 0)
            return std::string("cannot resolve ") + host_ + ": " + ::gai_strerror(rc);
        std::string why = "no address";
        for (addrinfo* a = found; a; a = a->ai_next) {
            int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                              a->ai_protocol);
            if (fd < 0) continue;
            int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
            if (rc != 0 && errno == EINPROGRESS && wait_for(fd, POLLOUT)) {
                int err = 0;
                socklen_t len = sizeof err;
                ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
                rc = err == 0 ? 0 : -1;
                errno = err;
            } else if (rc != 0 && errno == EINPROGRESS) {
                errno = ETIMEDOUT;
            }
            if (rc == 0) {
                int one = 1;
                ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                fd_ = fd;
                break;
            }
            why = std::strerror(errno);
            ::close(fd);
        }
        ::freeaddrinfo(found);
        if (fd_ < 0) return why;
        return std::nullopt;
    }

    /// Sends one line and reads one line back; nullopt and `error` on failure.
    std::optional<std::string> request(const std::string& line, std::string& error) {
        std::string out = line + "\n";
        for (std::size_t sent = 0; sent < out.size();) {
            ssize_t n = ::send(fd_, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
            if (n > 0) {
                sent += static_cast<std::size_t>(n);
            } else if (n < 0 && errno == EAGAIN && wait_for(fd_, POLLOUT)) {
                continue;
            } else {
                error = n < 0 && errno != EAGAIN ? std::strerror(errno) : "timeout";
                return std::nullopt;
            }
        }
        for (;;) {
            if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
                std::string reply = buffer_.substr(0, nl);
                buffer_.erase(0, nl + 1);
                if (!reply.empty() && reply.back() == '\r') reply.pop_back();
                return reply;
            }
            if (buffer_.size() > 4096) {
                error = "reply line too long";
                return std::nullopt;
            }
            if (!wait_for(fd_, POLLIN)) {
                error = "timeout";
                return std::nullopt;
            }
            char chunk[512];
            ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
            if (n == 0) {
                error = "connection closed by the battery";
                return std::nullopt;
            }
            if (n < 0 && errno != EAGAIN && errno != EINTR) {
                error = std::strerror(errno);
                return std::nullopt;
            }
            if (n > 0) buffer_.append(chunk, static_cast<std::size_t>(n));
        }
    }

  private:
    bool wait_for(int fd, short events) const {
        pollfd p{fd, events, 0};
        int rc;
        do rc = ::poll(&p, 1, timeout_ms_);
        while (rc < 0 && errno == EINTR);
        return rc > 0;
    }

    std::string host_;
    int port_;
    int timeout_ms_;
    int fd_ = -1;
    std::string buffer_;
};

// Thread-safety: execute(), supports() and state() from any thread; one
// worker thread does all the I/O, commands reach it through a queue.
class LineBatteryAdapter final : public sdk::Adapter {
  public:
    explicit LineBatteryAdapter(sdk::HostContext& host) : host_(host) {
        double timeout_s = 2.0;
        if (auto* v = host.config().table.find("io_timeout_seconds"))
            timeout_s = v->as_number().value_or(timeout_s);
        for (const auto& asset : host.config().assets) {
            std::string address = *asset.table.find("host")->as_string();
            int port = static_cast<int>(*asset.table.find("port")->as_integer());
            links_.try_emplace(asset.id, std::move(address), port,
                               static_cast<int>(timeout_s * 1000));
        }
    }
    ~LineBatteryAdapter() override { stop(); }

    sdk::Status start() noexcept override {
        return sdk::guarded("start", [&] { worker_ = std::thread([this] { run(); }); });
    }

    void stop() noexcept override {
        {
            std::lock_guard lock(mutex_);
            if (stopping_) return;
            stopping_ = true;
        }
        wake_.notify_all();
        if (worker_.joinable()) worker_.join();
        // Whatever the worker did not reach is failed now, before the host
        // unloads us; a later attempt may succeed, so it is retryable.
        std::deque<Job> left;
        {
            std::lock_guard lock(mutex_);
            left.swap(queue_);
        }
        for (auto& job : left) job.done(sdk::CommandResult::failure("adapter stopped"));
    }

    void execute(const sdk::Command& command, sdk::Completion done) noexcept override {
        sdk::guarded_execute(done, [&] {
            std::optional<double> kw = command.parameters.power_kw;
            if (!kw) {
                done(sdk::CommandResult::failure("power_kw is missing", false));
                return;
            }
            double setpoint =
                command.command_type == sdk::CommandType::SetDischargeRate ? -*kw : *kw;
            {
                std::lock_guard lock(mutex_);
                if (stopping_) {
                    done(sdk::CommandResult::failure("adapter stopped"));
                    return;
                }
                queue_.push_back({command.asset_id, setpoint, std::move(done)});
            }
            wake_.notify_one();
        });
    }

    bool supports(std::string_view asset_id, sdk::CommandType type) const noexcept override {
        return links_.count(std::string(asset_id)) && (type == sdk::CommandType::SetChargeRate ||
                                                       type == sdk::CommandType::SetDischargeRate);
    }

    sdk::AssetState state(std::string_view asset_id) const noexcept override {
        std::lock_guard lock(mutex_);
        auto it = states_.find(std::string(asset_id));
        return it == states_.end() ? sdk::AssetState{} : it->second;
    }

  private:
    struct Job {
        std::string asset_id;
        double setpoint_kw;
        sdk::Completion done;
    };
    struct Link {
        Link(std::string address, int port, int timeout_ms)
            : connection(std::move(address), port, timeout_ms) {}
        LineConnection connection;
        bool was_connected = false;
    };

    void run() {
        std::unique_lock lock(mutex_);
        for (;;) {
            wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (stopping_) return;
            Job job = std::move(queue_.front());
            queue_.pop_front();
            lock.unlock();
            job.done(send(job));
            lock.lock();
        }
    }

    // Worker thread only.
    sdk::CommandResult send(const Job& job) {
        Link& link = links_.at(job.asset_id);
        if (auto why = link.connection.open())
            return lost(job.asset_id, link, "not connected: " + *why);

        std::string error;
        auto reply = link.connection.request("SET " + format_kw(job.setpoint_kw), error);
        if (!reply) return lost(job.asset_id, link, error);
        if (!link.was_connected) {
            link.was_connected = true;
            host_.publish({.type = sdk::AssetEventType::Connected,
                           .asset_id = job.asset_id,
                           .at = sdk::Clock::now()});
        }
        mark_seen(job.asset_id);
        if (reply->rfind("ERR ", 0) == 0)
            return sdk::CommandResult::failure(reply->substr(4), false);
        if (*reply != "OK") {
            // Requests and replies no longer pair up: start afresh, so the
            // next command does not read this exchange's leftovers.
            link.connection.close();
            host_.log(sdk::LogLevel::Warn,
                      "asset " + job.asset_id + ": unexpected reply '" + *reply + "'");
            return sdk::CommandResult::failure("unexpected reply: " + *reply, false);
        }
        read_soc(job.asset_id, link);
        return sdk::CommandResult::ok();
    }

    void read_soc(const std::string& asset_id, Link& link) {
        std::string error;
        auto reply = link.connection.request("GET SOC", error);
        if (!reply) {
            // A reply that comes after the timeout would be read as the
            // answer to the next SET: drop the connection, the next command
            // opens a fresh one.
            link.connection.close();
            if (host_.enabled(sdk::LogLevel::Debug))
                host_.log(sdk::LogLevel::Debug, "asset " + asset_id + ": no SOC reading: " + error);
            return;
        }
        double soc = 0;
        if (reply->rfind("SOC ", 0) != 0 ||
            std::from_chars(reply->data() + 4, reply->data() + reply->size(), soc).ec !=
                std::errc()) {
            if (host_.enabled(sdk::LogLevel::Debug))
                host_.log(sdk::LogLevel::Debug, "asset " + asset_id + ": no SOC reading");
            return;
        }
        sdk::TelemetryValue value{"soc", soc, false};
        {
            std::lock_guard lock(mutex_);
            auto& s = states_[asset_id];
            s.telemetry = {value};
        }
        host_.publish({.type = sdk::AssetEventType::Telemetry,
                       .asset_id = asset_id,
                       .at = sdk::Clock::now(),
                       .telemetry = {value}});
    }

    void mark_seen(const std::string& asset_id) {
        std::lock_guard lock(mutex_);
        auto& s = states_[asset_id];
        s.connected = true;
        s.last_seen = sdk::Clock::now();
    }

    sdk::CommandResult lost(const std::string& asset_id, Link& link, std::string why) {
        link.connection.close();
        {
            std::lock_guard lock(mutex_);
            auto& s = states_[asset_id];
            s.connected = false;
            for (auto& t : s.telemetry) t.stale = true;
        }
        if (link.was_connected) {
            link.was_connected = false;
            host_.publish({.type = sdk::AssetEventType::Disconnected,
                           .asset_id = asset_id,
                           .at = sdk::Clock::now(),
                           .reason = why});
        }
        host_.log(sdk::LogLevel::Warn, "asset " + asset_id + ": " + why);
        return sdk::CommandResult::failure(std::move(why));  // retryable: the link may come back
    }

    sdk::HostContext& host_;
    std::map<std::string, Link> links_;  // fixed after construction; worker-only contents
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Job> queue_;
    std::map<std::string, sdk::AssetState> states_;
    bool stopping_ = false;
    std::thread worker_;
};

class LineBatteryPlugin final : public sdk::Plugin {
  public:
    std::span<const sdk::ConfigKey> adapter_keys() const noexcept override { return kAdapterKeys; }
    std::span<const sdk::ConfigKey> asset_keys() const noexcept override { return kAssetKeys; }
    std::span<const std::string_view> asset_types() const noexcept override { return kAssetTypes; }

    sdk::AdapterCreation create_adapter(sdk::HostContext& host) noexcept override {
        sdk::AdapterCreation made;
        made.status = sdk::guarded(
            "create_adapter", [&] { made.adapter = std::make_unique<LineBatteryAdapter>(host); });
        return made;
    }
};

}  // namespace

GRIDGATE_PLUGIN(LineBatteryPlugin, "linebattery", "1.0.0",
                "Battery over a line-based TCP protocol (SET <kw> / GET SOC)",
                sdk::capabilities(sdk::CommandType::SetChargeRate,
                                  sdk::CommandType::SetDischargeRate))
