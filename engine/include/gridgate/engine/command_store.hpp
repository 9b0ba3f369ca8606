// The engine's command storage: compact records with the indexes the dispatch
// rules need, so that every query costs in proportion to its answer, not to
// the number of commands held.
//
//  - id -> record: open-addressing table of record slots;
//  - asset -> records: asset ids interned once, each asset's slots in creation order;
//  - lane (asset + setpoint type) -> records ordered by scheduled_at, without
//    cancelled ones nor those a newer schedule took over: what supersede and
//    the stale-setpoint rules look at;
//  - due index: PENDING records bucketed by the time they become due;
//  - deadline index: DISPATCHED records bucketed by dispatched_at + timeout.
//
// A record is 64 bytes; a schedule command keeps its one parameter (power_kw)
// inline, anything rarer (other parameters, an error text) lives out of line.
// Growing never copies what is held: records live in fixed blocks, and a
// larger id table is filled a few entries per new record while lookups
// read both tables. So adding a command costs a bounded time, whatever the
// store holds, and a large schedule applied in pieces has no long piece.
// A slot names a record until forget_finished_before() compacts the store;
// ids never change.
//
// Part of DispatchEngine, which owns the lifecycle rules; public for the tests
// and the benchmark. Not thread-safe; use one strand.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gridgate/sdk/command.hpp"
#include "gridgate/sdk/string_map.hpp"

namespace gridgate::engine {

using sdk::TimePoint;
using Slot = std::uint32_t;
using AssetIndex = std::uint32_t;

/// Types that set a level (a rate, a limit, a target): a newer command of the
/// same asset and type makes an older one stale. The others (start, stop,
/// availability) are actions and never supersede each other.
constexpr bool is_setpoint(sdk::CommandType type) noexcept {
    return type == sdk::CommandType::SetChargeRate || type == sdk::CommandType::SetDischargeRate ||
           type == sdk::CommandType::SetPowerLimit || type == sdk::CommandType::SetSocTarget;
}

struct CommandRecord {
    static constexpr TimePoint kNever = TimePoint::min();

    TimePoint scheduled_at{};
    TimePoint dispatched_at = kNever;
    // PENDING: when it is due (scheduled_at, or the retry time);
    // terminal: completed_at; DISPATCHED: kNever.
    TimePoint when = kNever;
    double power_kw = 0.0;  // NaN when the command has none
    std::uint64_t id = 0;
    AssetIndex asset = 0;
    std::uint32_t index_pos = 0;  // position in its due or deadline bucket
    std::uint32_t timeout_ms = 0;
    std::uint16_t max_retries = 0;
    std::uint16_t retry_count = 0;
    sdk::CommandType type = sdk::CommandType::SetChargeRate;
    sdk::CommandStatus status = sdk::CommandStatus::Pending;
    std::uint8_t flags = 0;

    TimePoint deadline() const noexcept {
        return dispatched_at + std::chrono::milliseconds(timeout_ms);
    }
};
static_assert(sizeof(CommandRecord) == 64, "a command record is one cache line");

class CommandStore {
  public:
    static constexpr std::uint32_t kNotIndexed = UINT32_MAX;
    static constexpr std::uint16_t kMaxRetriesLimit = UINT16_MAX;

    struct Limits {
        std::uint16_t max_retries = 3;
        std::uint32_t timeout_ms = 30'000;
    };

    CommandStore();

    // --- assets
    AssetIndex intern_asset(std::string_view asset_id);
    std::optional<AssetIndex> find_asset(std::string_view asset_id) const;
    const std::string& asset_name(AssetIndex asset) const { return assets_[asset].id; }
    std::size_t asset_count() const noexcept { return assets_.size(); }

    // --- creation: a new record is PENDING, due at scheduled_at
    /// Makes room for `additional` more records without growing piecemeal.
    void reserve(std::size_t additional);
    /// A setpoint from a schedule: power_kw is its only parameter.
    Slot add_setpoint(AssetIndex asset, sdk::CommandType type, TimePoint scheduled_at,
                      double power_kw, Limits limits);
    Slot add(AssetIndex asset, sdk::CommandType type, TimePoint scheduled_at,
             const sdk::Parameters& parameters, Limits limits);
    /// Hints for a caller that adds setpoints to many assets in turn (a
    /// schedule row by row): start loading what add_setpoint() will touch,
    /// the asset's entry first, some calls ahead, then the ends of its lists.
    void prefetch_asset(AssetIndex asset) const noexcept {
        __builtin_prefetch(&assets_[asset].commands);
        __builtin_prefetch(&assets_[asset].lanes[1]);
    }
    void prefetch_lists(AssetIndex asset, sdk::CommandType type) const noexcept;

