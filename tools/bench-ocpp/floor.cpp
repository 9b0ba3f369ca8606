#include "floor.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace gridgate::tools {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// This thread's CPU so far, in user space and in the kernel, in us.
struct ThreadCpu {
    double user = 0, kernel = 0;
};
ThreadCpu thread_cpu_us() {
    rusage u{};
    getrusage(RUSAGE_THREAD, &u);
    return {static_cast<double>(u.ru_utime.tv_sec) * 1e6 + static_cast<double>(u.ru_utime.tv_usec),
            static_cast<double>(u.ru_stime.tv_sec) * 1e6 + static_cast<double>(u.ru_stime.tv_usec)};
}

// Closes every descriptor it holds when it goes.
struct Fds {
    std::vector<int> fds;
    ~Fds() {
        for (int fd : fds) ::close(fd);
    }
};

// The forked far end, killed and reaped if the measurement ends early.
struct Child {
    pid_t pid = -1;
    ~Child() {
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
    }
};

// What the far end needs, allocated before the fork: the child of a
// threaded process must not call malloc.
struct FarEnd {
    std::vector<int> fds;
    std::vector<char> answer;
    std::vector<epoll_event> events;
};

// Makes `fd` a non-blocking, no-delay socket that `ep` reports readable.
void watch(int ep, int fd) {
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.fd = fd;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
}

// The forked far end: connects `n` sockets to `to`, tells the parent it is
// done by writing one byte on `ready`, then answers every read with
// `answer_bytes` until the parent closes the connections.
[[noreturn]] void run_far_end(const sockaddr_in& to, std::size_t n, FarEnd& far, int ready) {
    const int ep = epoll_create1(0);
    for (std::size_t i = 0; i < n; ++i) {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0 || ::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0)
            _exit(2);
        watch(ep, fd);
        far.fds.push_back(fd);  // reserved: no allocation
    }
    const char one_byte = 1;
    if (::write(ready, &one_byte, 1) != 1) _exit(2);
    char buffer[4096];
    std::size_t open = n;
    while (open > 0) {
        const int k = epoll_wait(ep, far.events.data(), static_cast<int>(far.events.size()), -1);
        for (int j = 0; j < k; ++j) {
            const int fd = far.events[static_cast<std::size_t>(j)].data.fd;
            const ssize_t got = ::read(fd, buffer, sizeof buffer);
            if (got > 0) {
                if (::write(fd, far.answer.data(), far.answer.size()) < 0) _exit(3);
            } else if (got == 0 || errno != EAGAIN) {
                epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
                --open;
            }
        }
    }
    _exit(0);
}

}  // namespace

