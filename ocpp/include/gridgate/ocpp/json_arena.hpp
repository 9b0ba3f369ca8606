// JSON parsed or built in memory on the stack. A RapidJSON Document's own
// pool takes a 64 KiB chunk from the heap and freeing it makes glibc
// consolidate its heap; with thousands of chargers, for every message, that
// costs more than the message. A document bigger than `Bytes` spills to the
// heap in `Bytes`-sized chunks.
#pragma once

#include <cstddef>

#include <rapidjson/allocators.h>
#include <rapidjson/document.h>

namespace gridgate::ocpp {

template <std::size_t Bytes = 4096>
struct JsonArena {
    JsonArena() = default;
    JsonArena(const JsonArena&) = delete;
    JsonArena& operator=(const JsonArena&) = delete;

    alignas(std::max_align_t) char bytes[Bytes];
    rapidjson::MemoryPoolAllocator<> pool{bytes, sizeof bytes, Bytes};
    // The parse stack's allocator: left to itself, a Document makes one on
    // the heap for every parse.
    rapidjson::CrtAllocator stack_allocator;
    // Its values live in `pool` (which may also serve Values without it).
    rapidjson::Document doc{&pool, 1024, &stack_allocator};
};

/// Makes `to` a deep copy of `from` whose memory comes from `allocator`.
/// RapidJSON's own copy (CopyFrom) replays `from` into a temporary Document
/// whose stack is two heap allocations per copy; this one's stack is on the
/// stack. Recurses once per level of `from` (parse_json bounds the depth of
/// parsed JSON).
inline void copy_value(const rapidjson::Value& from, rapidjson::Value& to,
                       rapidjson::MemoryPoolAllocator<>& allocator) {
    alignas(std::max_align_t) char stack[512];
    rapidjson::MemoryPoolAllocator<> stack_pool(stack, sizeof stack);
    rapidjson::GenericDocument<rapidjson::UTF8<>, rapidjson::MemoryPoolAllocator<>,
                               rapidjson::MemoryPoolAllocator<>>
        copy(&allocator, sizeof stack / 2, &stack_pool);
    auto replay = [&](auto& handler) { return from.Accept(handler); };
    copy.Populate(replay);
    to.Swap(copy);  // the values live in `allocator`, not in `copy`
}

}  // namespace gridgate::ocpp
