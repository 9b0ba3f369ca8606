// The per-thread block cache behind a connection's per-message memory.
#include <gtest/gtest.h>

#include <algorithm>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <vector>

#include <boost/asio/associated_allocator.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "block_cache.hpp"
#include "gridgate/ocpp/central_system.hpp"

using gridgate::ocpp::detail::BlockCache;
using gridgate::ocpp::detail::Cached;
using gridgate::ocpp::detail::CachingAllocator;

TEST(BlockCache, AFreedBlockServesTheNextRequestOfItsSizeClass) {
    if (!BlockCache::kEnabled) GTEST_SKIP() << "no cache under AddressSanitizer";
    void* first = BlockCache::allocate(200);
    BlockCache::deallocate(first, 200);
    void* second = BlockCache::allocate(250);  // same class (up to 256 bytes)
    EXPECT_EQ(second, first);
    BlockCache::deallocate(second, 250);
}

TEST(BlockCache, ABlockIsNotHandedOutForAnotherSizeClass) {
    if (!BlockCache::kEnabled) GTEST_SKIP() << "no cache under AddressSanitizer";
    void* big = BlockCache::allocate(1000);
    BlockCache::deallocate(big, 1000);
    void* small = BlockCache::allocate(100);
    EXPECT_NE(small, big);
    void* again = BlockCache::allocate(1000);
    EXPECT_EQ(again, big);
    BlockCache::deallocate(small, 100);
    BlockCache::deallocate(again, 1000);
}

TEST(BlockCache, KeepsABoundedNumberOfBlocksPerClass) {
    if (!BlockCache::kEnabled) GTEST_SKIP() << "no cache under AddressSanitizer";
    // Drain whatever earlier tests left in the 2 KiB class.
    std::vector<void*> leftover;
    for (int i = 0; i < 100; ++i) leftover.push_back(BlockCache::allocate(2048));
    for (void* p : leftover) ::operator delete(p);

    std::vector<void*> blocks;
    for (int i = 0; i < 100; ++i) blocks.push_back(BlockCache::allocate(2000));
    for (void* p : blocks) BlockCache::deallocate(p, 2000);
    // The first 64 freed were kept and come back newest first; the other 36
    // went back to the heap.
    std::vector<void*> again;
    for (int i = 0; i < 64; ++i) again.push_back(BlockCache::allocate(2000));
    for (int i = 0; i < 64; ++i) EXPECT_EQ(again[i], blocks[63 - i]) << i;
    void* fresh = BlockCache::allocate(2000);
    EXPECT_EQ(std::find(blocks.begin(), blocks.begin() + 64, fresh), blocks.begin() + 64);
    ::operator delete(fresh);
    for (void* p : again) BlockCache::deallocate(p, 2000);
}

TEST(BlockCache, RequestsOverTheLargestClassGoToTheHeap) {
    void* p = BlockCache::allocate(64 * 1024);
    ASSERT_NE(p, nullptr);
    static_cast<char*>(p)[64 * 1024 - 1] = 1;  // the whole block is usable
    BlockCache::deallocate(p, 64 * 1024);
}

TEST(BlockCache, ABlockFreedOnAnotherThreadJoinsThatThreadsCache) {
    if (!BlockCache::kEnabled) GTEST_SKIP() << "no cache under AddressSanitizer";
    void* p = BlockCache::allocate(512);
    void* reused = nullptr;
    std::thread([&] {
        BlockCache::deallocate(p, 512);
        reused = BlockCache::allocate(500);
        BlockCache::deallocate(reused, 500);
    }).join();
    EXPECT_EQ(reused, p);
}

