// Per-thread free lists of small heap blocks, for the memory a connection
// takes and gives back on every message: Asio's operation states for each
// read, write and post, and the read buffer.
//
// Asio's own recycling keeps two blocks per thread and drops a cached block
// whenever the next request is larger, so a read, a write and a timer of
// different sizes miss it on nearly every message; a read buffer (at least
// 1.5 KiB) is beyond glibc's per-thread cache altogether. Here each size
// class keeps up to kKeep blocks on the thread that freed them.
//
// Thread-safety: each thread has its own lists; a block may be freed on
// another thread than the one that allocated it (it joins that thread's
// list). Blocks over the largest class go straight to operator new/delete.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <new>
#include <utility>

namespace gridgate::ocpp::detail {

class BlockCache {
  public:
#if defined(__SANITIZE_ADDRESS__)
    // Under AddressSanitizer every block goes back to the heap at once, so
    // that a use after free in the code above is still caught.
    static constexpr bool kEnabled = false;
#else
    static constexpr bool kEnabled = true;
#endif

    static void* allocate(std::size_t bytes) {
        const int c = size_class(bytes);
        if (!kEnabled || c < 0) return ::operator new(c < 0 ? bytes : class_bytes(c));
        Lists& lists = local();
        if (!lists.open && !open(lists)) return ::operator new(class_bytes(c));
        if (Block* block = lists.head[c]) {
            lists.head[c] = block->next;
            --lists.count[c];
            return block;
        }
        return ::operator new(class_bytes(c));
    }

    static void deallocate(void* p, std::size_t bytes) noexcept {
        const int c = size_class(bytes);
        if (!kEnabled || c < 0) return ::operator delete(p);
        Lists& lists = local();
        if ((!lists.open && !open(lists)) || lists.count[c] >= kKeep) return ::operator delete(p);
        lists.head[c] = new (p) Block{lists.head[c]};
        ++lists.count[c];
    }

    // How many blocks of `bytes`' class the calling thread keeps (for tests).
    static unsigned kept(std::size_t bytes) {
        const int c = size_class(bytes);
        return kEnabled && c >= 0 ? local().count[c] : 0;
    }

  private:
    static constexpr int kClasses = 6;  // 128, 256, 512, 1024, 2048, 4096 bytes
    // Enough for the operations of a burst of messages in flight at once on
    // one thread; at most ~500 KiB per thread when every list is full.
    static constexpr unsigned kKeep = 64;

    struct Block {
        Block* next;
    };
    // A thread's lists. Trivially destructible and constant-initialized, so
    // reaching them is one thread-local lookup, with no guard to test: this
    // runs for every read, write and timer of every connection.
    struct Lists {
        std::array<Block*, kClasses> head{};
        std::array<unsigned, kClasses> count{};
        bool open = false;    // in use, with a Closer to empty them at thread exit
        bool closed = false;  // emptied at thread exit: blocks go to the heap
    };
    // Empties the thread's lists when the thread ends; from then on its blocks
    // go straight back to the heap (a thread-local destroyed after this one
    // may still free some).
    struct Closer {
        ~Closer() {
            Lists& lists = local();
            lists.open = false;
            lists.closed = true;
            for (Block*& head : lists.head) {
                while (head) ::operator delete(std::exchange(head, head->next));
            }
            lists.count = {};
        }
    };
    // The thread's first use of its lists: makes its Closer. False once the
    // thread is ending.
    static bool open(Lists& lists) {
        if (lists.closed) return false;
        thread_local Closer closer;
        (void)closer;
        lists.open = true;
        return true;
    }
    static Lists& local() {
        thread_local constinit Lists lists;
        return lists;
    }
    static constexpr std::size_t class_bytes(int c) {
        return std::size_t{128} << c;
    }
    static int size_class(std::size_t bytes) {
        for (int c = 0; c < kClasses; ++c) {
            if (bytes <= class_bytes(c)) return c;
        }
        return -1;
    }
};

// A standard allocator over BlockCache. As a handler's associated allocator
// it serves every operation Asio and Beast allocate for that handler.
template <class T>
struct CachingAllocator {
    using value_type = T;
    CachingAllocator() noexcept = default;
    template <class U>
    CachingAllocator(const CachingAllocator<U>&) noexcept {}
    T* allocate(std::size_t n) { return static_cast<T*>(BlockCache::allocate(n * sizeof(T))); }
    void deallocate(T* p, std::size_t n) noexcept { BlockCache::deallocate(p, n * sizeof(T)); }
    template <class U>
    bool operator==(const CachingAllocator<U>&) const noexcept {
        return true;
    }
};

// An object in a BlockCache block: for one that lives from a message to
// its answer, made and freed on the same thread.
template <class T>
struct CachedDelete {
    void operator()(T* p) const noexcept {
        p->~T();
        BlockCache::deallocate(p, sizeof(T));
    }
};
template <class T>
using CachedPtr = std::unique_ptr<T, CachedDelete<T>>;

template <class T, class... Args>
CachedPtr<T> make_cached(Args&&... args) {
    void* p = BlockCache::allocate(sizeof(T));
    try {
        return CachedPtr<T>(new (p) T(std::forward<Args>(args)...));
    } catch (...) {
        BlockCache::deallocate(p, sizeof(T));
        throw;
    }
}

// Wraps a completion handler so that Asio allocates its operations from the
// block cache.
template <class Handler>
struct Cached {
    Handler handler;
    using allocator_type = CachingAllocator<void>;
    allocator_type get_allocator() const noexcept { return {}; }
    template <class... Args>
    void operator()(Args&&... args) {
        handler(std::forward<Args>(args)...);
    }
};
template <class Handler>
Cached(Handler) -> Cached<Handler>;

}  // namespace gridgate::ocpp::detail
