// A command's outcome in tests: hand completion() to an adapter, then await()
// the result with a deadline (a failure "test: no completion within 5 s" if
// none came).
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>

#include "gridgate/sdk/completion.hpp"

namespace gridgate::test {

struct CommandOutcome {
    std::mutex mutex;
    std::condition_variable cv;
    std::optional<sdk::CommandResult> result;

    sdk::Completion completion() {
        return sdk::Completion([this](sdk::CommandResult r) {
            std::lock_guard lock(mutex);
            result = std::move(r);
            cv.notify_all();
        });
    }
    sdk::CommandResult await() {
        std::unique_lock lock(mutex);
        if (!cv.wait_for(lock, std::chrono::seconds(5), [&] { return result.has_value(); }))
            return sdk::CommandResult::failure("test: no completion within 5 s");
        return *result;
    }
};

}  // namespace gridgate::test
