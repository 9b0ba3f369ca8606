// A command's outcome and the exactly-once completion an adapter reports it
// through. Any thread may complete; the host moves the result onto the
// engine's strand.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <utility>

namespace gridgate::sdk {

/// The outcome of executing one command.
struct CommandResult {
    bool success = false;
    /// For a failure: whether sending the command again can help (a busy
    /// device, a timeout, a charger that is offline) or not (the device says
    /// the register does not exist, the charger does not support the call).
    /// The engine ends a non-retryable failure at once instead of retrying.
    bool retryable = true;
    std::string error;

    static CommandResult ok() { return {true, false, {}}; }
    static CommandResult failure(std::string error, bool retryable = true) {
        return {false, retryable, std::move(error)};
    }
};

/// Reports a command's outcome exactly once. Copyable; every copy shares the
/// same once-flag, so whichever copy completes first wins and later calls are
/// ignored (and return false). Thread-safe: any thread may call it.
class Completion {
  public:
    using Handler = std::function<void(CommandResult)>;

    Completion() = default;
    explicit Completion(Handler handler) : state_(std::make_shared<State>(std::move(handler))) {}

    /// Delivers the result if nothing was delivered before. Never throws.
    bool operator()(CommandResult result) const noexcept {
        if (!state_ || state_->done.exchange(true, std::memory_order_acq_rel)) return false;
        try {
            state_->handler(std::move(result));
        } catch (...) {
            // The host's handler only posts to the engine; nothing to recover here.
        }
        return true;
    }

    bool completed() const noexcept {
        return !state_ || state_->done.load(std::memory_order_acquire);
    }

  private:
    struct State {
        explicit State(Handler h) : handler(std::move(h)) {}
        Handler handler;
        std::atomic<bool> done{false};
    };
    std::shared_ptr<State> state_;
};

}  // namespace gridgate::sdk
