// The one line a plugin's source needs to be loadable:
//
//   GRIDGATE_PLUGIN(LineBatteryPlugin, "linebattery", "1.0.0",
//                   "Battery over a line-based TCP protocol",
//                   gridgate::sdk::capabilities(gridgate::sdk::CommandType::SetChargeRate))
//
// It exports the constant descriptor and a factory (via BOOST_DLL_ALIAS) that
// creates the Plugin and turns a throwing constructor into an error message.
// Include this header in exactly one source file of the plugin.
#pragma once

#include <boost/dll/alias.hpp>

#include <string>

#include "gridgate/sdk/plugin.hpp"
#include "gridgate/sdk/status.hpp"

/// Exports `gridgate_plugin_descriptor`, initialised with `...` (a constant
/// expression of type PluginDescriptor).
#define GRIDGATE_PLUGIN_DESCRIPTOR(...)                                              \
    extern "C" BOOST_SYMBOL_EXPORT constinit const ::gridgate::sdk::PluginDescriptor \
        gridgate_plugin_descriptor = __VA_ARGS__;

/// Exports `function` (a PluginFactory) as `gridgate_create_plugin`.
#define GRIDGATE_PLUGIN_FACTORY(function) BOOST_DLL_ALIAS(function, gridgate_create_plugin)

/// Descriptor plus a factory that default-constructs `PluginClass`.
#define GRIDGATE_PLUGIN(PluginClass, name, version, description, caps)                             \
    GRIDGATE_PLUGIN_DESCRIPTOR(::gridgate::sdk::make_descriptor(name, version, description, caps)) \
    namespace gridgate_plugin_entry {                                                              \
    inline ::gridgate::sdk::Plugin* create(std::string& error) noexcept {                          \
        try {                                                                                      \
            return new PluginClass();                                                              \
        } catch (...) {                                                                            \
            try {                                                                                  \
                error = ::gridgate::sdk::detail::current_exception_message();                      \
            } catch (...) {                                                                        \
            }                                                                                      \
            return nullptr;                                                                        \
        }                                                                                          \
    }                                                                                              \
    }                                                                                              \
    GRIDGATE_PLUGIN_FACTORY(gridgate_plugin_entry::create)
