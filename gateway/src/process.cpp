#include "gridgate/gateway/process.hpp"

#include <fcntl.h>
#include <malloc.h>
#include <sys/auxv.h>
#include <sys/resource.h>
#include <unistd.h>

#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace gridgate::gateway {

unsigned long long raise_open_file_limit() {
    rlimit fds{};
    if (getrlimit(RLIMIT_NOFILE, &fds) != 0) return 0;
    if (fds.rlim_cur < fds.rlim_max) {
        const auto before = fds.rlim_cur;
        fds.rlim_cur = fds.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &fds) != 0) fds.rlim_cur = before;
    }
    return fds.rlim_cur;
}

namespace {

// The value the colon-separated `tunables` give `name` (glibc takes the
// last), or nullopt when they do not name it.
std::optional<std::string_view> tunable(std::string_view tunables, std::string_view name) {
    std::optional<std::string_view> value;
    while (!tunables.empty()) {
        const auto colon = tunables.find(':');
        const std::string_view item = tunables.substr(0, colon);
        const auto equals = item.find('=');
        if (item.substr(0, equals) == name)
            value = equals == std::string_view::npos ? "" : item.substr(equals + 1);
        if (colon == std::string_view::npos) break;
        tunables.remove_prefix(colon + 1);
    }
    return value;
}

// True if `tunables` set glibc.malloc.hugetlb or glibc.malloc.arena_max.
bool names_ours(std::string_view tunables) {
    return tunable(tunables, "glibc.malloc.hugetlb") || tunable(tunables, "glibc.malloc.arena_max");
}

// The first line of a small file under /sys, read without allocating.
std::string_view read_line(const char* path, char (&buffer)[128]) {
    const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return {};
    const ssize_t got = ::read(fd, buffer, sizeof buffer);
    ::close(fd);
    if (got <= 0) return {};
    const std::string_view text(buffer, static_cast<std::size_t>(got));
    return text.substr(0, text.find('\n'));
}

// The huge page size with which glibc.malloc.hugetlb=1 advises the heap, or
// 0 where it does not: glibc advises only when the kernel leaves huge pages
// to the program (THP mode "madvise").
std::size_t advised_huge_page_size() {
    char buffer[128];
    if (read_line("/sys/kernel/mm/transparent_hugepage/enabled", buffer).find("[madvise]") ==
        std::string_view::npos)
        return 0;
    const std::string_view size =
        read_line("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", buffer);
    std::size_t bytes = 0;
    for (char c : size) {
        if (c < '0' || c > '9') return 0;
        bytes = bytes * 10 + static_cast<std::size_t>(c - '0');
    }
    return bytes;
}

// glibc advises each growth of its heap into huge pages, and lets each end on
// a huge-page boundary; but the heap starts where the kernel put it, on no
// boundary, and its first stretch, up to the first boundary after a growth of
// a whole huge page, can have no huge page (2.9 MiB measured with glibc
// 2.36). What a program allocates first would be there, and stay there: for
// the daemon, its site's assets and each charger's lookup entries, made at
// start-up and touched by every slot change. So that stretch is taken here,
// before anything else is allocated, and never used: address space, not
// memory (pages nobody writes are never backed).
void skip_heap_start_without_huge_pages(std::size_t huge_page) {
    static void* taken[6];  // kept, not leaked
    constexpr std::size_t kLittle = 4096;
    for (void*& block : taken) {
        const auto end = reinterpret_cast<std::uintptr_t>(sbrk(0));
        const std::size_t free_at_end = mallinfo2().keepcost;  // the heap's free top
        if (end % huge_page == 0 && free_at_end < kLittle) return;
        // Take the free top whole (64 bytes for the block's header and what
        // glibc leaves), or, when there is none, make the heap grow: it grows
        // to the next huge-page boundary.
        block = std::malloc(free_at_end >= kLittle ? free_at_end - 64 : 64 * 1024);
    }
}

}  // namespace

void tune_malloc(char** argv) {
#ifdef __GLIBC__
    if (!kMallocTuningBuiltIn || argv == nullptr || argv[0] == nullptr) return;
    if (getauxval(AT_SECURE) != 0) return;  // glibc would drop the setting: no loop
    if (const char* preload = std::getenv("LD_PRELOAD");
        preload != nullptr && std::strstr(preload, "vgpreload") != nullptr)
        return;  // valgrind: an exec would leave it
    const char* before = std::getenv("GLIBC_TUNABLES");
    if (before != nullptr && names_ours(before)) {
        // Running tuned (executed again, or set so by the user).
        if (tunable(before, "glibc.malloc.hugetlb") == "1") {
            if (const std::size_t huge_page = advised_huge_page_size(); huge_page != 0)
                skip_heap_start_without_huge_pages(huge_page);
        }
        return;
    }

    // The file itself, not /proc/self/exe: the process's name is its file's
    // name (pgrep gridgate). A program replaced on disk since it started
    // reads "... (deleted)" and is not found: it runs on as it is.
    char path[PATH_MAX];
    const ssize_t length = readlink("/proc/self/exe", path, sizeof path - 1);
    if (length <= 0 || static_cast<std::size_t>(length) >= sizeof path - 1) return;
    path[length] = '\0';
    if (access(path, X_OK) != 0) return;

    std::string tunables = before != nullptr && *before != '\0' ? before : "";
    if (!tunables.empty()) tunables += ':';
    tunables += kMallocTunables;
    const std::string restore = before != nullptr ? before : "";
    if (setenv("GLIBC_TUNABLES", tunables.c_str(), 1) != 0) return;
    execv(path, argv);
    // Still here: the exec failed. Run on untuned, with the environment as it was.
    if (before != nullptr)
        setenv("GLIBC_TUNABLES", restore.c_str(), 1);
    else
        unsetenv("GLIBC_TUNABLES");
#else
    (void)argv;
#endif
}

}  // namespace gridgate::gateway
