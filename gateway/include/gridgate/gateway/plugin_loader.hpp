// The plugin loader: finds adapter plugins (.so files) in the plugin
// directories, checks each one's descriptor (ABI version, build fingerprint,
// boundary layout) before running any of its code, and keeps the ones that
// pass. Everything it refuses is reported with the file and the reason, and
// nothing it refuses can crash the gateway.
//
// Lifetime: a plugin's library stays loaded while anything it made is alive
// (its Plugin object, every Adapter): each of them holds the library. The
// loader itself may go first; the library unloads after the last object.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gridgate/sdk/host.hpp"
#include "gridgate/sdk/plugin.hpp"

namespace gridgate::gateway {

/// What the loader decided about one file.
struct PluginReport {
    std::filesystem::path file;
    bool loaded = false;
    // From the descriptor, when it could be read.
    std::string name;
    std::string version;
    std::string description;
    std::uint32_t capabilities = 0;
    /// Why it was refused (empty when loaded).
    std::string reason;
    std::uint16_t abi_minor = 0;  // from the descriptor, when loaded
};

/// An adapter a plugin made, owning a reference to the plugin's library; or
/// why none was made.
struct AdapterInstance {
    std::shared_ptr<sdk::Adapter> adapter;
    std::string error;
};

/// A plugin that passed every check.
///
/// Thread-safety: const members may be called from any thread; the Plugin
/// object's own calls (validate, create_adapter) are made one at a time by the
/// host's start-up code.
class LoadedPlugin {
  public:
    LoadedPlugin(PluginReport report, std::shared_ptr<sdk::Plugin> plugin)
        : report_(std::move(report)), plugin_(std::move(plugin)) {}

    const std::string& name() const noexcept { return report_.name; }
    const std::string& version() const noexcept { return report_.version; }
    const std::filesystem::path& file() const noexcept { return report_.file; }
    std::uint32_t capabilities() const noexcept { return report_.capabilities; }
    bool can_carry(sdk::CommandType type) const noexcept {
        return (report_.capabilities & sdk::capability(type)) != 0;
    }
    const sdk::Plugin& plugin() const noexcept { return *plugin_; }

    /// Checks an adapter's configuration against the plugin's declared keys
    /// (the [adapters.NAME] table, each bound asset's table, the asset types)
    /// and then its own validate() hook. No error (see is_warning()): valid.
    std::vector<sdk::ConfigDiagnostic> validate(const sdk::AdapterConfig& config) const;
    /// True if `d`, which validate() returned, is a warning: made with
    /// sdk::warning() by a plugin of ABI 1.1 or later (before, such a
    /// message had no special meaning, and stays an error).
    bool is_warning(const sdk::ConfigDiagnostic& d) const noexcept {
        return report_.abi_minor >= 1 && sdk::is_warning(d);
    }

    /// Asks the plugin for an adapter. The adapter keeps the library loaded;
    /// `host` must outlive it.
    AdapterInstance create_adapter(sdk::HostContext& host) const;

  private:
    PluginReport report_;
    std::shared_ptr<sdk::Plugin> plugin_;  // its deleter holds the library
};

/// The plugins found in the plugin directories.
///
/// Thread-safety: not thread-safe; load at start-up on one thread, then only
/// read.
class PluginCatalog {
  public:
    /// `<dir of the running executable>/../lib/gridgate/plugins`.
    static std::filesystem::path default_directory();

    /// Loads every `*.so` in `dir`, in name order (following symbolic
    /// links). An entry so named that is no file (a directory, a link to
    /// nothing) is reported as refused, with the reason. A missing directory
    /// is noted in the report and is not an error.
    void load_directory(const std::filesystem::path& dir);

    /// Loads one file; returns what was decided about it.
    const PluginReport& load_file(const std::filesystem::path& file);

    /// The plugin called `name`, or nullptr.
    const LoadedPlugin* find(std::string_view name) const noexcept;
    std::shared_ptr<const LoadedPlugin> find_shared(std::string_view name) const noexcept;

    /// Why `name` cannot be used: refused (which file, why) or not found
    /// (which directories were searched). Empty when it is loaded.
    std::string why_unavailable(std::string_view name) const;
    /// Each file that would have been plugin `name` and was refused, and
    /// why ("FILE was refused: REASON; ..."); empty when there is none.
    std::string refusals(std::string_view name) const;

    const std::vector<PluginReport>& reports() const noexcept { return reports_; }
    /// Every directory load_directory() was given, in order, found or not.
    std::vector<std::filesystem::path> searched_directories() const;
    const std::vector<std::shared_ptr<const LoadedPlugin>>& plugins() const noexcept {
        return plugins_;
    }

    /// The `gridgate --list-plugins` text: directories searched, then every
    /// file loaded or refused, and why.
    std::string render_report() const;

  private:
    struct Directory {
        std::filesystem::path path;
        bool exists = false;
    };
    std::vector<Directory> directories_;
    std::vector<PluginReport> reports_;
    std::vector<std::shared_ptr<const LoadedPlugin>> plugins_;
};

/// Capability bits as "SET_CHARGE_RATE, SET_POWER_LIMIT".
std::string describe_capabilities(std::uint32_t capabilities);

}  // namespace gridgate::gateway