// At thread exit the lists are emptied, and a block freed after that (by a
// thread-local destroyed later) goes to the heap instead of a list no one
// will empty again.
TEST(BlockCache, AThreadsListsCloseWhenItEnds) {
    if (!BlockCache::kEnabled) GTEST_SKIP() << "no cache under AddressSanitizer";
    unsigned while_running = 0;
    unsigned at_exit = 99;
    std::thread([&] {
        struct Late {
            unsigned* out;
            ~Late() {
                void* p = BlockCache::allocate(100);
                BlockCache::deallocate(p, 100);
                *out = BlockCache::kept(100);
            }
        };
        // Made before the thread's first block, so destroyed after its lists
        // are closed (thread-locals go in the reverse order).
        thread_local Late late{&at_exit};
        void* p = BlockCache::allocate(100);
        BlockCache::deallocate(p, 100);
        while_running = BlockCache::kept(100);
    }).join();
    EXPECT_EQ(while_running, 1u);
    EXPECT_EQ(at_exit, 0u);
}

TEST(BlockCache, CachedHandlersCarryTheCachingAllocatorThroughAsio) {
    auto handler = Cached{[] {}};
    static_assert(std::is_same_v<boost::asio::associated_allocator_t<decltype(handler)>,
                                 CachingAllocator<void>>);
    boost::asio::io_context io;
    int runs = 0;
    for (int i = 0; i < 3; ++i) boost::asio::post(io, Cached{[&runs] { ++runs; }});
    io.run();
    EXPECT_EQ(runs, 3);
}

TEST(BlockCache, MakeCachedBuildsInABlockAndGivesItBack) {
    struct Thing {
        explicit Thing(int v, int* destroyed) : value(v), destroyed(destroyed) {}
        ~Thing() { ++*destroyed; }
        int value;
        int* destroyed;
        char room[150];  // the 256-byte class
    };
    int destroyed = 0;
    void* first = nullptr;
    {
        auto thing = gridgate::ocpp::detail::make_cached<Thing>(7, &destroyed);
        EXPECT_EQ(thing->value, 7);
        first = thing.get();
    }
    EXPECT_EQ(destroyed, 1);
    if (!BlockCache::kEnabled) GTEST_SKIP() << "no cache under AddressSanitizer";
    void* next = BlockCache::allocate(sizeof(Thing));
    EXPECT_EQ(next, first);
    BlockCache::deallocate(next, sizeof(Thing));
}

TEST(BlockCache, MakeCachedGivesTheBlockBackWhenTheConstructorThrows) {
    struct Throws {
        Throws() { throw std::runtime_error("no"); }
        char room[200];
    };
    EXPECT_THROW(gridgate::ocpp::detail::make_cached<Throws>(), std::runtime_error);
    if (!BlockCache::kEnabled) GTEST_SKIP() << "no cache under AddressSanitizer";
    // The block went back to this thread's list, so the next request of its
    // class is served from there, not from the heap.
    void* a = BlockCache::allocate(sizeof(Throws));
    void* b = BlockCache::allocate(sizeof(Throws));
    EXPECT_NE(a, b);
    BlockCache::deallocate(b, sizeof(Throws));
    BlockCache::deallocate(a, sizeof(Throws));
}

TEST(BlockCache, AnOutcomesPayloadPoolIsReusedByTheNextOutcome) {
    if (!BlockCache::kEnabled) GTEST_SKIP() << "no cache under AddressSanitizer";
    const void* first = nullptr;
    {
        gridgate::ocpp::CallOutcome outcome;
        outcome.payload.SetObject();
        outcome.payload.AddMember("status", "Accepted", outcome.payload.GetAllocator());
        first = &outcome.payload.GetAllocator();
    }
    gridgate::ocpp::CallOutcome next;
    EXPECT_EQ(&next.payload.GetAllocator(), first);
    // A payload bigger than the pool's first bytes still fits.
    next.payload.SetArray();
    for (int i = 0; i < 200; ++i)
        next.payload.PushBack(
            rapidjson::Value("a string of some length", next.payload.GetAllocator()),
            next.payload.GetAllocator());
    EXPECT_EQ(next.payload.Size(), 200u);
}
