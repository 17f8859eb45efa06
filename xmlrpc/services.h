#pragma once
// What the XML-RPC methods act on: the archive facade, the plugin host, and a few hooks into the
// running server (shutdown, live association count). Filled in by `ossa serve`.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "archive/archive.h"
#include "dicom/scu.h"

namespace ossa::plugins {
class PluginHost;
}

namespace ossa::xmlrpc {

struct Services {
  archive::Archive* archive = nullptr;
  plugins::PluginHost* plugins = nullptr;  // may be null (no plugin host)
  dicom::ScuOptions scu;                   // Ossa as SCU (echo, find on nodes)
  uint16_t dicom_port = 0;
  std::function<void()> request_shutdown;    // KillOsiriX: the same path as SIGTERM
  std::function<int()> active_associations;  // ossa.status
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  uint64_t max_download_bytes = 2048ull << 20;  // DownloadURL
};

class MethodRegistry;

// Each adds its methods to the strict list.
void add_osirix_methods(MethodRegistry& registry, Services& services);
void add_ossa_methods(MethodRegistry& registry, Services& services);
// Plugin methods, under their own names and under "ossa." + name.
void add_plugin_methods(MethodRegistry& registry, Services& services);

}  // namespace ossa::xmlrpc
