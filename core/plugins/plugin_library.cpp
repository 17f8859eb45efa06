#include "plugins/plugin_library.h"

#include <boost/dll/shared_library.hpp>

#include <stdexcept>

namespace ossa::plugins {

struct PluginLibrary::Handle {
  boost::dll::shared_library library;
};

PluginLibrary::PluginLibrary(const std::filesystem::path& path)
    : handle_(std::make_unique<Handle>()), path_(path) {
  const std::string file = path.string();
  try {
    // RTLD_LOCAL: a plugin's symbols never satisfy another plugin's (or the host's) references.
    handle_->library.load(boost::dll::fs::path(file),
                          boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& e) {
    throw std::runtime_error("plugin " + file + " cannot be loaded: " + e.what());
  }
  for (const char* symbol : {"ossa_plugin_info", "ossa_plugin_init", "ossa_plugin_shutdown"}) {
    if (!handle_->library.has(symbol)) {
      throw std::runtime_error("plugin " + file + " refused: it does not export " + symbol +
                               " (not an Ossa plugin, or built without OSSA_PLUGIN_EXPORT)");
    }
  }
  const auto info_fn = handle_->library.get<const ossa_plugin_description*()>("ossa_plugin_info");
  const ossa_plugin_description* info = info_fn();
  const std::string host_version =
      std::to_string(OSSA_PLUGIN_ABI_MAJOR) + "." + std::to_string(OSSA_PLUGIN_ABI_MINOR);
  if (!info || info->struct_size < offsetof(ossa_plugin_description, description) + sizeof(char*)) {
    throw std::runtime_error("plugin " + file +
                             " refused: its ossa_plugin_info is missing or too "
                             "small for ABI " +
                             host_version);
  }
  const std::string plugin_version =
      std::to_string(info->abi_major) + "." + std::to_string(info->abi_minor);
  if (info->abi_major != OSSA_PLUGIN_ABI_MAJOR) {
    throw std::runtime_error("plugin " + file + " refused: built for plugin ABI " + plugin_version +
                             ", this host has ABI " + host_version + " (major versions differ)");
  }
  if (info->abi_minor > OSSA_PLUGIN_ABI_MINOR) {
    throw std::runtime_error("plugin " + file + " refused: needs plugin ABI " + plugin_version +
                             ", this host has ABI " + host_version + " (too old for it)");
  }
  description_.name = info->name ? info->name : "";
  description_.version = info->version ? info->version : "";
  description_.description = info->description ? info->description : "";
  description_.abi_major = info->abi_major;
  description_.abi_minor = info->abi_minor;
  if (description_.name.empty()) {
    throw std::runtime_error("plugin " + file + " refused: its info has no name");
  }
  init_ = &handle_->library.get<ossa_status(const ossa_host_api*, ossa_host*, const char*)>(
      "ossa_plugin_init");
  shutdown_ = &handle_->library.get<void()>("ossa_plugin_shutdown");
}

PluginLibrary::~PluginLibrary() = default;

}  // namespace ossa::plugins
