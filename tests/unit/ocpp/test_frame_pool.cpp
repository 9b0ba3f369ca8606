// The pool that carries sent frames' buffers back to the thread that writes
// the next calls (server_state.hpp).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "server_state.hpp"

namespace gridgate::ocpp::detail {
namespace {

using FramePool = ServerState::FramePool;

std::string with_capacity(std::size_t capacity) {
    std::string s;
    s.reserve(capacity);
    s = "[3,\"1\",{}]";
    return s;
}

TEST(FramePool, AnEmptyPoolGivesAFreshString) {
    FramePool pool;
    EXPECT_TRUE(pool.take().empty());
}

TEST(FramePool, AGivenBufferComesBackEmptyWithItsMemory) {
    FramePool pool;
    std::string sent = with_capacity(FramePool::kMinCapacity + 88);
    const char* memory = sent.data();
    pool.give(std::move(sent));
    std::string next = pool.take();
    EXPECT_TRUE(next.empty());
    EXPECT_GE(next.capacity(), FramePool::kMinCapacity + 88);
    EXPECT_EQ(next.data(), memory);
    EXPECT_LT(pool.take().capacity(), FramePool::kMinCapacity);  // it was the only one
}

TEST(FramePool, KeepsNeitherTinyNorHugeBuffers) {
    FramePool pool;
    pool.give(std::string("short"));
    pool.give(with_capacity(FramePool::kMinCapacity / 2));  // an answer's frame
    pool.give(with_capacity(FramePool::kMaxCapacity * 4));
    EXPECT_LT(pool.take().capacity(), FramePool::kMinCapacity);
}

TEST(FramePool, KeepsAtMostItsBound) {
    FramePool pool;
    for (std::size_t i = 0; i < FramePool::kMaxKept + 10; ++i) pool.give(with_capacity(512));
    for (std::size_t i = 0; i < FramePool::kMaxKept; ++i)
        ASSERT_GE(pool.take().capacity(), 512u) << i;
    EXPECT_LT(pool.take().capacity(), FramePool::kMinCapacity);
}

}  // namespace
}  // namespace gridgate::ocpp::detail
