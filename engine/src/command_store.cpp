#include "gridgate/engine/command_store.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <memory>
#include <new>
#include <stdexcept>
#include <utility>

namespace gridgate::engine {

namespace {

std::size_t lane_number(sdk::CommandType type) noexcept {
    switch (type) {
        case sdk::CommandType::SetChargeRate:
            return 0;
        case sdk::CommandType::SetDischargeRate:
            return 1;
        case sdk::CommandType::SetPowerLimit:
            return 2;
        default:
            return 3;  // SetSocTarget; callers check is_setpoint first
    }
}

bool only_power(const sdk::Parameters& p) noexcept {
    return !p.soc_percent && !p.operative && !p.connector_id && p.id_tag.empty();
}

}  // namespace

CommandStore::CommandStore() {
    std::random_device seed;
    rng_.seed((std::uint64_t{seed()} << 32) ^ seed());
}

// ---------------------------------------------------------------- assets

AssetIndex CommandStore::intern_asset(std::string_view asset_id) {
    if (auto it = asset_index_.find(asset_id); it != asset_index_.end()) return it->second;
    auto index = static_cast<AssetIndex>(assets_.size());
    assets_.push_back(Asset{std::string(asset_id), {}, {}});
    asset_index_.emplace(std::string(asset_id), index);
    return index;
}

std::optional<AssetIndex> CommandStore::find_asset(std::string_view asset_id) const {
    if (auto it = asset_index_.find(asset_id); it != asset_index_.end()) return it->second;
    return std::nullopt;
}

std::span<const Slot> CommandStore::asset_commands(AssetIndex asset) const {
    return assets_[asset].commands;
}

// ---------------------------------------------------------------- creation

void CommandStore::Records::push_back(const CommandRecord& r) {
    if ((size_ >> kBlockShift) == blocks_.size()) {
        blocks_.push_back(std::make_unique_for_overwrite<CommandRecord[]>(kBlockRecords));
    }
    (*this)[size_++] = r;
}

void CommandStore::reserve(std::size_t additional) {
    // Records need no room made (blocks); the id table grows once to fit
    // them all instead of step by step.
    const std::size_t wanted = records_.size() + additional;
    if (ids_.capacity < 2 * wanted) id_grow(std::max(std::bit_ceil(2 * wanted), 2 * ids_.capacity));
}

Slot CommandStore::add_setpoint(AssetIndex asset, sdk::CommandType type, TimePoint scheduled_at,
                                double power_kw, Limits limits) {
    return emplace(asset, type, scheduled_at, power_kw, limits);
}

Slot CommandStore::add(AssetIndex asset, sdk::CommandType type, TimePoint scheduled_at,
                       const sdk::Parameters& parameters, Limits limits) {
    const double power = parameters.power_kw.value_or(std::numeric_limits<double>::quiet_NaN());
    Slot slot = emplace(asset, type, scheduled_at, power, limits);
    if (!only_power(parameters)) {
        extras_[slot].parameters = parameters;
        records_[slot].flags |= kHasExtra;
    }
    return slot;
}

void CommandStore::prefetch_lists(AssetIndex asset, sdk::CommandType type) const noexcept {
    const Asset& a = assets_[asset];
    __builtin_prefetch(a.commands.data() + a.commands.size());
    if (is_setpoint(type)) {
        const auto& lane = a.lanes[lane_number(type)];
        __builtin_prefetch(lane.data() + lane.size());
    }
}

Slot CommandStore::emplace(AssetIndex asset, sdk::CommandType type, TimePoint scheduled_at,
                           double power_kw, Limits limits) {
    if (records_.size() >= kEmpty - 1) throw std::length_error("command store is full");
    const auto slot = static_cast<Slot>(records_.size());
    CommandRecord r;
    r.scheduled_at = scheduled_at;
    r.when = scheduled_at;
    r.power_kw = power_kw;
    r.id = fresh_id();
    r.asset = asset;
    r.index_pos = kNotIndexed;
    r.timeout_ms = limits.timeout_ms;
    r.max_retries = limits.max_retries;
    r.type = type;
    r.status = sdk::CommandStatus::Pending;
    const std::size_t held = records_.size() + 1;
    if (ids_.capacity < 2 * held) id_grow(std::bit_ceil(4 * held));
    records_.push_back(r);
    ids_.insert(r.id, slot);
    if (id_old_.capacity) id_move_some();
    assets_[asset].commands.push_back(slot);
    if (is_setpoint(type)) lane_insert(slot);
    ++counts_[static_cast<std::size_t>(type)][static_cast<std::size_t>(r.status)];
    index(due_, scheduled_at, slot);
    return slot;
}

std::uint64_t CommandStore::fresh_id() {
    for (;;) {
        const std::uint64_t v = next_ids_[next_id_pos_];
        const std::uint64_t ahead = rng_() & sdk::CommandId::kMask;
        next_ids_[next_id_pos_] = ahead;
        next_id_pos_ = (next_id_pos_ + 1) % kIdLookahead;
        if (ids_.capacity) __builtin_prefetch(&ids_.entries[ids_.home(ahead)]);
        if (id_old_.capacity) __builtin_prefetch(&id_old_.entries[id_old_.home(ahead)]);
        // 0 is the default CommandId ("none") and also what the look-ahead
        // starts with; a collision is re-drawn.
        if (v != 0 && !find(sdk::CommandId{v})) return v;
    }
}

CommandStore::IdTable::IdTable(std::size_t cap) {
    if (cap == 0) return;
    cap = std::max<std::size_t>(cap, 16);
    entries.reset(static_cast<std::uint64_t*>(std::calloc(cap, sizeof(std::uint64_t))));
    if (!entries) throw std::bad_alloc();
    capacity = cap;
    shift = 64 - std::countr_zero(cap);
}

void CommandStore::IdTable::insert(std::uint64_t id, Slot slot) noexcept {
    const std::size_t mask = capacity - 1;
    std::size_t h = home(id);
    while (entries[h] != 0) h = (h + 1) & mask;
    entries[h] = (id << 32) | (std::uint64_t{slot} + 1);
}

std::optional<Slot> CommandStore::IdTable::find(std::uint64_t id,
                                                const Records& records) const noexcept {
    if (capacity == 0) return std::nullopt;
    const std::size_t mask = capacity - 1;
    const std::uint64_t fingerprint = id & 0xFFFF'FFFF;
    for (std::size_t h = home(id);; h = (h + 1) & mask) {
        const std::uint64_t entry = entries[h];
        if (entry == 0) return std::nullopt;
        const auto s = static_cast<Slot>(static_cast<std::uint32_t>(entry) - 1);
        if ((entry >> 32) == fingerprint && records[s].id == id) return s;
    }
}

void CommandStore::id_grow(std::size_t capacity) {
    // A move still under way ends first: the old table then holds no one
    // that the new one lacks.
    while (id_old_.capacity) id_move_some();
    IdTable grown(capacity);
    id_old_ = std::exchange(ids_, std::move(grown));
    id_old_slots_ = records_.size();
    id_moved_ = 0;
    if (id_old_slots_ == 0) id_old_ = IdTable();
}

void CommandStore::id_move_some() {
    // The new table is at least twice the old one and next grows when
    // half full: moving kIdMoveStep per new record ends the move long
    // before that.
    const std::size_t end = std::min(id_old_slots_, id_moved_ + kIdMoveStep);
    for (; id_moved_ < end; ++id_moved_) {
        ids_.insert(records_[id_moved_].id, static_cast<Slot>(id_moved_));
    }
    if (id_moved_ == id_old_slots_) id_old_ = IdTable();
}

void CommandStore::id_rebuild(std::size_t capacity) {
    id_old_ = IdTable();
    ids_ = IdTable(capacity);
    for (std::size_t s = 0; s < records_.size(); ++s) {
        ids_.insert(records_[s].id, static_cast<Slot>(s));
    }
}

// ---------------------------------------------------------------- lookups

std::optional<Slot> CommandStore::find(sdk::CommandId id) const noexcept {
    if (auto s = ids_.find(id.value(), records_)) return s;
    // Moving to a larger table: what is not there yet is still in the old one.
    if (id_old_.capacity) return id_old_.find(id.value(), records_);
    return std::nullopt;
}

sdk::Command CommandStore::materialize(Slot slot) const {
    const CommandRecord& r = records_[slot];
    sdk::Command c;
    c.command_id = sdk::CommandId{r.id};
    c.asset_id = assets_[r.asset].id;
    c.command_type = r.type;
    if (r.flags & kHasExtra) {
        const Extra& extra = extras_.at(slot);
        c.parameters = extra.parameters;
        c.error = extra.error;
    }
    if (!std::isnan(r.power_kw)) c.parameters.power_kw = r.power_kw;
    c.scheduled_at = r.scheduled_at;
    c.status = r.status;
    c.retry_count = r.retry_count;
    c.max_retries = r.max_retries;
    c.timeout_seconds = r.timeout_ms / 1000.0;
    if (r.dispatched_at != CommandRecord::kNever) c.dispatched_at = r.dispatched_at;
    if (sdk::is_terminal(r.status)) c.completed_at = r.when;
    return c;
}

std::string_view CommandStore::error(Slot slot) const {
    if (!(records_[slot].flags & kHasExtra)) return {};
    return extras_.at(slot).error;
}

std::size_t CommandStore::count(sdk::CommandStatus status) const noexcept {
    std::size_t n = 0;
    for (const auto& by_status : counts_) n += by_status[static_cast<std::size_t>(status)];
    return n;
}

// ---------------------------------------------------------------- lanes

std::vector<CommandStore::LaneEntry>* CommandStore::lane_of(const CommandRecord& r) {
    return is_setpoint(r.type) ? &assets_[r.asset].lanes[lane_number(r.type)] : nullptr;
}

const std::vector<CommandStore::LaneEntry>* CommandStore::lane_of(const CommandRecord& r) const {
    return is_setpoint(r.type) ? &assets_[r.asset].lanes[lane_number(r.type)] : nullptr;
}

void CommandStore::lane_insert(Slot slot) {
    std::vector<LaneEntry>& lane = *lane_of(records_[slot]);
    const LaneEntry entry = lane_entry(slot);
    // Schedules arrive in time order, so this is almost always an append.
    if (lane.empty() || lane_before(lane.back(), entry)) {
        lane.push_back(entry);
        return;
    }
    lane.insert(std::upper_bound(lane.begin(), lane.end(), entry, lane_before), entry);
}

void CommandStore::lane_erase(Slot slot) {
    std::vector<LaneEntry>* lane = lane_of(records_[slot]);
    if (!lane) return;
    auto it = std::lower_bound(lane->begin(), lane->end(), lane_entry(slot), lane_before);
    if (it != lane->end() && it->slot == slot) lane->erase(it);
}

std::optional<CommandStore::LaneEntry> CommandStore::next_in_lane(Slot slot) const {
    const std::vector<LaneEntry>* lane = lane_of(records_[slot]);
    if (!lane) return std::nullopt;
    auto it = std::upper_bound(lane->begin(), lane->end(), lane_entry(slot), lane_before);
    if (it == lane->end()) return std::nullopt;
    return *it;
}

std::vector<Slot> CommandStore::pending_in_lane_from(AssetIndex asset, sdk::CommandType type,
                                                     TimePoint from) const {
    std::vector<Slot> out;
    if (!is_setpoint(type)) return out;
    const std::vector<LaneEntry>& lane = assets_[asset].lanes[lane_number(type)];
    auto it = std::partition_point(lane.begin(), lane.end(),
                                   [&](const LaneEntry& e) { return e.scheduled_at < from; });
    for (; it != lane.end(); ++it) {
        if (records_[it->slot].status == sdk::CommandStatus::Pending) out.push_back(it->slot);
    }
    return out;
}

// ---------------------------------------------------------------- time indexes

// A storm of commands dispatched within one millisecond shares one bucket (a
// map node per command would be an allocation and a rebalance each); a
// deadline is found expired at most a millisecond late, never early.
TimePoint CommandStore::deadline_key(const CommandRecord& r) noexcept {
    return std::chrono::ceil<std::chrono::milliseconds>(r.deadline());
}

void CommandStore::index(Buckets& buckets, TimePoint key, Slot slot) {
    std::vector<Slot>& bucket = buckets[key];
    records_[slot].index_pos = static_cast<std::uint32_t>(bucket.size());
    bucket.push_back(slot);
}

void CommandStore::unindex(Buckets& buckets, TimePoint key, Slot slot) {
    CommandRecord& r = records_[slot];
    const std::uint32_t pos = std::exchange(r.index_pos, kNotIndexed);
    auto it = buckets.find(key);
    if (it == buckets.end()) return;
    std::vector<Slot>& bucket = it->second;
    // Only a record that really sits at its recorded position is removed: one
    // handed out by take_expired() is no longer in any bucket.
    if (pos >= bucket.size() || bucket[pos] != slot) return;
    const Slot last = bucket.back();
    bucket[pos] = last;
    records_[last].index_pos = pos;
    bucket.pop_back();
    if (bucket.empty()) buckets.erase(it);
}

void CommandStore::unindex_current(Slot slot) {
    const CommandRecord& r = records_[slot];
    if (r.status == sdk::CommandStatus::Pending) {
        unindex(due_, r.when, slot);
    } else if (r.status == sdk::CommandStatus::Dispatched) {
        unindex(deadlines_, deadline_key(r), slot);
    }
}

std::vector<Slot> CommandStore::due(TimePoint now) const {
    std::vector<Slot> out;
    for (auto it = due_.begin(); it != due_.end() && it->first <= now; ++it) {
        out.insert(out.end(), it->second.begin(), it->second.end());
    }
    return out;
}

std::vector<Slot> CommandStore::take_expired(TimePoint now) {
    std::vector<Slot> out;
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
        auto node = deadlines_.extract(deadlines_.begin());
        for (Slot s : node.mapped()) {
            records_[s].index_pos = kNotIndexed;
            out.push_back(s);
        }
    }
    return out;
}

