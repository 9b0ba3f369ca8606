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
    rapidjson::Document doc{&pool};  // uses `pool`; or use `pool` for Values alone
};

}  // namespace gridgate::ocpp
