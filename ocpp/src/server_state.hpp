// What every session of a CentralSystem shares: options, schemas, the
// handler, the TLS context and the registry of connected charge points.
// Sessions hold it by shared_ptr, so it outlives the CentralSystem object
// for as long as any connection is still closing.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/ssl/context.hpp>

#include "gridgate/ocpp/central_system.hpp"
#include "json_output.hpp"

namespace gridgate::ocpp::detail {

inline constexpr auto kNoDeadline = std::chrono::steady_clock::time_point::max();

struct PendingCall {
    std::string message_id;
    std::string_view action;  // the schema registry's copy, which outlives the call
    std::string frame;
    // The charger's time to answer, counted from when the CALL is sent.
    std::chrono::milliseconds timeout{};
    // The caller's own limit (CentralSystem::call), none by default: a call
    // still queued then is never sent; one in flight ends then at the latest.
    std::chrono::steady_clock::time_point deadline = kNoDeadline;
    std::chrono::steady_clock::time_point made{};  // when call() was made, if it has a deadline
    // When the call in flight is given up: the earlier of its send plus
    // timeout and its deadline. Set when it is sent.
    std::chrono::steady_clock::time_point due{};
    CallCallback callback;
};

// The non-template face of a charge point session. Thread-safe: both
// functions post onto the session's I/O thread (submit_call runs at once
// when already on it).
class SessionBase {
  public:
    virtual ~SessionBase() = default;
    virtual void submit_call(PendingCall&& call) = 0;
    virtual void close(std::string reason) = 0;
};

// An identity's entry in the registry: made when the identity first
// connects or is asked for a handle, kept for the server's life (only
// identities the authorizer accepted or a caller named get one).
//
// A call on its way to an I/O thread names the slot and the connection it
// was made for, not the session: the caller's thread then touches nothing
// that the I/O thread keeps writing (the session's reference count), which
// with thousands of calls in a burst is a cache miss saved per call.
struct ChargePointSlot {
    explicit ChargePointSlot(std::string id) : identity(std::move(id)) {}
    const std::string identity;
    std::shared_ptr<SessionBase> session;  // guarded by ServerState::mutex
    // Counts the identity's connections: which one `session` is (guarded by
    // ServerState::mutex).
    std::uint64_t connection = 0;

    // Message ids of the calls to this identity. A counter keeps ids short
    // (far below OCPP-J's 36 characters) and never reuses one, on this
    // connection or the next, so a late answer cannot match a newer call.
    std::string next_message_id() {
        return std::to_string(next_message_id_.fetch_add(1, std::memory_order_relaxed));
    }

  private:
    std::atomic<std::uint64_t> next_message_id_{1};
};

struct ServerState {
    ServerState(CentralSystemOptions opts, HandshakeAuthorizer auth,
                std::shared_ptr<CallHandler> call_handler)
        : options(std::move(opts)),
          schemas(options.schemas != nullptr ? options.schemas : &SchemaRegistry::v16()),
          authorizer(std::move(auth)),
          handler(std::move(call_handler)) {}

    const CentralSystemOptions options;
    const SchemaRegistry* const schemas;
    const HandshakeAuthorizer authorizer;
    const std::shared_ptr<CallHandler> handler;
    std::optional<boost::asio::ssl::context> tls;

    void log(LogLevel level, std::string_view message) const {
        if (options.log) options.log(level, message);
    }

    // Hands `outcome` to a call's callback on an I/O thread; an exception
    // from it is logged as `who()`'s, never let loose on the thread. `who`
    // makes the name only then: a string per answer is an allocation.
    template <class Who>
    void deliver(CallCallback& callback, CallOutcome&& outcome, Who&& who) const {
        try {
            if (callback) callback(std::move(outcome));
        } catch (const std::exception& e) {
            log(LogLevel::Error, std::string(who()) + ": call callback threw: " + e.what());
        }
    }

    // Makes `session` the connection of `identity`; returns the one it replaces.
    std::shared_ptr<SessionBase> replace(const std::string& identity,
                                         std::shared_ptr<SessionBase> session) {
        std::lock_guard lock(mutex);
        ChargePointSlot& slot = slot_locked(identity);
        std::swap(slot.session, session);
        ++slot.connection;
        return session;
    }

    // Forgets `identity`'s connection only when it is still `session`: an
    // old connection closing after a newer one connected must not
    // unregister the newer one. True when it was removed.
    bool remove(const std::string& identity, const SessionBase* session) {
        std::lock_guard lock(mutex);
        auto found = slots.find(identity);
        if (found == slots.end() || found->second->session.get() != session) return false;
        found->second->session.reset();
        return true;
    }

    std::shared_ptr<SessionBase> find(std::string_view identity) const {
        std::lock_guard lock(mutex);
        auto found = slots.find(identity);
        return found == slots.end() ? nullptr : found->second->session;
    }

    // The slot of `identity`, if it has one (null otherwise).
    ChargePointSlot* find_slot(std::string_view identity) const {
        std::lock_guard lock(mutex);
        auto found = slots.find(identity);
        return found == slots.end() ? nullptr : found->second.get();
    }

