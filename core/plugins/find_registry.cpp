#include "plugins/find_registry.h"

#include <algorithm>

namespace ossa::plugins {
namespace {

bool valid_uid(const std::string& uid) {
  if (uid.empty() || uid.size() > 64 || uid.front() == '.' || uid.back() == '.') return false;
  return std::all_of(uid.begin(), uid.end(),
                     [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

// AE titles: 1 to 16 characters of the default repertoire, no backslash or control characters,
// not only spaces.
bool valid_aet(const std::string& aet) {
  if (aet.empty() || aet.size() > 16) return false;
  if (aet.find_first_not_of(' ') == std::string::npos) return false;
  return std::all_of(aet.begin(), aet.end(),
                     [](char c) { return c >= 0x20 && c < 0x7f && c != '\\'; });
}

}  // namespace

ossa_status FindRegistry::add(Provider provider, std::string& error) {
  if (!valid_uid(provider.sop_class_uid)) {
    error = "'" + provider.sop_class_uid + "' is not a SOP class UID";
    return OSSA_E_INVALID_ARGUMENT;
  }
  if (!provider.called_aet.empty() && !valid_aet(provider.called_aet)) {
    error = "'" + provider.called_aet + "' is not an AE title (1 to 16 characters)";
    return OSSA_E_INVALID_ARGUMENT;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  for (const Provider& p : providers_) {
    if (p.sop_class_uid == provider.sop_class_uid && p.called_aet == provider.called_aet) {
      error = "plugin " + p.plugin_name + " already answers C-FIND for " + p.sop_class_uid +
              (p.called_aet.empty() ? " (any AE title)" : " at " + p.called_aet);
      return OSSA_E_INVALID_ARGUMENT;
    }
  }
  providers_.push_back(std::move(provider));
  return OSSA_OK;
}

void FindRegistry::remove_owner(const void* owner) {
  std::lock_guard<std::mutex> lock(mutex_);
  providers_.erase(std::remove_if(providers_.begin(), providers_.end(),
                                  [owner](const Provider& p) { return p.owner == owner; }),
                   providers_.end());
}

bool FindRegistry::empty() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return providers_.empty();
}

std::vector<std::string> FindRegistry::sop_classes_for(const std::string& called_aet) const {
  std::vector<std::string> classes;
  for (const Provider& p : providers_) {
    if ((p.called_aet.empty() || p.called_aet == called_aet) &&
        std::find(classes.begin(), classes.end(), p.sop_class_uid) == classes.end())
      classes.push_back(p.sop_class_uid);
  }
  return classes;
}

bool FindRegistry::serves_called_aet(const std::string& called_aet) const {
  return std::any_of(providers_.begin(), providers_.end(),
                     [&](const Provider& p) { return p.called_aet == called_aet; });
}

bool FindRegistry::serves(const std::string& sop_class, const std::string& called_aet) const {
  return lookup(sop_class, called_aet) != nullptr;
}

const FindRegistry::Provider* FindRegistry::lookup(const std::string& sop_class,
                                                   const std::string& called_aet) const {
  const Provider* any_aet = nullptr;
  for (const Provider& p : providers_) {
    if (p.sop_class_uid != sop_class) continue;
    if (p.called_aet == called_aet) return &p;
    if (p.called_aet.empty()) any_aet = &p;
  }
  return any_aet;
}

archive::FindProviders::Outcome FindRegistry::find(
    const std::string& sop_class, const std::string& called_aet, const std::string& query_json,
    const std::function<bool(const std::string&)>& on_answer) {
  Outcome outcome;
  const Provider* provider = lookup(sop_class, called_aet);
  if (!provider) {
    outcome.failed = true;
    outcome.error = "no find provider for " + sop_class;
    return outcome;
  }
  outcome.provider = provider->plugin_name;
  ossa_find_answers answers{&on_answer};
  ossa_status status = OSSA_ERROR;
  try {
    status = provider->function(provider->user, query_json.c_str(), &answers);
  } catch (...) {
    status = OSSA_ERROR;  // a C++ plugin without the SDK let an exception escape
  }
  // A provider told to stop (cancel, broken association) may report that as its own failure.
  if (status != OSSA_OK && !answers.stopped) {
    outcome.failed = true;
    outcome.error = "status " + std::to_string(status);
  }
  return outcome;
}

}  // namespace ossa::plugins
