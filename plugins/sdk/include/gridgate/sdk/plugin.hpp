// A plugin as the host loads it: the constant descriptor the host checks
// before it runs any of the plugin's C++, the build fingerprint that
// descriptor carries, and the Plugin interface the factory returns.
//
// Why the checks: a C++ interface has no forward compatibility. A plugin built
// by another compiler, another standard library ABI, another C++ standard,
// another Boost or another SDK can lay out std::string, std::function or our
// Command differently, and the first call would corrupt memory. The host
// refuses such a plugin instead, naming both values.
#pragma once

#include <boost/version.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gridgate/sdk/adapter.hpp"
#include "gridgate/sdk/command.hpp"
#include "gridgate/sdk/config.hpp"
#include "gridgate/sdk/host.hpp"
#include "gridgate/sdk/status.hpp"

#define GRIDGATE_SDK_VERSION "0.1.0"

#define GRIDGATE_SDK_STR2(x) #x
#define GRIDGATE_SDK_STR(x) GRIDGATE_SDK_STR2(x)

#if defined(__clang__)
#define GRIDGATE_SDK_COMPILER                                        \
    "clang-" GRIDGATE_SDK_STR(__clang_major__) "." GRIDGATE_SDK_STR( \
        __clang_minor__) "." GRIDGATE_SDK_STR(__clang_patchlevel__)
#elif defined(__GNUC__)
#define GRIDGATE_SDK_COMPILER                                                                    \
    "gcc-" GRIDGATE_SDK_STR(__GNUC__) "." GRIDGATE_SDK_STR(__GNUC_MINOR__) "." GRIDGATE_SDK_STR( \
        __GNUC_PATCHLEVEL__)
#else
#define GRIDGATE_SDK_COMPILER "unknown-compiler"
#endif

#if defined(_LIBCPP_VERSION)
#define GRIDGATE_SDK_STDLIB "libc++-" GRIDGATE_SDK_STR(_LIBCPP_ABI_VERSION)
#elif defined(_GLIBCXX_USE_CXX11_ABI)
#define GRIDGATE_SDK_STDLIB "libstdc++-cxx11abi" GRIDGATE_SDK_STR(_GLIBCXX_USE_CXX11_ABI)
#else
#define GRIDGATE_SDK_STDLIB "unknown-stdlib"
#endif

// Debug containers change the layout of every standard container.
#if defined(_GLIBCXX_DEBUG)
#define GRIDGATE_SDK_STDLIB_MODE "+debug"
#else
#define GRIDGATE_SDK_STDLIB_MODE ""
#endif

// An ASan or TSan plugin in a plain host (or the reverse) fails at load or
// corrupts the allocator's bookkeeping; say so plainly instead.
#if defined(__SANITIZE_ADDRESS__)
#define GRIDGATE_SDK_SANITIZER " asan"
#elif defined(__SANITIZE_THREAD__)
#define GRIDGATE_SDK_SANITIZER " tsan"
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GRIDGATE_SDK_SANITIZER " asan"
#elif __has_feature(thread_sanitizer)
#define GRIDGATE_SDK_SANITIZER " tsan"
#endif
#endif
#ifndef GRIDGATE_SDK_SANITIZER
#define GRIDGATE_SDK_SANITIZER ""
#endif

/// "gcc-12.2.0 libstdc++-cxx11abi1 c++202002L boost-107400 sdk-0.1.0"
#define GRIDGATE_SDK_FINGERPRINT                                                           \
    GRIDGATE_SDK_COMPILER " " GRIDGATE_SDK_STDLIB GRIDGATE_SDK_STDLIB_MODE                 \
                          " c++" GRIDGATE_SDK_STR(__cplusplus) " boost-" GRIDGATE_SDK_STR( \
                              BOOST_VERSION) " sdk-" GRIDGATE_SDK_VERSION GRIDGATE_SDK_SANITIZER

