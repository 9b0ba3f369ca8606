// tune_malloc(): the re-execution with glibc's malloc settings, and that the
// settings take effect (one arena, the heap advised into huge pages), seen
// from a real program (malloc_probe) started with chosen environments.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "gateway_process.hpp"
#include "gridgate/gateway/process.hpp"

namespace {

using gridgate::testing::run_to_completion;

struct Probe {
    std::vector<std::string> starts;  // one per execution of the program
    std::map<std::string, std::string> values;
};

// Runs the probe under `env` with `environment` (NAME=VALUE words; GLIBC_TUNABLES
// is unset first).
Probe run_probe(std::vector<std::string> environment) {
    if (!gridgate::gateway::kMallocTuningBuiltIn) return {};
    std::vector<std::string> args{"-u", "GLIBC_TUNABLES"};
    args.insert(args.end(), environment.begin(), environment.end());
    args.push_back(MALLOC_PROBE);
    const auto result = run_to_completion("/usr/bin/env", args);
    EXPECT_EQ(result.exit_code, 0) << result.output;
    Probe probe;
    std::istringstream lines(result.output);
    for (std::string key, value; lines >> key >> value;) {
        if (key == "start")
            probe.starts.push_back(value);
        else
            probe.values[key] = value;
    }
    return probe;
}

constexpr const char* kSanitizerNote =
    "a sanitizer build: its allocator replaces glibc's, and tune_malloc() does nothing";

// glibc advises its heap into huge pages only when the system leaves it to
// the program ("madvise"); under "always" it needs no advice, under "never"
// it gets none.
bool thp_left_to_programs() {
    std::ifstream mode("/sys/kernel/mm/transparent_hugepage/enabled");
    std::string text;
    std::getline(mode, text);
    return text.find("[madvise]") != std::string::npos;
}

TEST(TuneMalloc, ReExecutesOnceWithTheTunablesInTheSameProcess) {
    if (!gridgate::gateway::kMallocTuningBuiltIn) GTEST_SKIP() << kSanitizerNote;
    const Probe probe = run_probe({});
    ASSERT_EQ(probe.starts.size(), 2u) << "one execution, then one more with the tunables";
    EXPECT_EQ(probe.starts[0], probe.starts[1]) << "an exec keeps the process id";
    EXPECT_EQ(probe.values.at("pid"), probe.starts[0]);
    EXPECT_EQ(probe.values.at("tunables"), gridgate::gateway::kMallocTunables);
}

TEST(TuneMalloc, TheSettingsTakeEffect) {
    if (!gridgate::gateway::kMallocTuningBuiltIn) GTEST_SKIP() << kSanitizerNote;
    const Probe probe = run_probe({});
    EXPECT_EQ(probe.values.at("arenas"), "1") << "four threads, one arena";
    if (thp_left_to_programs()) {
        EXPECT_EQ(probe.values.at("heap_advised"), "1") << "the heap is advised into huge pages";
        EXPECT_EQ(probe.values.at("first_on_huge_pages"), "1")
            << "what the program allocates first is not left on the heap's start, which "
               "cannot have huge pages";
    }
}

// A user who asks for huge pages gets the heap's start set aside too.
TEST(TuneMalloc, TheUsersOwnHugePagesStartPastTheHeapsStart) {
    if (!gridgate::gateway::kMallocTuningBuiltIn) GTEST_SKIP() << kSanitizerNote;
    if (!thp_left_to_programs()) GTEST_SKIP() << "the kernel's THP mode is not madvise";
    const Probe probe = run_probe({"GLIBC_TUNABLES=glibc.malloc.hugetlb=0:glibc.malloc.hugetlb=1"});
    EXPECT_EQ(probe.starts.size(), 1u) << "not executed again";
    EXPECT_EQ(probe.values.at("arenas"), "5");
    EXPECT_EQ(probe.values.at("heap_advised"), "1");
    EXPECT_EQ(probe.values.at("first_on_huge_pages"), "1");
}

// Other tunables stay, ours follow; a name that only begins like one of
// ours (glibc.malloc.hugetlbx) is not ours.
TEST(TuneMalloc, KeepsOtherTunablesAndAddsItsOwn) {
    if (!gridgate::gateway::kMallocTuningBuiltIn) GTEST_SKIP() << kSanitizerNote;
    for (std::string other : {"glibc.malloc.tcache_count=3", "glibc.malloc.hugetlbx=1"}) {
        const Probe probe = run_probe({"GLIBC_TUNABLES=" + other});
        ASSERT_EQ(probe.starts.size(), 2u) << other;
        EXPECT_EQ(probe.values.at("tunables"), other + ":" + gridgate::gateway::kMallocTunables);
        EXPECT_EQ(probe.values.at("arenas"), "1") << other;
    }
}

TEST(TuneMalloc, TheUsersChoiceStands) {
    if (!gridgate::gateway::kMallocTuningBuiltIn) GTEST_SKIP() << kSanitizerNote;
    // Naming either tunable, to any value, leaves everything to the user:
    // here the default arenas (one per thread), and no huge pages.
    Probe probe = run_probe({"GLIBC_TUNABLES=glibc.malloc.hugetlb=0"});
    EXPECT_EQ(probe.starts.size(), 1u) << "not executed again";
    EXPECT_EQ(probe.values.at("tunables"), "glibc.malloc.hugetlb=0");
    EXPECT_EQ(probe.values.at("arenas"), "5");
    EXPECT_EQ(probe.values.at("heap_advised"), "0");
    EXPECT_EQ(probe.values.at("first_on_huge_pages"), "0");

    probe = run_probe({"GLIBC_TUNABLES=glibc.malloc.check=0:glibc.malloc.arena_max=2"});
    EXPECT_EQ(probe.starts.size(), 1u);
    EXPECT_EQ(probe.values.at("tunables"), "glibc.malloc.check=0:glibc.malloc.arena_max=2");
    EXPECT_EQ(probe.values.at("arenas"), "2");
}

}  // namespace
