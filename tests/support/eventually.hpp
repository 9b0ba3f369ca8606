// Waiting in tests: poll a condition until it holds or a time limit passes,
// instead of sleeping for a guessed while.
#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace gridgate::test {

// True as soon as `condition` holds; false if it still does not after `limit`.
inline bool eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (condition()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return condition();
}

}  // namespace gridgate::test
