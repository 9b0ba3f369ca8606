// A program for test_process.cpp: calls tune_malloc() as the daemon's main()
// does, then reports, one `key value` line each, what the test checks:
//   start <pid>          before tune_malloc(), once per execution
//   pid <pid>            after it
//   tunables <value>     GLIBC_TUNABLES, or "(unset)"
//   arenas <n>           malloc arenas after four threads allocated at once
//   heap_advised <0|1>   whether the heap is advised into huge pages ("hg")
//   first_on_huge_pages <0|1>  whether the first 1,000 blocks allocated
//                        after tune_malloc() all lie in mappings the kernel
//                        may back with huge pages (THPeligible)
#include <malloc.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <latch>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gridgate/gateway/process.hpp"

namespace {

int count_arenas() {
    char* text = nullptr;
    std::size_t size = 0;
    std::FILE* out = open_memstream(&text, &size);
    if (out == nullptr) return -1;
    malloc_info(0, out);
    std::fclose(out);
    int arenas = 0;
    for (std::string_view rest(text, size);;) {
        const auto at = rest.find("<heap nr=");
        if (at == std::string_view::npos) break;
        ++arenas;
        rest.remove_prefix(at + 1);
    }
    std::free(text);
    return arenas;
}

// Any [heap] mapping whose VmFlags carry "hg" (MADV_HUGEPAGE).
bool heap_advised() {
    std::ifstream smaps("/proc/self/smaps");
    bool in_heap = false;
    for (std::string line; std::getline(smaps, line);) {
        if (line.find("[heap]") != std::string::npos)
            in_heap = true;
        else if (line.rfind("VmFlags:", 0) == 0) {
            if (in_heap && (line + " ").find(" hg ") != std::string::npos) return true;
            in_heap = false;
        }
    }
    return false;
}

// The [start, end) of each mapping /proc/self/smaps calls THPeligible.
std::vector<std::pair<std::uintptr_t, std::uintptr_t>> huge_page_eligible() {
    std::vector<std::pair<std::uintptr_t, std::uintptr_t>> out;
    std::ifstream smaps("/proc/self/smaps");
    std::uintptr_t start = 0, end = 0;
    for (std::string line; std::getline(smaps, line);) {
        unsigned long long from = 0, to = 0;
        if (std::sscanf(line.c_str(), "%llx-%llx ", &from, &to) == 2 &&
            line.find(':') > line.find(' ')) {
            start = from;
            end = to;
        } else if (line.rfind("THPeligible:", 0) == 0 && line.find('1') != std::string::npos) {
            out.emplace_back(start, end);
        }
    }
    return out;
}

bool all_on_huge_pages(const std::vector<char*>& blocks) {
    const auto eligible = huge_page_eligible();
    for (char* block : blocks) {
        const auto at = reinterpret_cast<std::uintptr_t>(block);
        bool inside = false;
        for (const auto& [start, end] : eligible) inside = inside || (at >= start && at < end);
        if (!inside) return false;
    }
    return true;
}

}  // namespace

int main(int, char** argv) {
    std::printf("start %d\n", static_cast<int>(getpid()));
    std::fflush(stdout);  // before a possible exec, or it is lost
    gridgate::gateway::tune_malloc(argv);
    std::printf("pid %d\n", static_cast<int>(getpid()));
    // As the daemon's start-up does: many small blocks kept for its life.
    std::vector<char*> first;
    first.reserve(1000);
    for (int i = 0; i < 1000; ++i) first.push_back(static_cast<char*>(std::malloc(96)));
    for (char* p : first) p[0] = 1;

    // Four threads allocate at the same time (each would get an arena of
    // its own by default), and the heap grows well past a huge page.
    std::vector<std::thread> threads;
    std::vector<std::vector<char*>> kept(4);
    std::latch all_started(4);  // all four alive at once: none reuses another's arena
    for (auto& mine : kept)
        threads.emplace_back([&mine, &all_started] {
            mine.push_back(static_cast<char*>(std::malloc(1024)));
            all_started.arrive_and_wait();
            for (int i = 1; i < 8192; ++i) mine.push_back(static_cast<char*>(std::malloc(1024)));
            for (char* p : mine) p[0] = 1;
        });
    for (auto& t : threads) t.join();
    const char* tunables = std::getenv("GLIBC_TUNABLES");
    std::printf("tunables %s\n", tunables ? tunables : "(unset)");
    std::printf("arenas %d\n", count_arenas());
    std::printf("heap_advised %d\n", heap_advised() ? 1 : 0);
    std::printf("first_on_huge_pages %d\n", all_on_huge_pages(first) ? 1 : 0);
    for (char* p : first) std::free(p);
    for (auto& mine : kept)
        for (char* p : mine) std::free(p);
    return 0;
}
