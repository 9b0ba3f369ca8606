// A site file, as `gridgate --check-config` and the daemon read it: TOML,
// then every check the host owns (tables, keys, references, register maps),
// the keys each plugin declares, and each bundled plugin's own checks
// (ocpp16's listener, TLS files and charger quirks; modbus_tcp's register
// maps and assets), the real plugins loaded from the build through the
// loader. The input's [plugins] dirs are not loaded: a fuzzer must not open
// every library of a folder it names.
//
// Refusing the file is fine. Broken promises:
//  - a crash, or an exception (every problem is a diagnostic);
//  - an accepted file with errors, or a refused one without any;
//  - a diagnostic with no text;
//  - a plugin's check that threw: the bundled plugins report each problem
//    as a diagnostic, and turn an exception that escapes their checks into
//    one reading "PLUGIN: what()" at the adapter's table.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "gridgate/config/site_loader.hpp"
#include "gridgate/gateway/site_check.hpp"

using gridgate::fuzz::broken;
using gridgate::fuzz::check;
namespace config = gridgate::config;
namespace gateway = gridgate::gateway;

namespace {

const gateway::PluginCatalog& bundled_plugins() {
    static const gateway::PluginCatalog* catalog = [] {
        auto* c = new gateway::PluginCatalog;  // kept to the end: its plugins stay loaded
        c->load_directory(GRIDGATE_PLUGIN_DIR);
        for (const char* name : {"ocpp16", "modbus_tcp"})
            if (!c->find(name))
                broken(std::string("bundled plugin '") + name +
                       "' did not load from " GRIDGATE_PLUGIN_DIR ": " + c->why_unavailable(name));
        return c;
    }();
    return *catalog;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    constexpr std::string_view kFile = "/etc/gridgate/site.toml";
    const auto& catalog = bundled_plugins();
    config::LoadOptions options;
    // The register maps the examples name, from the source tree.
    options.register_map_dirs = {GRIDGATE_SOURCE_DIR "/config/register_maps"};
    config::LoadResult result;
    try {
        result = config::check_site(text, kFile, options, [&](const config::SiteConfig&) {
            return gateway::key_lookup(catalog, {GRIDGATE_PLUGIN_DIR});
        });
        gateway::add_plugin_checks(result, catalog, kFile);
    } catch (const std::exception& e) {
        broken(std::string("the site check threw: ") + e.what());
    }
    check(result.ok() == result.errors.empty(), "accepted with errors, or refused without any");
    for (const auto& d : result.errors) {
        check(!d.str().empty() && !d.message.empty(), "a diagnostic says nothing");
        for (std::string_view plugin : {"ocpp16: ", "modbus_tcp: "})
            if (d.message.starts_with(plugin)) broken("a plugin's check threw: " + d.str());
    }
    return 0;
}