    // --- lookups
    std::optional<Slot> find(sdk::CommandId id) const noexcept;
    const CommandRecord& record(Slot slot) const { return records_[slot]; }
    sdk::Command materialize(Slot slot) const;
    std::string_view error(Slot slot) const;
    std::size_t size() const noexcept { return records_.size(); }
    /// Counts the compactions by forget_finished_before() that moved slots.
    std::uint64_t generation() const noexcept { return generation_; }
    std::span<const Slot> asset_commands(AssetIndex asset) const;
    std::size_t count(sdk::CommandType type, sdk::CommandStatus status) const noexcept {
        return counts_[static_cast<std::size_t>(type)][static_cast<std::size_t>(status)];
    }
    std::size_t count(sdk::CommandStatus status) const noexcept;

    // --- lanes (setpoint types only)
    struct LaneEntry {
        TimePoint scheduled_at;
        Slot slot;
    };
    /// The record after `slot` in its lane (by scheduled_at, then creation), if any.
    std::optional<LaneEntry> next_in_lane(Slot slot) const;
    /// PENDING records of the lane scheduled at or after `from`, in lane order.
    std::vector<Slot> pending_in_lane_from(AssetIndex asset, sdk::CommandType type,
                                           TimePoint from) const;

    // --- time indexes
    /// PENDING records due at or before `now`, in due order (a record stays
    /// here until it leaves PENDING).
    std::vector<Slot> due(TimePoint now) const;
    /// DISPATCHED records whose deadline, rounded up to the millisecond, is
    /// at or before `now`, in deadline order (records within one millisecond
    /// in any order); they leave the deadline index.
    std::vector<Slot> take_expired(TimePoint now);
    /// Every record in the due index (status PENDING) in due order, or in the
    /// deadline index (DISPATCHED) in deadline order; at most `limit`.
    std::vector<Slot> indexed(sdk::CommandStatus status, std::size_t limit = SIZE_MAX) const;
    std::optional<TimePoint> next_due() const;
    /// The earliest deadline in the deadline index, rounded up to the
    /// millisecond (the time take_expired() will hand it out).
    std::optional<TimePoint> next_deadline() const;

    // --- transitions; each keeps the indexes and counts right
    /// PENDING -> DISPATCHED at `at`.
    void mark_dispatched(Slot slot, TimePoint at);
    /// PENDING or DISPATCHED -> PENDING, due at `due`, retry_count + 1.
    void mark_retry(Slot slot, TimePoint due);
    /// PENDING or DISPATCHED -> a terminal status at `at`.
    void mark_finished(Slot slot, sdk::CommandStatus status, TimePoint at);
    void set_error(Slot slot, std::string_view error);
    /// Drops the records that ended (terminal status) before `cutoff` and
    /// rebuilds every index; returns how many were dropped. Costs in
    /// proportion to everything held: call it now and then (retention), not
    /// per command. Every slot may change.
    std::size_t forget_finished_before(TimePoint cutoff);
    /// A new schedule takes over the lane from `from` on: cancels, at `at`,
    /// every PENDING record of the lane scheduled at or after `from` and
    /// returns them in lane order; takes every other record there out of
    /// the lane too, so that what an older schedule sent for a later time
    /// never makes the new schedule's setpoints look stale. A DISPATCHED one
    /// among them is marked superseded(). One pass over the lane's tail.
    std::vector<Slot> supersede_from(AssetIndex asset, sdk::CommandType type, TimePoint from,
                                     TimePoint at);
    /// True for a record that was in flight when a newer schedule took over
    /// its time: it is not to be retried.
    bool superseded(Slot slot) const noexcept { return records_[slot].flags & kSuperseded; }

  private:
    static constexpr std::uint8_t kHasExtra = 1;
    static constexpr std::uint8_t kSuperseded = 2;
    static constexpr Slot kEmpty = UINT32_MAX;

    struct Asset {
        std::string id;
        std::vector<Slot> commands;
        // One per setpoint type. Entries carry their time so that searching a
        // lane reads only the lane, not the records.
        std::array<std::vector<LaneEntry>, 4> lanes;
    };
    struct Extra {
        sdk::Parameters parameters;
        std::string error;
    };
    using Buckets = std::map<TimePoint, std::vector<Slot>>;

