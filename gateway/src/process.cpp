#include "gridgate/gateway/process.hpp"

#include <sys/auxv.h>
#include <sys/resource.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <cstring>
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

// True if the colon-separated `tunables` set glibc.malloc.hugetlb or
// glibc.malloc.arena_max, to any value.
bool names_ours(std::string_view tunables) {
    while (!tunables.empty()) {
        const auto colon = tunables.find(':');
        const std::string_view item = tunables.substr(0, colon);
        const std::string_view name = item.substr(0, item.find('='));
        if (name == "glibc.malloc.hugetlb" || name == "glibc.malloc.arena_max") return true;
        if (colon == std::string_view::npos) break;
        tunables.remove_prefix(colon + 1);
    }
    return false;
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
    if (before != nullptr && names_ours(before)) return;

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
