// A battery controller speaking the linebattery example's protocol, for
// tests of the vendor example plugin (in-process or through the daemon).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace gridgate::testing {

using namespace std::chrono_literals;

// The battery controller: answers `SET <kw>` with OK (or ERR out_of_range
// beyond 100 kW) and `GET SOC` with the state of charge. One client at a time.
class LineBatterySimulator {
  public:
    LineBatterySimulator() {
        listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = 0;  // the OS picks, so parallel tests never collide
        if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
            ::listen(listen_fd_, 4) != 0)
            throw std::runtime_error("simulator cannot listen");
        socklen_t len = sizeof addr;
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
        if (::pipe(wake_) != 0) throw std::runtime_error("simulator cannot make a pipe");
        thread_ = std::thread([this] { serve(); });
    }
    ~LineBatterySimulator() {
        char c = 'x';
        [[maybe_unused]] auto n = ::write(wake_[1], &c, 1);
        thread_.join();
        ::close(listen_fd_);
        ::close(wake_[0]);
        ::close(wake_[1]);
    }

    int port() const { return port_; }

    /// From now on, `GET SOC` is answered only after `delay` (a slow
    /// controller: the answer may come after the client stopped waiting).
    void delay_soc_answers(std::chrono::milliseconds delay) { soc_delay_ms_ = delay.count(); }

    /// Waits until `count` lines have arrived; returns them all.
    std::vector<std::string> await_lines(std::size_t count) {
        std::unique_lock lock(mutex_);
        cv_.wait_for(lock, 5s, [&] { return lines_.size() >= count; });
        return lines_;
    }

  private:
    void serve() {
        int client = -1;
        std::string buffer;
        for (;;) {
            pollfd fds[2] = {{wake_[0], POLLIN, 0}, {client >= 0 ? client : listen_fd_, POLLIN, 0}};
            if (::poll(fds, 2, -1) < 0) continue;
            if (fds[0].revents) break;
            if (client < 0) {
                client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
                continue;
            }
            char chunk[256];
            ssize_t n = ::recv(client, chunk, sizeof chunk, 0);
            if (n <= 0) {
                ::close(client);
                client = -1;
                buffer.clear();
                continue;
            }
            buffer.append(chunk, static_cast<std::size_t>(n));
            for (auto nl = buffer.find('\n'); nl != std::string::npos; nl = buffer.find('\n')) {
                std::string line = buffer.substr(0, nl);
                buffer.erase(0, nl + 1);
                if (line == "GET SOC" && soc_delay_ms_ > 0)
                    std::this_thread::sleep_for(std::chrono::milliseconds(soc_delay_ms_.load()));
                std::string reply = answer(line) + "\n";
                [[maybe_unused]] auto sent =
                    ::send(client, reply.data(), reply.size(), MSG_NOSIGNAL);
                std::lock_guard lock(mutex_);
                lines_.push_back(line);
                cv_.notify_all();
            }
        }
        if (client >= 0) ::close(client);
    }

    static std::string answer(const std::string& line) {
        if (line == "GET SOC") return "SOC 55.5";
        if (line.rfind("SET ", 0) == 0) {
            double kw = std::strtod(line.c_str() + 4, nullptr);
            return kw > 100.0 || kw < -100.0 ? "ERR out_of_range" : "OK";
        }
        return "ERR unknown_command";
    }

    std::atomic<long> soc_delay_ms_{0};
    int listen_fd_ = -1;
    int wake_[2] = {-1, -1};
    int port_ = 0;
    std::thread thread_;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::vector<std::string> lines_;
};

}  // namespace gridgate::testing
