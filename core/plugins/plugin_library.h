#pragma once
// One plugin shared library: loaded, its info read and checked against this host's ABI before any
// other plugin function runs, and its entry points resolved.

#include <filesystem>
#include <memory>
#include <string>

#include "ossa/plugin.h"

namespace ossa::plugins {

struct PluginDescription {
  std::string name, version, description;
  uint32_t abi_major = 0, abi_minor = 0;
};

class PluginLibrary {
 public:
  // Loads `path` and checks it. Throws std::runtime_error with one line naming the file and,
  // for a version mismatch, both versions: what the log and `ossa plugin-info` print.
  explicit PluginLibrary(const std::filesystem::path& path);
  ~PluginLibrary();
  PluginLibrary(const PluginLibrary&) = delete;
  PluginLibrary& operator=(const PluginLibrary&) = delete;

  const PluginDescription& description() const { return description_; }
  const std::filesystem::path& path() const { return path_; }
  ossa_plugin_init_fn init() const { return init_; }
  ossa_plugin_shutdown_fn shutdown() const { return shutdown_; }

 private:
  struct Handle;
  std::unique_ptr<Handle> handle_;
  std::filesystem::path path_;
  PluginDescription description_;
  ossa_plugin_init_fn init_ = nullptr;
  ossa_plugin_shutdown_fn shutdown_ = nullptr;
};

}  // namespace ossa::plugins