    Slot emplace(AssetIndex asset, sdk::CommandType type, TimePoint scheduled_at, double power_kw,
                 Limits limits);
    std::uint64_t fresh_id();
    // Rebuilds the id table at once (after a compaction moved every slot).
    void id_rebuild(std::size_t capacity);
    std::vector<LaneEntry>* lane_of(const CommandRecord& r);
    const std::vector<LaneEntry>* lane_of(const CommandRecord& r) const;
    static bool lane_before(const LaneEntry& a, const LaneEntry& b) noexcept {
        return a.scheduled_at < b.scheduled_at ||
               (a.scheduled_at == b.scheduled_at && a.slot < b.slot);
    }
    LaneEntry lane_entry(Slot slot) const noexcept { return {records_[slot].scheduled_at, slot}; }
    void lane_insert(Slot slot);
    void lane_erase(Slot slot);
    // Records in blocks of kBlockRecords: a new block is allocated when the
    // last one is full, and nothing moves.
    class Records {
      public:
        static constexpr std::size_t kBlockShift = 14;  // 16384 records, 1 MiB
        static constexpr std::size_t kBlockRecords = std::size_t{1} << kBlockShift;

        CommandRecord& operator[](std::size_t slot) noexcept {
            return blocks_[slot >> kBlockShift][slot & (kBlockRecords - 1)];
        }
        const CommandRecord& operator[](std::size_t slot) const noexcept {
            return blocks_[slot >> kBlockShift][slot & (kBlockRecords - 1)];
        }
        std::size_t size() const noexcept { return size_; }
        void push_back(const CommandRecord& r);

      private:
        std::vector<std::unique_ptr<CommandRecord[]>> blocks_;
        std::size_t size_ = 0;
    };

    // Open addressing, linear probing, in zeroed memory from calloc (whose
    // pages the kernel supplies zeroed on first touch, so a large table
    // costs nothing to make). An entry is the slot + 1 in its low half and
    // the id's low 32 bits in its high half, so a probe rarely has to load
    // a record to rule it out; 0 marks a free entry.
    struct IdTable {
        struct Free {
            void operator()(std::uint64_t* p) const noexcept { std::free(p); }
        };
        std::unique_ptr<std::uint64_t[], Free> entries;
        std::size_t capacity = 0;  // a power of two, or 0
        int shift = 64;

        explicit IdTable(std::size_t capacity = 0);
        std::size_t home(std::uint64_t id) const noexcept {
            return static_cast<std::size_t>((id * 0x9E3779B97F4A7C15ULL) >> shift);
        }
        void insert(std::uint64_t id, Slot slot) noexcept;
        std::optional<Slot> find(std::uint64_t id, const Records& records) const noexcept;
    };
    // Starts moving to a table of `capacity` entries (finishing any move
    // still under way first).
    void id_grow(std::size_t capacity);
    // Moves kIdMoveStep more old slots into the new table.
    void id_move_some();

    void index(Buckets& buckets, TimePoint key, Slot slot);
    void unindex(Buckets& buckets, TimePoint key, Slot slot);
    void unindex_current(Slot slot);
    static TimePoint deadline_key(const CommandRecord& r) noexcept;
    void set_status(CommandRecord& r, sdk::CommandStatus status) noexcept;

    Records records_;
    IdTable ids_;
    // While ids_ grows: the previous table, which holds every slot below
    // id_old_slots_; slots below id_moved_ are in ids_ as well.
    IdTable id_old_;
    std::size_t id_old_slots_ = 0;
    std::size_t id_moved_ = 0;
    static constexpr std::size_t kIdMoveStep = 4;
    std::vector<Asset> assets_;
    sdk::StringMap<AssetIndex> asset_index_;
    std::unordered_map<Slot, Extra> extras_;
    Buckets due_;
    Buckets deadlines_;
    std::array<std::array<std::size_t, sdk::kCommandStatusCount>, sdk::kCommandTypeCount> counts_{};
    std::mt19937_64 rng_;
    std::uint64_t generation_ = 0;
    // Ids are drawn this many ahead of use and their table entries prefetched:
    // a random id lands on a random cache line, and waiting for each in turn
    // would dominate the cost of converting a large schedule.
    static constexpr std::size_t kIdLookahead = 16;
    std::array<std::uint64_t, kIdLookahead> next_ids_{};
    std::size_t next_id_pos_ = 0;
};

}  // namespace gridgate::engine