    // Which connection the slot has now; nullopt when it has none.
    std::optional<std::uint64_t> connection_of(const ChargePointSlot& slot) const {
        std::lock_guard lock(mutex);
        if (!slot.session) return std::nullopt;
        return slot.connection;
    }

    ChargePointSlot& slot(std::string_view identity) {
        std::lock_guard lock(mutex);
        return slot_locked(identity);
    }

    std::vector<std::string> connected() const {
        std::lock_guard lock(mutex);
        std::vector<std::string> identities;
        for (const auto& [identity, slot] : slots)
            if (slot->session) identities.push_back(identity);
        return identities;
    }

    // Sessions still in their handshake, so stop() can close them too.
    void track(SessionBase* session, std::weak_ptr<SessionBase> weak) {
        std::lock_guard lock(mutex);
        live[session] = std::move(weak);
    }
    void untrack(SessionBase* session) {
        std::lock_guard lock(mutex);
        live.erase(session);
    }

    // Calls from other threads wait here for the I/O threads: a slot change
    // to thousands of chargers takes this lock and wakes an I/O thread once
    // per batch instead of once per call. CentralSystem::call() posts the
    // drain when it finds the list empty.
    struct Submission {
        ChargePointSlot* slot;
        std::uint64_t connection;  // the slot's connection when the call was made
        PendingCall call;
    };

    // The session each submission was made for, or null for one whose
    // connection has closed or been replaced since: under one lock for the
    // whole batch.
    void sessions_of(const std::vector<Submission>& batch,
                     std::vector<std::shared_ptr<SessionBase>>& out) const {
        out.clear();
        out.reserve(batch.size());
        std::lock_guard lock(mutex);
        for (const Submission& s : batch) {
            const bool same = s.slot->session && s.slot->connection == s.connection;
            out.push_back(same ? s.slot->session : nullptr);
        }
    }
    std::mutex submissions_mutex;
    std::vector<Submission> submissions;
    // Set with the first submission of a batch, cleared by the drain that
    // takes it: read without the lock by send_waiting_calls().
    std::atomic<bool> calls_waiting{false};
    // The first I/O thread's, where the drain runs.
    boost::asio::io_context* drain_context = nullptr;
    // The drain's own list, swapped with `submissions`: both keep their
    // capacity, so a storm does not grow a vector from nothing per batch.
    // Only the drain (on the first I/O thread) touches it.
    std::vector<Submission> draining;
    std::vector<std::shared_ptr<SessionBase>> draining_sessions;

    // Frames written on one thread (a caller's, for calls) and sent on
    // another (an I/O thread): the I/O thread gives each sent frame's
    // buffer back here and the next call is written into it. Without this,
    // every frame is allocated on the caller's heap and freed on the I/O
    // thread's, and a storm makes the caller's heap grow and shrink again
    // each time (page faults, and sweeps of the freed chunks).
    class FramePool {
      public:
        // At most this many are kept (a storm has as many frames between
        // the caller and the sockets as it has calls), each with room for a
        // call's frame (smaller ones, answers to chargers, would only be
        // grown again) and not much more.
        static constexpr std::size_t kMaxKept = 1024;
        static constexpr std::size_t kMinCapacity = kCallFrameReserve;
        static constexpr std::size_t kMaxCapacity = 4096;

        std::string take() {
            std::lock_guard lock(mutex_);
            if (kept_.empty()) return {};
            std::string out = std::move(kept_.back());
            kept_.pop_back();
            return out;
        }
        void give(std::string&& frame) {
            if (frame.capacity() > kMaxCapacity || frame.capacity() < kMinCapacity) return;
            frame.clear();
            std::lock_guard lock(mutex_);
            if (kept_.size() < kMaxKept) kept_.push_back(std::move(frame));
        }

      private:
        std::mutex mutex_;
        std::vector<std::string> kept_;
    };
    FramePool frames;

    // On the first I/O thread: hands each call made since the last drain to
    // its session, or fails it when the connection it was made for is gone.
    void drain_submissions();

    // On an I/O thread about to read a charger's message: the calls made
    // since the last drain go out first, when this is the drain's thread. In
    // a slot change the thread would otherwise read a batch of answers
    // between two batches of calls, and the last call would go out after
    // most of the answers were read: getting every charger its new limit
    // comes first. A relaxed load: a set flag missed here only leaves the
    // calls to the drain already posted.
    void send_waiting_calls() {
        if (calls_waiting.load(std::memory_order_relaxed) && drain_context != nullptr &&
            drain_context->get_executor().running_in_this_thread())
            drain_submissions();
    }

    mutable std::mutex mutex;
    // Looked up by string_view without a temporary string.
    struct Hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept {
            return std::hash<std::string_view>{}(s);
        }
    };
    std::unordered_map<std::string, std::unique_ptr<ChargePointSlot>, Hash, std::equal_to<>> slots;
    std::unordered_map<SessionBase*, std::weak_ptr<SessionBase>> live;
    std::atomic<bool> stopping{false};

  private:
    ChargePointSlot& slot_locked(std::string_view identity) {
        auto found = slots.find(identity);
        if (found == slots.end())
            found = slots
                        .emplace(std::string(identity),
                                 std::make_unique<ChargePointSlot>(std::string(identity)))
                        .first;
        return *found->second;
    }
};

}  // namespace gridgate::ocpp::detail
