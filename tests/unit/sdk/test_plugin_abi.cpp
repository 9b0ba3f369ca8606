#include <gtest/gtest.h>

#include <cstring>
#include <stdexcept>
#include <string>

#include "gridgate/sdk/plugin.hpp"
#include "gridgate/sdk/status.hpp"

using namespace gridgate::sdk;

TEST(BuildFingerprint, NamesCompilerStdlibStandardBoostAndSdk) {
    std::string f = kBuildFingerprint;
#if defined(__GNUC__) && !defined(__clang__)
    EXPECT_EQ(f.rfind("gcc-" + std::to_string(__GNUC__) + ".", 0), 0u) << f;
#endif
    EXPECT_NE(f.find(" libstdc++-cxx11abi1 "), std::string::npos) << f;
    EXPECT_NE(f.find(" c++" + std::to_string(__cplusplus) + "L "), std::string::npos) << f;
    EXPECT_NE(f.find(" boost-" + std::to_string(BOOST_VERSION) + " "), std::string::npos) << f;
    EXPECT_NE(f.find(" sdk-" GRIDGATE_SDK_VERSION), std::string::npos) << f;
}

// The descriptor must be readable by a host before any code of the plugin
// runs, so it has to be a constant expression all the way down.
constexpr PluginDescriptor kDescriptor = make_descriptor(
    "demo", "1.0.0", "a demo", capabilities(CommandType::SetChargeRate, CommandType::SetSocTarget));
static_assert(kDescriptor.struct_size == sizeof(PluginDescriptor));
static_assert(kDescriptor.abi_major == kAbiMajor && kDescriptor.abi_minor == kAbiMinor);
static_assert(kDescriptor.capabilities == 0b1000001);
static_assert(std::is_standard_layout_v<PluginDescriptor> &&
              std::is_trivially_copyable_v<PluginDescriptor>);

TEST(PluginDescriptor, CarriesTheBuildItWasMadeBy) {
    EXPECT_STREQ(kDescriptor.fingerprint, kBuildFingerprint);
    EXPECT_EQ(kDescriptor.boundary_layout, kBoundaryLayout);
    EXPECT_STREQ(kDescriptor.name, "demo");
    EXPECT_EQ(kDescriptor.flags, 0u);
}

TEST(Guarded, ReturnsTheWorksStatusOrOk) {
    EXPECT_TRUE(guarded("start", [] {}));
    auto s = guarded("start", [] { return Status::failure("port in use"); });
    EXPECT_FALSE(s);
    EXPECT_EQ(s.message(), "port in use");
}

TEST(Guarded, TurnsAnExceptionIntoAFailureNamingIt) {
    auto s = guarded("start", []() -> Status { throw std::runtime_error("no such host"); });
    EXPECT_FALSE(s);
    EXPECT_EQ(s.message(), "start: no such host");
    auto odd = guarded("stop", [] { throw 42; });
    EXPECT_EQ(odd.message(), "stop: unknown exception");
}

TEST(GuardedExecute, CompletesOnceWithANonRetryableFailureWhenTheWorkThrows) {
    int calls = 0;
    CommandResult got;
    Completion done([&](CommandResult r) {
        ++calls;
        got = std::move(r);
    });
    guarded_execute(done, [] { throw std::logic_error("bad register"); });
    EXPECT_EQ(calls, 1);
    EXPECT_FALSE(got.success);
    EXPECT_FALSE(got.retryable);
    EXPECT_EQ(got.error, "adapter error: bad register");
}

TEST(GuardedExecute, LeavesTheCompletionToTheWorkWhenItReturns) {
    int calls = 0;
    Completion done([&](CommandResult) { ++calls; });
    guarded_execute(done, [] {});
    EXPECT_EQ(calls, 0);
    EXPECT_FALSE(done.completed());
    // The work completed and then threw: the completion stays single.
    guarded_execute(done, [&] {
        done(CommandResult::ok());
        throw std::runtime_error("late");
    });
    EXPECT_EQ(calls, 1);
}
