// A site file, as `gridgate --check-config` and the daemon read it: TOML,
// then every check the host owns (tables, keys, references, register maps).
//
// Refusing the file is fine. Broken promises:
//  - a crash, or an exception (every problem is a diagnostic);
//  - an accepted file with errors, or a refused one without any;
//  - a diagnostic with no text.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_support.hpp"
#include "gridgate/config/site_loader.hpp"

using gridgate::fuzz::broken;
using gridgate::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    gridgate::config::LoadOptions options;
    // The register maps the examples name, from the source tree.
    options.register_map_dirs = {GRIDGATE_SOURCE_DIR "/config/register_maps"};
    gridgate::config::LoadResult result;
    try {
        result = gridgate::config::parse_site(text, "/etc/gridgate/site.toml", options);
    } catch (const std::exception& e) {
        broken(std::string("parse_site threw: ") + e.what());
    }
    check(result.ok() == result.errors.empty(), "accepted with errors, or refused without any");
    for (const auto& d : result.errors) check(!d.str().empty(), "a diagnostic says nothing");
    return 0;
}
