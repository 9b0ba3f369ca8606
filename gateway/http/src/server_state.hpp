// What the listener and every connection of one ApiServer share: the options,
// the backend, and the registry of open connections that stop() walks.
//
// Thread-safety: options and backend are read-only after construction; the
// registry is guarded by a mutex; counters are atomic.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gridgate/http/api_backend.hpp"
#include "gridgate/http/api_server.hpp"

namespace gridgate::http::detail {

class HttpSession;

class ServerState {
  public:
    ServerState(ApiServerOptions options, ApiBackend& backend)
        : options_(std::move(options)), backend_(backend) {}

    const ApiServerOptions& options() const noexcept { return options_; }
    ApiBackend& backend() const noexcept { return backend_; }

    /// Reserves a connection slot; false when max_connections are open.
    bool try_reserve_connection() noexcept {
        std::size_t open = open_.load(std::memory_order_relaxed);
        do {
            if (open >= options_.max_connections) return false;
        } while (!open_.compare_exchange_weak(open, open + 1, std::memory_order_relaxed));
        return true;
    }
    std::size_t open_connections() const noexcept { return open_.load(std::memory_order_relaxed); }

    bool stopping() const noexcept { return stopping_.load(std::memory_order_acquire); }

    /// Registers a new session; false once stopping (the caller drops it).
    bool add(const std::shared_ptr<HttpSession>& session) {
        std::lock_guard lock(mutex_);
        if (stopping()) return false;
        sessions_.emplace(session.get(), session);
        return true;
    }

    /// Called by a session's destructor; releases its connection slot and,
    /// when the server is stopping and this was the last one, reports it.
    void remove(HttpSession* session) {
        std::function<void()> all_closed;
        {
            std::lock_guard lock(mutex_);
            sessions_.erase(session);
            open_.fetch_sub(1, std::memory_order_relaxed);
            if (stopping() && sessions_.empty())
                all_closed = std::exchange(on_all_closed_, nullptr);
        }
        if (all_closed) all_closed();
    }

    /// Marks the server stopping and returns the sessions open now. When none
    /// is open, `on_all_closed` runs before this returns; otherwise once the
    /// last one is gone.
    std::vector<std::shared_ptr<HttpSession>> begin_stop(std::function<void()> on_all_closed) {
        std::vector<std::shared_ptr<HttpSession>> open;
        {
            std::lock_guard lock(mutex_);
            stopping_.store(true, std::memory_order_release);
            for (auto& [raw, weak] : sessions_) {
                if (auto s = weak.lock()) open.push_back(std::move(s));
            }
            if (sessions_.empty()) {
                on_all_closed_ = nullptr;
            } else {
                on_all_closed_ = std::move(on_all_closed);
                on_all_closed = nullptr;
            }
        }
        if (on_all_closed) on_all_closed();
        return open;
    }

    std::vector<std::shared_ptr<HttpSession>> sessions() const {
        std::vector<std::shared_ptr<HttpSession>> open;
        std::lock_guard lock(mutex_);
        for (auto& [raw, weak] : sessions_) {
            if (auto s = weak.lock()) open.push_back(std::move(s));
        }
        return open;
    }

  private:
    const ApiServerOptions options_;
    ApiBackend& backend_;
    std::atomic<std::size_t> open_{0};
    std::atomic<bool> stopping_{false};
    mutable std::mutex mutex_;
    std::unordered_map<HttpSession*, std::weak_ptr<HttpSession>> sessions_;
    std::function<void()> on_all_closed_;
};

}  // namespace gridgate::http::detail
