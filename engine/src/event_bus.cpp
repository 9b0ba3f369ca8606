#include "gridgate/engine/event_bus.hpp"

#include <algorithm>
#include <array>
#include <exception>
#include <string>

namespace gridgate::engine {

struct EventBus::State {
    struct Entry {
        std::uint64_t id;
        std::optional<EventType> type;  // nullopt: every type
        Handler handler;
        bool active = true;
    };

    // Entries are held by pointer so a handler keeps its address while the
    // vector grows under it (a handler that subscribes during a publish).
    std::vector<std::unique_ptr<Entry>> entries;
    std::uint64_t next_id = 1;
    int publish_depth = 0;
    bool has_removed = false;
    std::array<std::size_t, kEventTypeCount> typed_count{};
    std::size_t all_count = 0;
    LogSink log;

    void remove(std::uint64_t id) noexcept {
        auto it = std::find_if(entries.begin(), entries.end(),
                               [id](const auto& e) { return e->id == id && e->active; });
        if (it == entries.end()) return;
        Entry& e = **it;
        e.active = false;
        if (e.type) {
            --typed_count[static_cast<std::size_t>(*e.type)];
        } else {
            --all_count;
        }
        if (publish_depth == 0) {
            entries.erase(it);
        } else {
            // The handler may be the one running right now: destroy it only
            // once no publish is on the stack.
            has_removed = true;
        }
    }

    void compact() noexcept {
        std::erase_if(entries, [](const auto& e) { return !e->active; });
        has_removed = false;
    }
};

EventBus::Subscription& EventBus::Subscription::operator=(Subscription&& other) noexcept {
    if (this != &other) {
        reset();
        state_ = std::move(other.state_);
        id_ = std::exchange(other.id_, 0);
    }
    return *this;
}

void EventBus::Subscription::reset() noexcept {
    if (auto state = state_.lock()) state->remove(id_);
    state_.reset();
    id_ = 0;
}

bool EventBus::Subscription::active() const noexcept {
    auto state = state_.lock();
    if (!state) return false;
    return std::any_of(state->entries.begin(), state->entries.end(),
                       [this](const auto& e) { return e->id == id_ && e->active; });
}

EventBus::EventBus(LogSink log) : state_(std::make_shared<State>()) {
    state_->log = log ? std::move(log) : stderr_log_sink();
}

EventBus::~EventBus() = default;

EventBus::Subscription EventBus::subscribe(EventType type, Handler handler) {
    auto id = state_->next_id++;
    state_->entries.push_back(
        std::make_unique<State::Entry>(State::Entry{id, type, std::move(handler)}));
    ++state_->typed_count[static_cast<std::size_t>(type)];
    return Subscription{state_, id};
}

EventBus::Subscription EventBus::subscribe_all(Handler handler) {
    auto id = state_->next_id++;
    state_->entries.push_back(
        std::make_unique<State::Entry>(State::Entry{id, std::nullopt, std::move(handler)}));
    ++state_->all_count;
    return Subscription{state_, id};
}

void EventBus::publish(const Event& event) {
    // Keep the state alive even if a handler destroys the bus.
    std::shared_ptr<State> state = state_;
    struct DepthGuard {
        State& s;
        explicit DepthGuard(State& st) : s(st) { ++s.publish_depth; }
        ~DepthGuard() {
            if (--s.publish_depth == 0 && s.has_removed) s.compact();
        }
    } guard{*state};

    // Handlers added during this publish sit past `count` and wait for the next event.
    const std::size_t count = state->entries.size();
    for (std::size_t i = 0; i < count; ++i) {
        State::Entry& entry = *state->entries[i];
        if (!entry.active || (entry.type && *entry.type != event.type)) continue;
        try {
            entry.handler(event);
        } catch (const std::exception& e) {
            state->log(LogLevel::Error, std::string("handler for ") +
                                            std::string(to_string(event.type)) +
                                            " threw: " + e.what());
        } catch (...) {
            state->log(LogLevel::Error, std::string("handler for ") +
                                            std::string(to_string(event.type)) +
                                            " threw a non-standard exception");
        }
    }
}

bool EventBus::has_subscribers(EventType type) const noexcept {
    return state_->all_count > 0 || state_->typed_count[static_cast<std::size_t>(type)] > 0;
}

std::size_t EventBus::subscriber_count() const noexcept {
    std::size_t n = state_->all_count;
    for (auto c : state_->typed_count) n += c;
    return n;
}

}  // namespace gridgate::engine