FloorResult measure_floor(std::size_t connections, std::size_t rounds, std::size_t frame_bytes,
                          std::size_t answer_bytes) {
    FloorResult out;
    auto fail = [&](const std::string& what) {
        out.error = what + ": " + std::strerror(errno);
        return out;
    };
    Fds held;
    const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0) return fail("socket");
    held.fds.push_back(listener);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listener, SOMAXCONN) != 0 ||
        ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0)
        return fail("listen on 127.0.0.1");
    int ready[2];
    if (::pipe(ready) != 0) return fail("pipe");
    held.fds.push_back(ready[0]);
    FarEnd far;
    far.fds.reserve(connections);
    far.answer.assign(answer_bytes, 'a');
    far.events.resize(512);
    Child child;
    child.pid = ::fork();
    if (child.pid < 0) return fail("fork");
    if (child.pid == 0) {
        ::close(ready[0]);
        run_far_end(address, connections, far, ready[1]);
    }
    ::close(ready[1]);

    Fds near;
    const int ep = epoll_create1(0);
    held.fds.push_back(ep);
    while (near.fds.size() < connections) {
        const int fd = ::accept(listener, nullptr, nullptr);
        if (fd < 0) return fail("accept");
        watch(ep, fd);
        near.fds.push_back(fd);
    }
    char done = 0;
    if (::read(ready[0], &done, 1) != 1) return fail("the far end did not connect");

    const std::vector<char> frame(frame_bytes, 'f');
    std::vector<epoll_event> events(512);
    char buffer[4096];
    for (std::size_t r = 0; r < rounds; ++r) {
        usleep(200'000);  // idle between rounds, as between slot changes
        FloorRound round;
        round.sent_ms.reserve(connections);
        const ThreadCpu cpu0 = thread_cpu_us();
        const auto t0 = Clock::now();
        for (int fd : near.fds) {
            if (::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL) < 0) return fail("send");
            round.sent_ms.push_back(ms_since(t0));
        }
        const std::size_t expected = connections * answer_bytes;
        std::size_t received = 0;  // bytes: an answer may arrive in pieces
        while (received < expected) {
            const int k = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 5000);
            if (k <= 0) break;
            for (int j = 0; j < k; ++j) {
                const ssize_t got =
                    ::read(events[static_cast<std::size_t>(j)].data.fd, buffer, sizeof buffer);
                if (got > 0) received += static_cast<std::size_t>(got);
            }
        }
        round.last_answer_ms = ms_since(t0);
        const ThreadCpu cpu1 = thread_cpu_us();
        const double user = cpu1.user - cpu0.user, kernel = cpu1.kernel - cpu0.kernel;
        round.cpu_us_per_round_trip =
            (user + kernel) / static_cast<double>(std::max<std::size_t>(1, connections));
        round.kernel_share_percent = user + kernel > 0 ? 100 * kernel / (user + kernel) : 0;
        if (received < expected) {
            out.error = "the far end answered " + std::to_string(received / answer_bytes) + " of " +
                        std::to_string(connections) + " frames within 5 s";
            break;
        }
        out.rounds.push_back(std::move(round));
    }
    // The far end sees every connection end and exits.
    for (int fd : near.fds) ::shutdown(fd, SHUT_RDWR);
    ::waitpid(child.pid, nullptr, 0);
    child.pid = -1;
    return out;
}

namespace {

// AnonHugePages of this process, in KiB (smaps_rollup).
long anon_huge_kib() {
    std::ifstream rollup("/proc/self/smaps_rollup");
    std::string line;
    constexpr std::string_view kKey = "AnonHugePages:";
    while (std::getline(rollup, line)) {
        if (line.compare(0, kKey.size(), kKey) == 0) return std::atol(line.c_str() + kKey.size());
    }
    return 0;
}

}  // namespace

ColdTouch measure_cold_touch(std::chrono::milliseconds idle, std::size_t bytes) {
    ColdTouch out;
    constexpr std::size_t kPage = 4096, kHuge = 2u << 20;
    // Room for both regions, and for the second to start on a huge-page
    // boundary.
    const std::size_t length = 2 * bytes + kHuge;
    void* area =
        ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED) {
        out.error = std::string("mmap: ") + std::strerror(errno);
        return out;
    }
    auto* small = static_cast<char*>(area);
    const auto after = reinterpret_cast<std::uintptr_t>(small + bytes);
    auto* huge = reinterpret_cast<char*>((after + kHuge - 1) / kHuge * kHuge);
    ::madvise(small, bytes, MADV_NOHUGEPAGE);
    ::madvise(huge, bytes, MADV_HUGEPAGE);
    const long huge_before = anon_huge_kib();
    std::memset(small, 1, bytes);
    std::memset(huge, 1, bytes);
    out.huge = anon_huge_kib() > huge_before;
    std::this_thread::sleep_for(idle);
    // One byte of each page, the two regions alike, one after the other.
    auto touch = [&](char* region) {
        const auto t0 = std::chrono::steady_clock::now();
        for (std::size_t i = 0; i < bytes; i += kPage) {
            volatile char* byte = region + i;
            *byte = static_cast<char>(*byte + 1);
        }
        const double us =
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0)
                .count();
        return us / static_cast<double>(bytes / kPage);
    };
    out.small_pages_us = touch(small);
    out.huge_pages_us = touch(huge);
    ::munmap(area, length);
    return out;
}

}  // namespace gridgate::tools