std::vector<Slot> CommandStore::indexed(sdk::CommandStatus status, std::size_t limit) const {
    std::vector<Slot> out;
    const Buckets* buckets = status == sdk::CommandStatus::Pending      ? &due_
                             : status == sdk::CommandStatus::Dispatched ? &deadlines_
                                                                        : nullptr;
    if (!buckets) return out;
    for (const auto& [key, bucket] : *buckets) {
        for (Slot s : bucket) {
            if (out.size() >= limit) return out;
            out.push_back(s);
        }
    }
    return out;
}

std::optional<TimePoint> CommandStore::next_due() const {
    if (due_.empty()) return std::nullopt;
    return due_.begin()->first;
}

std::optional<TimePoint> CommandStore::next_deadline() const {
    if (deadlines_.empty()) return std::nullopt;
    return deadlines_.begin()->first;
}

// ---------------------------------------------------------------- transitions

void CommandStore::set_status(CommandRecord& r, sdk::CommandStatus status) noexcept {
    auto& by_status = counts_[static_cast<std::size_t>(r.type)];
    --by_status[static_cast<std::size_t>(r.status)];
    ++by_status[static_cast<std::size_t>(status)];
    r.status = status;
}

void CommandStore::mark_dispatched(Slot slot, TimePoint at) {
    if (records_[slot].status != sdk::CommandStatus::Pending) {
        throw std::logic_error("mark_dispatched: " + sdk::CommandId{records_[slot].id}.str() +
                               " is " + std::string(sdk::to_string(records_[slot].status)));
    }
    unindex_current(slot);
    CommandRecord& r = records_[slot];
    set_status(r, sdk::CommandStatus::Dispatched);
    r.dispatched_at = at;
    r.when = CommandRecord::kNever;
    index(deadlines_, deadline_key(r), slot);
}

