#pragma once
// The plugin host: loads plugins (plugin_library.h), gives each the host API table of
// ossa/plugin.h, and runs their hooks.
//
//  - on_received runs on the ingest path (ReceivedHook), with a time budget;
//  - on_stored is delivered from the durable change log by one thread per plugin, so a slow
//    plugin never slows ingest, and a crash loses nothing (at least once, in order);
//  - on_stable is delivered by one thread once a study had no new instance for a while;
//  - timers run on their own threads; methods are kept in one registry (plugins call each other
//    through it, the XML-RPC server will too).
// A hook that fails or throws is logged with its plugin's name and changes nothing else.

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "archive/archive.h"
#include "ossa/plugin.h"
#include "plugins/find_registry.h"
#include "plugins/http_routes.h"
#include "plugins/plugin_library.h"

struct ossa_host;

namespace ossa::plugins {

struct HostOptions {
  int received_budget_ms = 500;
  bool reject_over_budget = false;
  int stable_after_seconds = 60;
};

struct PluginToLoad {
  std::filesystem::path path;
  std::string config_json = "{}";
};

class PluginHost : public archive::ReceivedHook {
 public:
  PluginHost(archive::Archive& archive, HostOptions options);
  ~PluginHost() override;  // stops the threads, shuts every plugin down, unloads them
  PluginHost(const PluginHost&) = delete;
  PluginHost& operator=(const PluginHost&) = delete;

  // Loads and initialises each plugin. One that is refused or whose init fails is logged and left
  // out; the server runs on without it. Returns how many were loaded.
  size_t load(const std::vector<PluginToLoad>& plugins);
  // While an on_stored hook runs on this thread: its plugin's name, else "". An instance-level
  // job the hook queues is keyed by the plugin and the request (index::Job::origin_key: the same
  // request again adds nothing), so an event delivered again after a crash, or an instance received
  // again, is forwarded once per destination; and it needs no flush of its own
  // (index::Durability::kDeferred: the job row precedes the delivery position in the index's log,
  // so a recorded position implies a durable job).
  static const std::string& on_stored_plugin();

  // Starts delivering on_stored / on_stable and the timers (after the archive is ready).
  void start();

  Verdict on_received(const std::filesystem::path& file, const std::filesystem::path& scratch,
                      const std::string& sop_class_uid, const std::string& sop_instance_uid,
                      const index::InstanceRecord& record,
                      const archive::IngestOrigin& origin) override;

  // Calls a registered method; OSSA_E_NOT_FOUND for an unknown name.
  ossa_status call_method(const std::string& name, const std::string& params_json,
                          std::string& result_json);
  std::vector<std::string> method_names();
  // The plugins that loaded, with the methods each registered (XML-RPC ossa.plugins.list).
  struct LoadedPlugin {
    std::string name, version, description;
    std::filesystem::path path;
    std::vector<std::string> methods;
  };
  std::vector<LoadedPlugin> loaded_plugins();

  // --- used by the C API functions (plugin_api.cpp) ---
  struct Hook {
    void* function;
    void* user;
  };
  struct Plugin {
    std::unique_ptr<PluginLibrary> library;
    std::string name;
    std::string config_json;
    std::unique_ptr<ossa_host> handle;
    std::vector<Hook> on_received, on_stored, on_stable;
    struct Timer {
      uint32_t interval_ms;
      Hook hook;
    };
    std::vector<Timer> timers;
  };
  struct Method {
    Plugin* plugin;
    ossa_method_fn function;
    void* user;
  };
  archive::Archive& archive() { return archive_; }
  bool initialising() const { return initialising_; }
  std::mutex& registry_mutex() { return registry_mutex_; }
  std::map<std::string, Method>& methods() { return methods_; }
  FindRegistry& find_registry() { return find_registry_; }
  // The plugins' HTTP routes; the HTTP server dispatches /plugins/... to them.
  HttpRoutes& http_routes() { return http_routes_; }

 private:
  void deliver_stored(Plugin& plugin);
  void deliver_stable();
  void run_timer(Plugin& plugin, Plugin::Timer timer);

  archive::Archive& archive_;
  HostOptions options_;
  std::vector<std::unique_ptr<Plugin>> plugins_;
  std::mutex registry_mutex_;
  std::map<std::string, Method> methods_;
  FindRegistry find_registry_;  // the plugins' find providers, handed to the archive
  HttpRoutes http_routes_;      // the plugins' HTTP routes, handed to the HTTP server
  bool initialising_ = false;
  bool any_on_received_ = false;
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> threads_;
};

// The table handed to plugins (filled in plugin_api.cpp).
const ossa_host_api& host_api_table();

}  // namespace ossa::plugins

// What `ossa_host*` points to: the plugin it stands for, in its host.
struct ossa_host {
  ossa::plugins::PluginHost* host;
  ossa::plugins::PluginHost::Plugin* plugin;
};
