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

/// A Document whose build stack is a memory pool: build_value puts it on
/// the stack.
using StackDocument =
    rapidjson::GenericDocument<rapidjson::UTF8<>, rapidjson::MemoryPoolAllocator<>,
                               rapidjson::MemoryPoolAllocator<>>;

/// Builds a value into `to` from `fill(document)`, which replays JSON events
/// into the StackDocument it is given (a Reader's Parse, a Value's Accept)
/// and says whether it got to the end. The values come from `allocator`;
/// the stack they are built on lives in this call's frame (a Document's own
/// takes it from the heap and gives it back every time). `to` is left as it
/// was when `fill` fails.
template <class Fill>
bool build_value(rapidjson::Value& to, rapidjson::MemoryPoolAllocator<>& allocator, Fill&& fill) {
    alignas(std::max_align_t) char stack[512];
    rapidjson::MemoryPoolAllocator<> stack_pool(stack, sizeof stack, 4096);
    StackDocument built(&allocator, sizeof stack / 2, &stack_pool);
    bool ok = false;
    auto run = [&](StackDocument& document) { return ok = fill(document); };
    built.Populate(run);
    if (ok) to.Swap(built);  // the values live in `allocator`, not in `built`
    return ok;
}

/// Makes `to` a deep copy of `from` whose memory comes from `allocator`
/// (RapidJSON's CopyFrom takes its stack from the heap). Recurses once per
/// level of `from` (parse_json bounds the depth of parsed JSON).
inline void copy_value(const rapidjson::Value& from, rapidjson::Value& to,
                       rapidjson::MemoryPoolAllocator<>& allocator) {
    build_value(to, allocator, [&](StackDocument& document) { return from.Accept(document); });
}

}  // namespace gridgate::ocpp
