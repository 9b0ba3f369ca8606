#include "gridgate/gateway/adapter_registry.hpp"

#include <algorithm>
#include <utility>

namespace gridgate::gateway {

AdapterRegistry::~AdapterRegistry() {
    clear();
}

std::vector<std::string> AdapterRegistry::add(std::shared_ptr<const LoadedPlugin> plugin,
                                              sdk::AdapterConfig config, HostHooks hooks) {
    std::vector<std::string> errors;
    if (!plugin) return {"adapter '" + config.name + "': no plugin given"};
    std::vector<std::string> warnings;
    for (auto& d : plugin->validate(config))
        (plugin->is_warning(d) ? warnings : errors).push_back(d.str());
    if (!errors.empty()) return errors;

    auto host = std::make_unique<AdapterHost>(std::move(config), std::move(hooks));
    for (const auto& w : warnings) host->log(sdk::LogLevel::Warn, w);
    AdapterInstance made = plugin->create_adapter(*host);
    if (!made.adapter) return {made.error};

    Entry entry;
    entry.name = host->config().name;
    entry.plugin_name = plugin->name();
    entry.capabilities = plugin->capabilities();
    entry.host = std::move(host);
    entry.adapter = std::move(made.adapter);
    if (auto error = bind(std::move(entry)); !error.empty()) errors.push_back(std::move(error));
    return errors;
}

std::string AdapterRegistry::add(std::shared_ptr<sdk::Adapter> adapter,
                                 std::unique_ptr<AdapterHost> host, std::uint32_t capabilities) {
    if (!adapter || !host) return "adapter registry: an adapter and its host are both required";
    Entry entry;
    entry.name = host->config().name;
    entry.capabilities = capabilities;
    entry.host = std::move(host);
    entry.adapter = std::move(adapter);
    return bind(std::move(entry));
}

std::string AdapterRegistry::bind(Entry entry) {
    const auto& config = entry.host->config();
    for (const auto& e : entries_)
        if (e->name == entry.name) return "adapter '" + entry.name + "' is defined twice";
    for (const auto& asset : config.assets) {
        if (auto it = by_asset_.find(asset.id); it != by_asset_.end())
            return "asset '" + asset.id + "' is bound to adapter '" + it->second->name +
                   "' and to '" + entry.name + "'";
    }
    // The entry's address is stable (held by unique_ptr), so the index can
    // point at it.
    auto owned = std::make_unique<Entry>(std::move(entry));
    const Entry* raw = owned.get();
    for (const auto& asset : raw->host->config().assets) {
        by_asset_.emplace(asset.id, raw);
        bindings_.push_back({asset.id, asset.type, raw->name});
    }
    entries_.push_back(std::move(owned));
    return {};
}

sdk::Status AdapterRegistry::start() {
    for (auto& e : entries_) {
        if (e->started) continue;
        sdk::Status s = e->adapter->start();
        if (!s) {
            stop();
            return sdk::Status::failure("adapter '" + e->name + "' did not start: " + s.message());
        }
        e->started = true;
    }
    return sdk::Status::ok();
}

void AdapterRegistry::stop() noexcept {
    for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
        if (!(*it)->started) continue;
        (*it)->adapter->stop();
        (*it)->started = false;
    }
}

void AdapterRegistry::clear() noexcept {
    stop();
    by_asset_.clear();
    bindings_.clear();
    // Reverse order; within an entry the adapter goes before the host it uses.
    while (!entries_.empty()) {
        auto& e = entries_.back();
        e->adapter.reset();
        e->host.reset();
        entries_.pop_back();
    }
}

const AdapterRegistry::Entry* AdapterRegistry::entry_for(std::string_view asset_id) const noexcept {
    auto it = by_asset_.find(asset_id);
    return it == by_asset_.end() ? nullptr : it->second;
}

std::shared_ptr<sdk::Adapter> AdapterRegistry::get(std::string_view asset_id) const noexcept {
    const Entry* e = entry_for(asset_id);
    return e ? e->adapter : nullptr;
}

bool AdapterRegistry::accepts(const Entry* e, std::string_view asset_id,
                              sdk::CommandType type) noexcept {
    return e && (e->capabilities & sdk::capability(type)) && e->adapter->supports(asset_id, type);
}

bool AdapterRegistry::supports(std::string_view asset_id, sdk::CommandType type) const noexcept {
    return accepts(entry_for(asset_id), asset_id, type);
}

std::string AdapterRegistry::describe(const sdk::Adapter* adapter) const {
    for (const auto& e : entries_) {
        if (e->adapter.get() != adapter) continue;
        std::string who = "adapter '" + e->name + "'";
        if (!e->plugin_name.empty()) who += " (plugin " + e->plugin_name + ")";
        return who;
    }
    return {};
}

std::string AdapterRegistry::refusal(std::string_view asset_id, sdk::CommandType type) const {
    const Entry* e = entry_for(asset_id);
    if (!e) return "no adapter is bound to asset '" + std::string(asset_id) + "'";
    const std::string who = describe(e->adapter.get());
    if (!accepts(e, asset_id, type))
        return who + " does not support " + std::string(sdk::to_string(type)) + " for asset '" +
               std::string(asset_id) + "'";
    return {};
}

sdk::Adapter* AdapterRegistry::route(std::string_view asset_id, sdk::CommandType type,
                                     std::string& why) const {
    return route(binding(asset_id), asset_id, type, why);
}

sdk::Adapter* AdapterRegistry::route(Binding binding, std::string_view asset_id,
                                     sdk::CommandType type, std::string& why) const {
    const Entry* e = binding.entry_;
    if (accepts(e, asset_id, type)) return e->adapter.get();
    why = refusal(asset_id, type);
    return nullptr;
}

void AdapterRegistry::dispatch(const sdk::Command& command, sdk::Completion done) const noexcept {
    std::string why;
    try {
        if (sdk::Adapter* adapter = route(command.asset_id, command.command_type, why)) {
            adapter->execute(command, std::move(done));
            return;
        }
    } catch (...) {
        why = "not sent";  // only the refusal's text can throw: out of memory
    }
    done(sdk::CommandResult::failure(why, false));
}

std::optional<sdk::AssetState> AdapterRegistry::state(std::string_view asset_id) const noexcept {
    const Entry* e = entry_for(asset_id);
    if (!e) return std::nullopt;
    return e->adapter->state(asset_id);
}

}  // namespace gridgate::gateway