namespace gridgate::sdk {

/// The plugin ABI. Major: any change to a type or virtual function that
/// crosses the boundary. Minor: additions an older host can ignore (a new
/// descriptor field in reserved room). A host loads plugins of its own major
/// and a minor up to its own.
inline constexpr std::uint16_t kAbiMajor = 1;
// 1.1: Plugin::validate() may return warnings (sdk::warning()).
inline constexpr std::uint16_t kAbiMinor = 1;

inline constexpr std::string_view kSdkVersion = GRIDGATE_SDK_VERSION;
inline constexpr const char* kBuildFingerprint = GRIDGATE_SDK_FINGERPRINT;

namespace detail {
constexpr std::uint64_t fnv1a(std::uint64_t h, std::uint64_t v) noexcept {
    for (int i = 0; i < 8; ++i) {
        h ^= (v >> (8 * i)) & 0xFF;
        h *= 0x100000001b3ULL;
    }
    return h;
}
template <typename... T>
constexpr std::uint64_t layout_of() noexcept {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    ((h = fnv1a(fnv1a(h, sizeof(T)), alignof(T))), ...);
    return h;
}
}  // namespace detail

/// A hash of the sizes and alignments of every type that crosses the
/// boundary. It catches an SDK header edited without a version bump, or a
/// flag that changes a layout without showing in the fingerprint.
inline constexpr std::uint64_t kBoundaryLayout =
    detail::layout_of<std::string, std::function<void()>, std::shared_ptr<int>,
                      std::unique_ptr<int>, std::vector<int>, Command, Parameters, CommandResult,
                      Completion, Status, TelemetryValue, AssetState, AssetEvent, SourceLocation,
                      ConfigValue, ConfigTable, ConfigKey, ConfigDiagnostic, AssetConfig,
                      AdapterConfig>();

/// One bit per command type, for PluginDescriptor::capabilities.
constexpr std::uint32_t capability(CommandType type) noexcept {
    return std::uint32_t{1} << static_cast<unsigned>(type);
}
template <typename... T>
constexpr std::uint32_t capabilities(T... types) noexcept {
    return (capability(types) | ... | 0u);
}

/// The plain record a plugin exports as `gridgate_plugin_descriptor`. The
/// host reads it as data, before it calls any function of the plugin, so it
/// must be constant-initialised (GRIDGATE_PLUGIN does that).
///
/// Layout rules: `struct_size` and the ABI numbers come first and never move;
/// fields are only ever added at the end, into `reserved`, with a minor bump.
struct PluginDescriptor {
    std::uint32_t struct_size;
    std::uint16_t abi_major;
    std::uint16_t abi_minor;
    const char* fingerprint;  // GRIDGATE_SDK_FINGERPRINT of the plugin's build
    std::uint64_t boundary_layout;
    const char* name;            // what `plugin = "..."` in the site file names
    const char* version;         // the plugin's own version
    const char* description;     // one line, for --list-plugins
    std::uint32_t capabilities;  // command types it can carry, see capability()
    std::uint32_t flags;         // none defined yet; 0
    const void* reserved[4];
};

/// A descriptor of this SDK's build. For GRIDGATE_PLUGIN; tests build
/// deliberately wrong ones from it.
constexpr PluginDescriptor make_descriptor(const char* name, const char* version,
                                           const char* description, std::uint32_t caps) noexcept {
    return PluginDescriptor{sizeof(PluginDescriptor),
                            kAbiMajor,
                            kAbiMinor,
                            kBuildFingerprint,
                            kBoundaryLayout,
                            name,
                            version,
                            description,
                            caps,
                            0,
                            {nullptr, nullptr, nullptr, nullptr}};
}

inline constexpr const char* kDescriptorSymbol = "gridgate_plugin_descriptor";
inline constexpr const char* kFactorySymbol = "gridgate_create_plugin";

/// An adapter just made by a plugin, or why it could not be made.
struct AdapterCreation {
    std::unique_ptr<Adapter> adapter;
    Status status;
};

/// What the factory returns: the plugin's declaration of its configuration,
/// and the maker of its adapters. The host creates it once per loaded library.
///
/// Thread-safety: the host calls it from one thread at a time.
class Plugin {
  public:
    virtual ~Plugin() = default;

    /// The keys of its `[adapters.NAME]` table (the host's own `plugin` key aside).
    virtual std::span<const ConfigKey> adapter_keys() const noexcept = 0;
    /// The keys of each bound `[[assets]]` entry (the host's id, type and adapter aside).
    virtual std::span<const ConfigKey> asset_keys() const noexcept = 0;
    /// The asset types it drives ("ev_charger", "battery"); empty means any.
    virtual std::span<const std::string_view> asset_types() const noexcept { return {}; }
    /// Site-wide tables it reads, e.g. "register_maps"; the host passes them
    /// in AdapterConfig::shared_tables.
    virtual std::span<const std::string_view> shared_tables() const noexcept { return {}; }

    /// Checks beyond the declared keys (a register map's points, a TLS file
    /// that must exist when a profile needs it). Runs before anything starts;
    /// each diagnostic should point at the offending value's location. Those
    /// made with sdk::warning() are warnings: printed by --check-config and
    /// logged at start, they do not make the site invalid (ABI 1.1: a host
    /// of 1.0 refuses the plugin rather than take them for errors).
    virtual std::vector<ConfigDiagnostic> validate(const AdapterConfig& config) const noexcept {
        (void)config;
        return {};
    }

    /// Makes the adapter for one `[adapters.NAME]` table. `host` outlives the
    /// adapter; host.config() is already validated.
    virtual AdapterCreation create_adapter(HostContext& host) noexcept = 0;
};

/// The factory exported under kFactorySymbol (BOOST_DLL_ALIAS). It returns a
/// new Plugin the host deletes, or nullptr with `error` set.
using PluginFactory = Plugin*(std::string& error);

}  // namespace gridgate::sdk