void CommandStore::mark_retry(Slot slot, TimePoint due) {
    if (sdk::is_terminal(records_[slot].status)) {
        throw std::logic_error("mark_retry: " + sdk::CommandId{records_[slot].id}.str() +
                               " has ended");
    }
    unindex_current(slot);
    CommandRecord& r = records_[slot];
    if (r.retry_count < UINT16_MAX) ++r.retry_count;
    set_status(r, sdk::CommandStatus::Pending);
    r.when = due;
    index(due_, due, slot);
}

void CommandStore::mark_finished(Slot slot, sdk::CommandStatus status, TimePoint at) {
    if (!sdk::is_terminal(status) || sdk::is_terminal(records_[slot].status)) {
        throw std::logic_error("mark_finished: " + sdk::CommandId{records_[slot].id}.str() +
                               " cannot go from " +
                               std::string(sdk::to_string(records_[slot].status)) + " to " +
                               std::string(sdk::to_string(status)));
    }
    unindex_current(slot);
    // Lanes hold what was or will be sent; a cancelled command never overtakes another.
    if (status == sdk::CommandStatus::Cancelled) lane_erase(slot);
    CommandRecord& r = records_[slot];
    set_status(r, status);
    r.when = at;
}

std::vector<Slot> CommandStore::supersede_from(AssetIndex asset, sdk::CommandType type,
                                               TimePoint from, TimePoint at) {
    std::vector<Slot> cancelled;
    if (!is_setpoint(type)) return cancelled;
    std::vector<LaneEntry>& lane = assets_[asset].lanes[lane_number(type)];
    auto tail = std::partition_point(lane.begin(), lane.end(),
                                     [&](const LaneEntry& e) { return e.scheduled_at < from; });
    for (auto it = tail; it != lane.end(); ++it) {
        CommandRecord& r = records_[it->slot];
        if (r.status == sdk::CommandStatus::Dispatched) {
            r.flags |= kSuperseded;
        } else if (r.status == sdk::CommandStatus::Pending) {
            unindex_current(it->slot);
            set_status(r, sdk::CommandStatus::Cancelled);
            r.when = at;
            cancelled.push_back(it->slot);
        }
    }
    lane.erase(tail, lane.end());
    return cancelled;
}

