#pragma once
// The plugins' find providers (ossa/plugin.h register_find_provider), seen by the DICOM layer as
// archive::FindProviders. Filled while plugins initialise (on the main thread, before the server
// accepts associations), read-only afterwards: lookups take no lock.

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "archive/find_providers.h"
#include "ossa/plugin.h"

// What `ossa_find_answers*` points to while a provider runs: where api->find_add sends answers.
// Valid only during the provider's call, on its thread.
struct ossa_find_answers {
  const std::function<bool(const std::string&)>* on_answer;
  bool stopped = false;  // on_answer said stop: later find_add calls return OSSA_E_CANCELLED
};

namespace ossa::plugins {

class FindRegistry final : public archive::FindProviders {
 public:
  struct Provider {
    const void* owner;  // the plugin (PluginHost::Plugin), to forget its providers
    std::string plugin_name;
    std::string sop_class_uid;
    std::string called_aet;  // "" = any AE title
    ossa_find_fn function;
    void* user;
  };

  // Adds a provider. Returns OSSA_E_INVALID_ARGUMENT (with `error`) for a malformed UID or AE
  // title, or when another provider already answers this SOP class for this AE title.
  ossa_status add(Provider provider, std::string& error);
  // Forgets the providers of a plugin whose init failed.
  void remove_owner(const void* owner);
  bool empty() const;

  std::vector<std::string> sop_classes_for(const std::string& called_aet) const override;
  bool serves_called_aet(const std::string& called_aet) const override;
  bool serves(const std::string& sop_class, const std::string& called_aet) const override;
  Outcome find(const std::string& sop_class, const std::string& called_aet,
               const std::string& query_json,
               const std::function<bool(const std::string&)>& on_answer) override;

 private:
  const Provider* lookup(const std::string& sop_class, const std::string& called_aet) const;

  mutable std::mutex mutex_;  // only for registration; lookups happen after it ended
  std::vector<Provider> providers_;
};

}  // namespace ossa::plugins
