// The adapter registry: the adapter instances the site file asks for, which
// asset each one drives, and the one place a command meets its adapter.
//
// `registry.get(asset_id)` returns the adapter bound to the asset; dispatch()
// is what the dispatch loop calls, and it fails a command the adapter cannot
// carry (unknown asset, unsupported command type) with a clear error instead
// of sending it.
//
// Shutdown order: stop() every adapter (each completes what it has in flight
// and stops calling the host), let the daemon drain its strand, then clear()
// (adapters destroyed, then their hosts); the plugin libraries unload when the
// last object from them is gone.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gridgate/gateway/adapter_host.hpp"
#include "gridgate/gateway/plugin_loader.hpp"
#include "gridgate/sdk/adapter.hpp"
#include "gridgate/sdk/host.hpp"
#include "gridgate/sdk/string_map.hpp"

namespace gridgate::gateway {

/// Which adapter an asset is bound to.
struct AssetBinding {
    std::string asset_id;
    std::string asset_type;
    std::string adapter_name;
};

/// Thread-safety: build it (add, start) on one thread; after start() the
/// const members (get, supports, dispatch, state, bindings) may be called from
/// any thread concurrently. stop() and clear() must not race with them.
class AdapterRegistry {
    struct Entry;

  public:
    /// An asset's binding to its adapter, found by name once: a caller that
    /// routes many commands (the dispatch loop, per asset) keeps it instead
    /// of looking the asset up for each. Empty for an asset no adapter
    /// drives. Valid as long as the registry's bindings.
    class Binding {
      public:
        Binding() = default;
        explicit operator bool() const noexcept { return entry_ != nullptr; }

      private:
        friend class AdapterRegistry;
        explicit Binding(const Entry* entry) : entry_(entry) {}
        const Entry* entry_ = nullptr;
    };

    AdapterRegistry() = default;
    AdapterRegistry(const AdapterRegistry&) = delete;
    AdapterRegistry& operator=(const AdapterRegistry&) = delete;
    ~AdapterRegistry();

    /// Validates `config` against `plugin`, creates the adapter and binds
    /// config.assets to it. Returns every problem found (configuration
    /// diagnostics as FILE:LINE:COL: message, or the plugin's own refusal);
    /// empty on success. Nothing is added on failure.
    std::vector<std::string> add(std::shared_ptr<const LoadedPlugin> plugin,
                                 sdk::AdapterConfig config, HostHooks hooks);

    /// Adds an adapter made elsewhere (an in-process adapter, a test double)
    /// under `config.name`, bound to config.assets. Returns an error or "".
    std::string add(std::shared_ptr<sdk::Adapter> adapter, std::unique_ptr<AdapterHost> host,
                    std::uint32_t capabilities = ~std::uint32_t{0});

    /// Starts every adapter in the order added. On the first failure the ones
    /// already started are stopped again and the failure is returned.
    sdk::Status start();
    /// Stops every started adapter, in reverse order. Idempotent.
    void stop() noexcept;
    /// Destroys every adapter, then its host. Calls stop() first if needed.
    void clear() noexcept;

    /// The adapter bound to `asset_id`, or nullptr.
    std::shared_ptr<sdk::Adapter> get(std::string_view asset_id) const noexcept;
    /// Whether a command of `type` for `asset_id` would be sent.
    bool supports(std::string_view asset_id, sdk::CommandType type) const noexcept;
    /// Why it would not be, or "" if it would.
    std::string refusal(std::string_view asset_id, sdk::CommandType type) const;
    /// "adapter 'NAME' (plugin P)" for one of this registry's adapters, ""
    /// for any other. Thread-safe once the adapters are added.
    std::string describe(const sdk::Adapter* adapter) const;
    /// The adapter a command of `type` for `asset_id` is sent to, or nullptr
    /// with `why` set to refusal(): one lookup for the dispatch loop. The
    /// adapter lives as long as the registry's bindings.
    sdk::Adapter* route(std::string_view asset_id, sdk::CommandType type, std::string& why) const;
    Binding binding(std::string_view asset_id) const noexcept {
        return Binding(entry_for(asset_id));
    }
    /// route() for the asset of `binding`, without finding it again.
    sdk::Adapter* route(Binding binding, std::string_view asset_id, sdk::CommandType type,
                        std::string& why) const;

    /// Hands `command` to its asset's adapter, or completes `done` at once
    /// with a non-retryable failure saying why it cannot be sent.
    void dispatch(const sdk::Command& command, sdk::Completion done) const noexcept;

    /// The asset's state from its adapter; nullopt for an unknown asset.
    std::optional<sdk::AssetState> state(std::string_view asset_id) const noexcept;

    const std::vector<AssetBinding>& bindings() const noexcept { return bindings_; }
    std::size_t adapter_count() const noexcept { return entries_.size(); }

  private:
    struct Entry {
        std::string name;
        std::string plugin_name;  // "" for an adapter not made by a plugin
        std::uint32_t capabilities = 0;
        std::unique_ptr<AdapterHost> host;
        std::shared_ptr<sdk::Adapter> adapter;
        bool started = false;
    };
    const Entry* entry_for(std::string_view asset_id) const noexcept;
    // Whether `e` (null: no adapter) sends a command of `type` for `asset_id`.
    static bool accepts(const Entry* e, std::string_view asset_id, sdk::CommandType type) noexcept;
    std::string bind(Entry entry);

    std::vector<std::unique_ptr<Entry>> entries_;
    sdk::StringMap<const Entry*> by_asset_;
    std::vector<AssetBinding> bindings_;
};

}  // namespace gridgate::gateway
