#include "plugins/plugin_host.h"

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"

#include <chrono>
#include <ctime>

#include "plugins/original_attributes.h"
#include "plugins/plugin_dataset.h"
#include "util/log.h"
#include "util/thread_name.h"

namespace ossa::plugins {
namespace {

int64_t unix_now() {
  return static_cast<int64_t>(std::time(nullptr));
}

// Sleeps up to `ms`, waking early when the host stops.
void nap(const std::atomic<bool>& stopping, int ms) {
  for (int waited = 0; waited < ms && !stopping; waited += 50)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

}  // namespace

PluginHost::PluginHost(archive::Archive& archive, HostOptions options)
    : archive_(archive), options_(options) {}

PluginHost::~PluginHost() {
  stopping_ = true;
  for (auto& t : threads_) t.join();
  archive_.set_received_hook(nullptr);
  archive_.set_find_providers(nullptr);
  for (auto& plugin : plugins_) {
    try {
      plugin->library->shutdown()();
    } catch (...) {
      log::error("[", plugin->name, "] shutdown threw; ignored");
    }
  }
}

size_t PluginHost::load(const std::vector<PluginToLoad>& plugins) {
  initialising_ = true;
  for (const auto& entry : plugins) {
    auto plugin = std::make_unique<Plugin>();
    try {
      plugin->library = std::make_unique<PluginLibrary>(entry.path);
    } catch (const std::exception& e) {
      log::error(e.what());
      continue;
    }
    const PluginDescription& d = plugin->library->description();
    plugin->name = d.name;
    plugin->config_json = entry.config_json;
    plugin->handle = std::make_unique<ossa_host>(ossa_host{this, plugin.get()});
    bool duplicate = false;
    for (const auto& other : plugins_) duplicate = duplicate || other->name == d.name;
    if (duplicate) {
      log::error("plugin ", entry.path.string(), " refused: another plugin is named ", d.name);
      continue;
    }
    ossa_status status = OSSA_ERROR;
    try {
      status = plugin->library->init()(&host_api_table(), plugin->handle.get(),
                                       plugin->config_json.c_str());
    } catch (...) {
      status = OSSA_ERROR;  // a C++ plugin without the SDK let an exception escape
    }
    if (status != OSSA_OK) {
      log::error("plugin ", d.name, " from ", entry.path.string(), ": init failed (status ", status,
                 "); not loaded");
      std::lock_guard<std::mutex> lock(registry_mutex_);
      for (auto it = methods_.begin(); it != methods_.end();) {
        it = it->second.plugin == plugin.get() ? methods_.erase(it) : std::next(it);
      }
      find_registry_.remove_owner(plugin.get());
      http_routes_.remove_owner(plugin.get());
      continue;
    }
    log::info("plugin ", d.name, " ", d.version, " loaded from ", entry.path.string(), " (ABI ",
              d.abi_major, ".", d.abi_minor, ")");
    any_on_received_ = any_on_received_ || !plugin->on_received.empty();
    plugins_.push_back(std::move(plugin));
  }
  initialising_ = false;
  if (any_on_received_) archive_.set_received_hook(this);
  if (!find_registry_.empty()) archive_.set_find_providers(&find_registry_);
  return plugins_.size();
}

void PluginHost::start() {
  for (auto& plugin : plugins_) {
    if (!plugin->on_stored.empty()) {
      Plugin* p = plugin.get();
      threads_.emplace_back([this, p] {
        util::name_this_thread("ossa-on-stored");
        deliver_stored(*p);
      });
    }
    for (const auto& timer : plugin->timers) {
      Plugin* p = plugin.get();
      threads_.emplace_back([this, p, timer] {
        util::name_this_thread("ossa-timer");
        run_timer(*p, timer);
      });
    }
  }
  threads_.emplace_back([this] {
    util::name_this_thread("ossa-on-stable");
    deliver_stable();
  });
}

archive::ReceivedHook::Verdict PluginHost::on_received(const std::filesystem::path& file,
                                                       const std::filesystem::path& scratch,
                                                       const std::string& sop_class_uid,
                                                       const std::string& sop_instance_uid,
                                                       const index::InstanceRecord& record,
                                                       const archive::IngestOrigin& origin) {
  Verdict verdict;
  DcmFileFormat format;
  const OFCondition loaded = format.loadFile(OFFilename(file.c_str()));
  if (loaded.bad()) return verdict;  // already parsed once: the archive reports real problems
  ossa_dataset dataset{format.getDataset(), false};
  OriginalAttributes originals;  // what the hooks change, for Original Attributes Sequence
  dataset.originals = &originals;
  const std::string series = record.get(index::Level::kSeries, index::tags::kSeriesInstanceUid);
  const std::string study = record.get(index::Level::kStudy, index::tags::kStudyInstanceUid);
  const std::string patient = record.get(index::Level::kPatient, index::tags::kPatientId);
  const ossa_instance_event event{sizeof(ossa_instance_event),
                                  sop_class_uid.c_str(),
                                  sop_instance_uid.c_str(),
                                  series.c_str(),
                                  study.c_str(),
                                  patient.c_str(),
                                  origin.calling_aet.c_str(),
                                  origin.called_aet.c_str(),
                                  0};
  for (auto& plugin : plugins_) {
    originals.begin_plugin(plugin->name);
    for (const Hook& hook : plugin->on_received) {
      uint16_t reject = 0;
      const auto started = std::chrono::steady_clock::now();
      ossa_status status = OSSA_ERROR;
      try {
        status = reinterpret_cast<ossa_on_received_fn>(hook.function)(hook.user, &dataset, &event,
                                                                      &reject);
      } catch (...) {
        status = OSSA_ERROR;
      }
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - started)
                          .count();
      if (ms > options_.received_budget_ms) {
        log::warning("[", plugin->name, "] on_received took ", ms, " ms for ", sop_instance_uid,
                     " (budget ", options_.received_budget_ms,
                     " ms, plugin_host.received_budget_ms)");
        if (options_.reject_over_budget) {
          verdict.reject_status = 0xA700;
          verdict.reason = "plugin " + plugin->name + " over its time budget";
          return verdict;
        }
      }
      if (status != OSSA_OK) {
        log::warning("[", plugin->name, "] on_received failed for ", sop_instance_uid, " (status ",
                     status, "); instance stored as its other hooks leave it");
        continue;
      }
      if (reject != 0) {
        verdict.reject_status = reject;
        verdict.reason = "refused by plugin " + plugin->name;
        log::info("[", plugin->name, "] refused ", sop_instance_uid, " with status 0x", std::hex,
                  reject, std::dec);
        return verdict;
      }
    }
  }
  if (dataset.modified) {
    std::string record_error;
    if (!originals.write(*format.getDataset(), origin.calling_aet, record_error))
      log::error("plugins: ", sop_instance_uid, ": original values not recorded: ", record_error);
    // Rewritten to the archive's scratch path, then renamed over the original: the path (and its
    // durability bookkeeping) stays the archive's.
    const std::filesystem::path& rewritten = scratch;
    const E_TransferSyntax xfer = format.getDataset()->getOriginalXfer();
    const OFCondition saved = format.saveFile(OFFilename(rewritten.c_str()), xfer);
    std::error_code ec;
    if (saved.bad() || (std::filesystem::rename(rewritten, file, ec), ec)) {
      std::filesystem::remove(rewritten, ec);
      verdict.reject_status = 0xA700;
      verdict.reason = std::string("cannot write the attributes plugins changed: ") + saved.text();
      return verdict;
    }
    verdict.rewritten = true;
  }
  return verdict;
}

namespace {
thread_local std::string t_on_stored_plugin;
}  // namespace

const std::string& PluginHost::on_stored_plugin() {
  return t_on_stored_plugin;
}

void PluginHost::deliver_stored(Plugin& plugin) {
  index::Index& idx = archive_.index();
  int64_t cursor = 0;
  try {
    cursor = idx.plugin_cursor(plugin.name);
  } catch (const std::exception& e) {
    log::error("[", plugin.name, "] cannot read its on_stored position: ", e.what());
    return;
  }
  while (!stopping_) {
    std::vector<index::Change> batch;
    try {
      batch = idx.changes_after(cursor, 64);
    } catch (const std::exception& e) {
      log::error("[", plugin.name, "] cannot read the change log: ", e.what());
    }
    if (batch.empty()) {
      nap(stopping_, 200);
      continue;
    }
    for (const auto& c : batch) {
      if (stopping_) break;
      if (c.change_type != "deleted") {
        const ossa_instance_event event{
            sizeof(ossa_instance_event),   c.sop_class_uid.c_str(),      c.sop_instance_uid.c_str(),
            c.series_instance_uid.c_str(), c.study_instance_uid.c_str(), c.patient_id.c_str(),
            c.calling_aet.c_str(),         c.called_aet.c_str(),         c.seq};
        t_on_stored_plugin = plugin.name;
        for (const Hook& hook : plugin.on_stored) {
          ossa_status status = OSSA_ERROR;
          try {
            status = reinterpret_cast<ossa_on_stored_fn>(hook.function)(hook.user, &event);
          } catch (...) {
            status = OSSA_ERROR;
          }
          if (status != OSSA_OK) {
            log::warning("[", plugin.name, "] on_stored failed for ", c.sop_instance_uid,
                         " (status ", status, "); not retried");
          }
        }
        t_on_stored_plugin.clear();
      }
      cursor = c.seq;
    }
    // Recorded after the calls: a crash in between delivers them again (at least once).
    try {
      idx.set_plugin_cursor(plugin.name, cursor);
    } catch (const std::exception& e) {
      log::warning("[", plugin.name, "] cannot record its on_stored position: ", e.what());
    }
  }
}

void PluginHost::deliver_stable() {
  while (!stopping_) {
    nap(stopping_, 1000);
    std::vector<std::string> studies;
    try {
      studies =
          archive_.index().studies_stable_since(unix_now() - options_.stable_after_seconds, 64);
    } catch (const std::exception& e) {
      log::error("plugins: cannot read the stable-study list: ", e.what());
      continue;
    }
    for (const auto& study : studies) {
      const ossa_stable_event event{sizeof(ossa_stable_event), "STUDY", study.c_str(), ""};
      for (auto& plugin : plugins_) {
        for (const Hook& hook : plugin->on_stable) {
          ossa_status status = OSSA_ERROR;
          try {
            status = reinterpret_cast<ossa_on_stable_fn>(hook.function)(hook.user, &event);
          } catch (...) {
            status = OSSA_ERROR;
          }
          if (status != OSSA_OK)
            log::warning("[", plugin->name, "] on_stable failed for ", study, " (status ", status,
                         ")");
        }
      }
      try {
        archive_.index().forget_stable(study);
      } catch (const std::exception& e) {
        log::warning("plugins: cannot mark study ", study, " as announced: ", e.what());
      }
    }
  }
}

void PluginHost::run_timer(Plugin& plugin, Plugin::Timer timer) {
  while (!stopping_) {
    nap(stopping_, static_cast<int>(timer.interval_ms));
    if (stopping_) break;
    try {
      reinterpret_cast<ossa_timer_fn>(timer.hook.function)(timer.hook.user);
    } catch (...) {
      log::warning("[", plugin.name, "] a timer threw; it keeps running");
    }
  }
}

ossa_status PluginHost::call_method(const std::string& name, const std::string& params_json,
                                    std::string& result_json) {
  Method method{};
  {
    std::lock_guard<std::mutex> lock(registry_mutex_);
    const auto it = methods_.find(name);
    if (it == methods_.end()) return OSSA_E_NOT_FOUND;
    method = it->second;
  }
  ossa_result result{"null"};
  ossa_status status = OSSA_ERROR;
  try {
    status = method.function(method.user, params_json.c_str(), &result);
  } catch (...) {
    status = OSSA_ERROR;
  }
  if (status != OSSA_OK) {
    log::warning("[", method.plugin->name, "] method ", name, " failed (status ", status, ")");
    return status;
  }
  result_json = result.json;
  return OSSA_OK;
}

std::vector<std::string> PluginHost::method_names() {
  std::lock_guard<std::mutex> lock(registry_mutex_);
  std::vector<std::string> names;
  for (const auto& [name, method] : methods_) names.push_back(name);
  return names;
}

std::vector<PluginHost::LoadedPlugin> PluginHost::loaded_plugins() {
  std::lock_guard<std::mutex> lock(registry_mutex_);
  std::vector<LoadedPlugin> out;
  for (const auto& plugin : plugins_) {
    const PluginDescription& d = plugin->library->description();
    LoadedPlugin entry{plugin->name, d.version, d.description, plugin->library->path(), {}};
    for (const auto& [name, method] : methods_)
      if (method.plugin == plugin.get()) entry.methods.push_back(name);
    out.push_back(std::move(entry));
  }
  return out;
}

}  // namespace ossa::plugins
