#include "gateway_process.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <random>
#include <stdexcept>
#include <system_error>
#include <vector>

extern char** environ;

namespace gridgate::testing {

ChildProcess::ChildProcess(const std::filesystem::path& program, std::vector<std::string> args) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
    std::vector<char*> argv;
    std::string prog = program.string();
    argv.push_back(prog.data());
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int rc = ::posix_spawn(&pid_, prog.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    if (rc != 0) {
        ::close(fds[0]);
        throw std::runtime_error("cannot start " + prog);
    }
    out_fd_ = fds[0];
    reader_ = std::thread([this] { read_output(); });
}

ChildProcess::~ChildProcess() {
    if (!status_) {
        ::kill(pid_, SIGKILL);
        int st = 0;
        ::waitpid(pid_, &st, 0);
    }
    if (reader_.joinable()) reader_.join();
    ::close(out_fd_);
}

void ChildProcess::read_output() {
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(out_fd_, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        std::lock_guard lock(mutex_);
        if (n <= 0) {
            eof_ = true;
            cv_.notify_all();
            return;
        }
        output_.append(buf, static_cast<std::size_t>(n));
        cv_.notify_all();
    }
}

std::string ChildProcess::output() const {
    std::lock_guard lock(mutex_);
    return output_;
}

bool ChildProcess::wait_for_output(const std::string& text, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] {
        return output_.find(text) != std::string::npos || eof_;
    }) && output_.find(text) != std::string::npos;
}

std::optional<int> ChildProcess::wait(std::chrono::milliseconds timeout) {
    if (status_) return status_;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        int st = 0;
        pid_t r = ::waitpid(pid_, &st, WNOHANG);
        if (r == pid_) {
            status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            if (reader_.joinable()) reader_.join();
            return status_;
        }
        if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

std::optional<int> ChildProcess::stop(int signal, std::chrono::milliseconds timeout) {
    if (!status_) ::kill(pid_, signal);
    return wait(timeout);
}

RunResult run_to_completion(const std::filesystem::path& program, std::vector<std::string> args,
                            std::chrono::milliseconds timeout) {
    ChildProcess p(program, std::move(args));
    auto code = p.wait(timeout);
    return {code.value_or(-1), p.output()};
}

unsigned short free_tcp_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

namespace {

// The directories write_temp_file made, removed when the test process ends
// (ctest runs each test as its own process), so runs do not pile up in /tmp.
class TempDirs {
  public:
    TempDirs() = default;
    TempDirs(const TempDirs&) = delete;
    TempDirs& operator=(const TempDirs&) = delete;
    ~TempDirs() {
        std::error_code ignored;  // a directory a test removed itself is fine
        for (const auto& dir : dirs_) std::filesystem::remove_all(dir, ignored);
    }
    void add(std::filesystem::path dir) {
        std::lock_guard lock(mutex_);
        dirs_.push_back(std::move(dir));
    }

  private:
    std::mutex mutex_;
    std::vector<std::filesystem::path> dirs_;
};

TempDirs& temp_dirs() {
    static TempDirs dirs;
    return dirs;
}

}  // namespace

std::filesystem::path write_temp_file(const std::string& name, const std::string& text) {
    static std::atomic<int> counter{0};
    std::random_device rd;
    auto dir = std::filesystem::temp_directory_path() /
               ("gridgate-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) +
                "-" + std::to_string(rd() % 100000));
    std::filesystem::create_directories(dir);
    temp_dirs().add(dir);
    auto path = dir / name;
    std::ofstream(path, std::ios::binary) << text;
    return path;
}

}  // namespace gridgate::testing