std::size_t CommandStore::forget_finished_before(TimePoint cutoff) {
    std::vector<Slot> remap(records_.size(), kEmpty);
    Records kept;
    for (std::size_t s = 0; s < records_.size(); ++s) {
        const CommandRecord& r = records_[s];
        if (sdk::is_terminal(r.status) && r.when < cutoff) {
            --counts_[static_cast<std::size_t>(r.type)][static_cast<std::size_t>(r.status)];
            continue;
        }
        remap[s] = static_cast<Slot>(kept.size());
        kept.push_back(r);
    }
    const std::size_t dropped = records_.size() - kept.size();
    if (dropped == 0) return 0;
    ++generation_;
    records_ = std::move(kept);

    // The remap keeps the order of slots, so every sorted list stays sorted.
    auto remap_list = [&](std::vector<Slot>& list) {
        std::size_t out = 0;
        for (Slot s : list) {
            if (remap[s] != kEmpty) list[out++] = remap[s];
        }
        list.resize(out);
    };
    for (Asset& asset : assets_) {
        remap_list(asset.commands);
        for (auto& lane : asset.lanes) {
            std::size_t out = 0;
            for (const LaneEntry& e : lane) {
                if (remap[e.slot] != kEmpty) lane[out++] = {e.scheduled_at, remap[e.slot]};
            }
            lane.resize(out);
        }
    }
    // PENDING and DISPATCHED records are never dropped: bucket positions hold.
    for (Buckets* buckets : {&due_, &deadlines_}) {
        for (auto& [key, bucket] : *buckets) {
            for (Slot& s : bucket) s = remap[s];
        }
    }
    std::unordered_map<Slot, Extra> extras;
    for (auto& [slot, extra] : extras_) {
        if (remap[slot] != kEmpty) extras.emplace(remap[slot], std::move(extra));
    }
    extras_ = std::move(extras);
    id_rebuild(std::bit_ceil(2 * records_.size() + 2));
    return dropped;
}

void CommandStore::set_error(Slot slot, std::string_view error) {
    CommandRecord& r = records_[slot];
    if (error.empty() && !(r.flags & kHasExtra)) return;
    extras_[slot].error = error;
    r.flags |= kHasExtra;
}

}  // namespace gridgate::engine
