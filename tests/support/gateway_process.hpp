// Runs a real program (the gridgate binary) as a child process for end-to-end
// tests: captures its output, waits for lines, signals it, reaps it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace gridgate::testing {

/// Not thread-safe except output()/wait_for_output(), which any thread may call.
class ChildProcess {
  public:
    /// Starts `program` with `args`; stdout and stderr are captured together.
    ChildProcess(const std::filesystem::path& program, std::vector<std::string> args);
    ~ChildProcess();  // SIGKILL if still running
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    pid_t pid() const { return pid_; }
    /// Everything the process printed so far.
    std::string output() const;
    /// Waits until the output contains `text`; false on timeout or exit.
    bool wait_for_output(const std::string& text,
                         std::chrono::milliseconds timeout = std::chrono::seconds(10));
    /// Sends `signal` (e.g. SIGTERM) and waits for the exit status; nullopt
    /// if it did not exit within `timeout`.
    std::optional<int> stop(int signal,
                            std::chrono::milliseconds timeout = std::chrono::seconds(10));
    /// Waits for the process to exit on its own; its exit code (128+N for a signal).
    std::optional<int> wait(std::chrono::milliseconds timeout = std::chrono::seconds(10));

  private:
    void read_output();

    pid_t pid_ = -1;
    int out_fd_ = -1;
    std::optional<int> status_;
    std::thread reader_;
    mutable std::mutex mutex_;
    std::condition_variable cv_;
    std::string output_;
    bool eof_ = false;
};

/// Runs a program to completion; returns {exit code, output}.
struct RunResult {
    int exit_code = -1;
    std::string output;
};
RunResult run_to_completion(const std::filesystem::path& program, std::vector<std::string> args,
                            std::chrono::milliseconds timeout = std::chrono::seconds(30));

/// A port on 127.0.0.1 that was free a moment ago.
unsigned short free_tcp_port();

/// Writes `text` to a new file under a fresh temporary directory; returns its
/// path. The directory is removed when the test process exits.
std::filesystem::path write_temp_file(const std::string& name, const std::string& text);

}  // namespace gridgate::testing
