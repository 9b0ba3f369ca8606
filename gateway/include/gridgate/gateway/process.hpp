// Process-wide settings for a gateway serving thousands of connections; the
// daemon applies them before it starts, and so do the benchmarks and the
// charger simulator, which hold as many connections, so that they measure
// what the daemon does.
#pragma once

namespace gridgate::gateway {

// Raises the soft open-file limit to the hard one: every connected charger
// holds a socket, and a shell's default soft limit (1024) would refuse the
// thousandth. Returns the soft limit now in force (0 if it cannot be read).
unsigned long long raise_open_file_limit();

// The glibc malloc settings this program asks for (see tune_malloc()).
inline constexpr const char* kMallocTunables = "glibc.malloc.hugetlb=1:glibc.malloc.arena_max=1";

// False in a sanitizer build: the sanitizer's allocator replaces glibc's, and
// tune_malloc() leaves the program as it is.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kMallocTuningBuiltIn = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
inline constexpr bool kMallocTuningBuiltIn = false;
#else
inline constexpr bool kMallocTuningBuiltIn = true;
#endif
#else
inline constexpr bool kMallocTuningBuiltIn = true;
#endif

// Sets glibc's malloc up as a server with thousands of mostly idle
// connections wants it: the heap is advised into transparent huge pages, and
// every thread allocates from it (one arena: glibc advises only its main
// heap, not the heaps it makes for other threads). A storm touches each
// connection's state once after seconds of idleness; with 4 KiB pages every
// touch costs a TLB miss, and on a virtual machine far more (on the
// development VM, 20 us for a page idle for a second, 0.6 us with huge
// pages; the README has the figures, under "Under systemd, with thousands
// of chargers").
//
// glibc reads these settings (GLIBC_TUNABLES) only when a program starts, so
// this adds kMallocTunables to the environment and executes the program
// again, with the same arguments, process id and descriptors: when it
// re-executes, it does not return. Call it first in main(), before any
// thread starts or any descriptor opens.
//
// In the program so tuned it returns at once, having first set aside the
// heap's first stretch, which glibc cannot put on huge pages (it starts on no
// huge-page boundary): what the program allocates next, such as the site's
// assets, lands on huge pages.
//
// It returns having changed nothing when GLIBC_TUNABLES already names
// glibc.malloc.hugetlb or glibc.malloc.arena_max (the user's choice stands:
// `GLIBC_TUNABLES=glibc.malloc.hugetlb=0` turns this off), under valgrind or
// a sanitizer (they bring their own allocator), in a set-user-ID program
// (glibc ignores the environment there), when the program's file cannot be
// found again, or when the exec fails.
void tune_malloc(char** argv);

}  // namespace gridgate::gateway
