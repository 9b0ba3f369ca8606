// The outcome of a call across the plugin boundary, and the helpers that turn
// a plugin's exception into one.
//
// Every call between host and plugin is noexcept: an exception must never
// unwind through the other side's frames. A plugin wraps the work of each
// entry point in guarded() / guarded_execute(), and the host sees a Status or
// a failed CommandResult carrying the exception's message.
#pragma once

#include <exception>
#include <string>
#include <type_traits>
#include <utility>

#include "gridgate/sdk/completion.hpp"

namespace gridgate::sdk {

/// Success, or a failure with a message meant for the operator's log.
class Status {
  public:
    Status() = default;

    static Status ok() { return {}; }
    static Status failure(std::string message) { return Status{std::move(message)}; }

    bool is_ok() const noexcept { return !failed_; }
    explicit operator bool() const noexcept { return !failed_; }
    const std::string& message() const noexcept { return message_; }

  private:
    explicit Status(std::string message) : failed_(true), message_(std::move(message)) {}

    bool failed_ = false;
    std::string message_;
};

namespace detail {
/// The message of the exception being handled; call only inside a catch block.
inline std::string current_exception_message() noexcept {
    try {
        throw;
    } catch (const std::exception& e) {
        try {
            return e.what();
        } catch (...) {
        }
    } catch (...) {
    }
    return "unknown exception";
}
}  // namespace detail

/// Runs `work` (returning void or Status) and turns any exception it throws
/// into a failed Status naming `what`: "start: connection refused".
template <typename Work>
Status guarded(std::string_view what, Work&& work) noexcept {
    try {
        if constexpr (std::is_same_v<std::invoke_result_t<Work>, Status>) {
            return std::forward<Work>(work)();
        } else {
            std::forward<Work>(work)();
            return Status::ok();
        }
    } catch (...) {
        try {
            return Status::failure(std::string(what) + ": " + detail::current_exception_message());
        } catch (...) {
            return Status::failure({});  // out of memory while reporting the message
        }
    }
}

/// For Adapter::execute(): runs `work`, and if it throws, completes `done`
/// with a non-retryable failure carrying the exception's message (code that
/// threw once will throw again; retrying only delays the operator's view of it).
/// `done` is left alone when `work` returns normally: `work` owns it then.
template <typename Work>
void guarded_execute(const Completion& done, Work&& work) noexcept {
    try {
        std::forward<Work>(work)();
    } catch (...) {
        try {
            done(CommandResult::failure("adapter error: " + detail::current_exception_message(),
                                        false));
        } catch (...) {
        }
    }
}

}  // namespace gridgate::sdk
