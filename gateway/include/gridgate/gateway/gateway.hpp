// The gateway daemon's runtime: one site's adapters, engine, dispatch loop and
// HTTP API, wired together on one io_context.
//
// Threading: an io_context runs on a small thread pool. All engine state is
// touched on one strand (the engine strand); adapters report completions and
// asset events from their own threads, and those reach the engine only by
// posting to that strand. The HTTP server runs its sessions on the same pool.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gridgate/config/site_config.hpp"
#include "gridgate/gateway/plugin_loader.hpp"
#include "gridgate/sdk/host.hpp"

namespace gridgate::gateway {

struct GatewayOptions {
    std::size_t threads = 2;
    sdk::LogLevel plugin_log_level = sdk::LogLevel::Info;
    /// How long a clean stop waits for commands already handed to adapters.
    std::chrono::milliseconds drain_timeout{5000};
    /// How long finished commands stay visible in the API before they are dropped.
    std::chrono::hours retention{24 * 7};
    /// SIGINT and SIGTERM stop the gateway cleanly, from construction on (a
    /// signal while the adapters start is acted on once run() begins).
    bool handle_signals = true;
};

/// Not thread-safe: construct, start() and run() from one thread; stop() may
/// be called from any thread (and is called by SIGINT/SIGTERM).
class Gateway {
  public:
    /// `catalog` must outlive the gateway; its libraries unload after the last
    /// adapter is destroyed.
    Gateway(config::SiteConfig site, const PluginCatalog& catalog, GatewayOptions options = {});
    ~Gateway();
    Gateway(const Gateway&) = delete;
    Gateway& operator=(const Gateway&) = delete;

    /// Creates and starts the adapters and the HTTP API. On failure returns
    /// the reasons, one per line, and nothing is left running.
    std::vector<std::string> start();

    /// Runs until stop() (or a signal, see GatewayOptions::handle_signals),
    /// then shuts down in order: stop accepting HTTP, drain in-flight commands
    /// within the bound, stop adapters. Returns when everything has stopped.
    void run();

    /// Asks run() to shut down. Any thread.
    void stop();

    /// The HTTP API's bound port (useful with `listen = "127.0.0.1:0"`).
    std::uint16_t api_port() const;

  private:
    class Impl;
    std::unique_ptr<Impl> impl_;
};

/// The `sdk::AdapterConfig` the plugin for `adapter` receives: its table, the
/// tables of the assets bound to it, and the site-wide tables it asked for.
sdk::AdapterConfig adapter_config_for(const config::SiteConfig& site,
                                      const config::AdapterConfig& adapter,
                                      const LoadedPlugin& plugin);

}  // namespace gridgate::gateway
