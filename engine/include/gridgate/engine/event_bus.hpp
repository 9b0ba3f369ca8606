// The EventBus: synchronous publish/subscribe of engine Events by type.
//
// Not thread-safe; use one strand (the engine's). Publishing calls every
// matching handler before it returns, in subscription order. A handler may
// subscribe or unsubscribe (itself or others) while an event is being
// published: a handler removed during a publish is not called again, one added
// during a publish first sees the next event. A handler that throws is logged
// and the other handlers still run.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "gridgate/engine/events.hpp"
#include "gridgate/engine/log_sink.hpp"

namespace gridgate::engine {

class EventBus {
    struct State;

  public:
    using Handler = std::function<void(const Event&)>;

    /// Owns one subscription and ends it when destroyed or reset. Move-only.
    /// Safe to outlive the bus (it then does nothing).
    class Subscription {
      public:
        Subscription() = default;
        Subscription(Subscription&&) noexcept = default;
        Subscription& operator=(Subscription&& other) noexcept;
        Subscription(const Subscription&) = delete;
        Subscription& operator=(const Subscription&) = delete;
        ~Subscription() { reset(); }

        void reset() noexcept;
        bool active() const noexcept;

      private:
        friend class EventBus;
        Subscription(std::weak_ptr<State> state, std::uint64_t id) noexcept
            : state_(std::move(state)), id_(id) {}
        std::weak_ptr<State> state_;
        std::uint64_t id_ = 0;
    };

    explicit EventBus(LogSink log = stderr_log_sink());
    EventBus(const EventBus&) = delete;
    EventBus& operator=(const EventBus&) = delete;
    ~EventBus();

    [[nodiscard]] Subscription subscribe(EventType type, Handler handler);
    [[nodiscard]] Subscription subscribe_all(Handler handler);

    void publish(const Event& event);

    /// Whether publishing `type` would reach anyone; lets a publisher skip
    /// building events nobody reads.
    bool has_subscribers(EventType type) const noexcept;
    std::size_t subscriber_count() const noexcept;

  private:
    std::shared_ptr<State> state_;
};

}  // namespace gridgate::engine
