// The host API table of ossa/plugin.h: each function turns a plugin's call into a call on the
// plugin host or the archive facade. No exception crosses back into a plugin.

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <cstring>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdatset.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcdict.h"
#include "dcmtk/dcmdata/dcelem.h"
#include "dicom/charset.h"
#include "dicom/query_translation.h"
#include "plugins/http_routes.h"
#include "plugins/original_attributes.h"
#include "plugins/plugin_dataset.h"
#include "plugins/plugin_host.h"
#include "util/log.h"

namespace ossa::plugins {
namespace {

using Json = nlohmann::json;

char* host_string(const std::string& text) {
  char* copy = static_cast<char*>(std::malloc(text.size() + 1));
  if (copy) std::memcpy(copy, text.c_str(), text.size() + 1);
  return copy;
}

// A keyword ("PatientName") or "(gggg,eeee)" to its tag; false when unknown.
bool tag_from_key(const std::string& key, DcmTag& tag) {
  unsigned group = 0, element = 0;
  if (std::sscanf(key.c_str(), "(%4x,%4x)", &group, &element) == 2) {
    tag = DcmTag(static_cast<Uint16>(group), static_cast<Uint16>(element));
    return true;
  }
  return DcmTag::findTagFromName(key.c_str(), tag).good();
}

std::string key_of(uint32_t t) {
  DcmTag tag(static_cast<Uint16>(t >> 16), static_cast<Uint16>(t & 0xffff));
  const char* name = tag.getTagName();
  if (name && std::strcmp(name, DcmTag_ERROR_TagName) != 0) return name;
  char text[16];
  std::snprintf(text, sizeof text, "(%04X,%04X)", t >> 16, t & 0xffff);
  return text;
}

template <typename F>
ossa_status guarded(const char* what, ossa_host* host, F&& body) {
  if (!host) return OSSA_E_INVALID_ARGUMENT;
  try {
    return body();
  } catch (const std::exception& e) {
    log::error("[", host->plugin->name, "] ", what, ": ", e.what());
  } catch (...) {
    log::error("[", host->plugin->name, "] ", what, " failed");
  }
  return OSSA_ERROR;
}

ossa_status register_hook(ossa_host* host, std::vector<PluginHost::Hook>& list, void* fn,
                          void* user) {
  if (!host || !fn) return OSSA_E_INVALID_ARGUMENT;
  if (!host->host->initialising()) return OSSA_E_WRONG_TIME;
  list.push_back({fn, user});
  return OSSA_OK;
}

// --- the table's functions ---

void api_log(ossa_host* host, ossa_log_level level, const char* message) {
  if (!host || !message) return;
  const std::string line = "[" + host->plugin->name + "] " + message;
  switch (level) {
    case OSSA_LOG_DEBUG:
      log::debug(line);
      break;
    case OSSA_LOG_INFO:
      log::info(line);
      break;
    case OSSA_LOG_WARNING:
      log::warning(line);
      break;
    default:
      log::error(line);
      break;
  }
}

void api_free(void* memory) {
  std::free(memory);
}

ossa_status api_on_received(ossa_host* h, ossa_on_received_fn fn, void* user) {
  if (!h) return OSSA_E_INVALID_ARGUMENT;
  return register_hook(h, h->plugin->on_received, reinterpret_cast<void*>(fn), user);
}
ossa_status api_on_stored(ossa_host* h, ossa_on_stored_fn fn, void* user) {
  if (!h) return OSSA_E_INVALID_ARGUMENT;
  return register_hook(h, h->plugin->on_stored, reinterpret_cast<void*>(fn), user);
}
ossa_status api_on_stable(ossa_host* h, ossa_on_stable_fn fn, void* user) {
  if (!h) return OSSA_E_INVALID_ARGUMENT;
  return register_hook(h, h->plugin->on_stable, reinterpret_cast<void*>(fn), user);
}

ossa_status api_method(ossa_host* h, const char* name, ossa_method_fn fn, void* user) {
  if (!h || !name || !*name || !fn) return OSSA_E_INVALID_ARGUMENT;
  if (!h->host->initialising()) return OSSA_E_WRONG_TIME;
  std::lock_guard<std::mutex> lock(h->host->registry_mutex());
  if (!h->host->methods().emplace(name, PluginHost::Method{h->plugin, fn, user}).second) {
    log::error("[", h->plugin->name, "] method ", name, " is already registered");
    return OSSA_E_INVALID_ARGUMENT;
  }
  return OSSA_OK;
}

ossa_status api_find_provider(ossa_host* h, const char* sop_class, const char* called_aet,
                              ossa_find_fn fn, void* user) {
  if (!h || !sop_class || !fn) return OSSA_E_INVALID_ARGUMENT;
  if (!h->host->initialising()) return OSSA_E_WRONG_TIME;
  std::string error;
  const ossa_status status = h->host->find_registry().add(
      {h->plugin, h->plugin->name, sop_class, called_aet ? called_aet : "", fn, user}, error);
  if (status != OSSA_OK)
    log::error("[", h->plugin->name, "] register_find_provider refused: ", error);
  return status;
}

ossa_status api_timer(ossa_host* h, uint32_t interval_ms, ossa_timer_fn fn, void* user) {
  if (!h || !fn || interval_ms == 0) return OSSA_E_INVALID_ARGUMENT;
  if (!h->host->initialising()) return OSSA_E_WRONG_TIME;
  h->plugin->timers.push_back({interval_ms, {reinterpret_cast<void*>(fn), user}});
  return OSSA_OK;
}

char* api_dataset_get(ossa_dataset* ds, uint32_t t) {
  if (!ds || !ds->dataset) return nullptr;
  DcmElement* element = nullptr;
  const DcmTagKey key(static_cast<Uint16>(t >> 16), static_cast<Uint16>(t & 0xffff));
  if (ds->dataset->findAndGetElement(key, element).bad() || !element) return nullptr;
  OFString value;
  if (element->getOFStringArray(value).bad()) return nullptr;
  std::string text(value.c_str(), value.length());
  OFString charset;
  ds->dataset->findAndGetOFStringArray(DCM_SpecificCharacterSet, charset);
  const dicom::CharsetDecoder decoder(charset.c_str());
  if (!decoder.is_identity()) {
    const DcmEVR vr = element->ident();
    if (auto utf8 = decoder.to_utf8(text, vr == EVR_PN)) text = *utf8;
  }
  return host_string(text);
}

ossa_status api_dataset_set(ossa_dataset* ds, uint32_t t, const char* value) {
  if (!ds || !ds->dataset || !value) return OSSA_E_INVALID_ARGUMENT;
  if (char* current = api_dataset_get(ds, t)) {
    const bool unchanged = std::strcmp(current, value) == 0;
    std::free(current);
    if (unchanged) return OSSA_OK;  // nothing to coerce, nothing to record
  }
  OFString charset;
  ds->dataset->findAndGetOFStringArray(DCM_SpecificCharacterSet, charset);
  if (!dicom::is_ascii(value) && charset != "ISO_IR 192") {
    // Values come in UTF-8: the whole dataset moves to UTF-8 first so it stays consistent.
    if (ds->dataset->convertToUTF8().bad()) return OSSA_ERROR;
  }
  const DcmTag tag(static_cast<Uint16>(t >> 16), static_cast<Uint16>(t & 0xffff));
  if (ds->originals) ds->originals->before_change(*ds->dataset, tag);
  if (ds->dataset->putAndInsertOFStringArray(tag, value).bad()) return OSSA_E_INVALID_ARGUMENT;
  ds->modified = true;
  return OSSA_OK;
}

ossa_status api_dataset_remove(ossa_dataset* ds, uint32_t t) {
  if (!ds || !ds->dataset) return OSSA_E_INVALID_ARGUMENT;
  const DcmTagKey key(static_cast<Uint16>(t >> 16), static_cast<Uint16>(t & 0xffff));
  if (!ds->dataset->tagExists(key)) return OSSA_E_NOT_FOUND;
  if (ds->originals) ds->originals->before_change(*ds->dataset, key);
  if (ds->dataset->findAndDeleteElement(key).bad()) return OSSA_E_NOT_FOUND;
  ds->modified = true;
  return OSSA_OK;
}

ossa_status api_result_set(ossa_result* result, const char* json) {
  if (!result || !json) return OSSA_E_INVALID_ARGUMENT;
  result->json = json;
  return OSSA_OK;
}

ossa_status api_find_add(ossa_find_answers* answers, const char* json) {
  if (!answers || !answers->on_answer || !json) return OSSA_E_INVALID_ARGUMENT;
  if (answers->stopped) return OSSA_E_CANCELLED;
  try {
    if (!(*answers->on_answer)(json)) answers->stopped = true;
  } catch (...) {
    answers->stopped = true;
  }
  return answers->stopped ? OSSA_E_CANCELLED : OSSA_OK;
}

char* api_config(ossa_host* h) {
  return h ? host_string(h->plugin->config_json) : nullptr;
}

ossa_status api_call_method(ossa_host* h, const char* name, const char* params, char** result) {
  if (!h || !name || !result) return OSSA_E_INVALID_ARGUMENT;
  *result = nullptr;
  return guarded("call_method", h, [&] {
    std::string json;
    const ossa_status status = h->host->call_method(name, params ? params : "{}", json);
    if (status == OSSA_OK) *result = host_string(json);
    return status;
  });
}

char* api_index_find(ossa_host* h, const char* query_json) {
  if (!h || !query_json) return nullptr;
  char* answer = nullptr;
  guarded("index_find", h, [&] {
    const Json q = Json::parse(query_json);
    const std::string level = q.value("level", "STUDY");
    DcmDataset identifier;
    identifier.putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 192");
    identifier.putAndInsertString(DCM_QueryRetrieveLevel, level.c_str());
    const Json keys = q.value("keys", Json::object());
    if (!keys.is_object()) throw std::invalid_argument("keys must be a JSON object");
    {
      for (const auto& [key, value] : keys.items()) {
        DcmTag tag;
        if (!tag_from_key(key, tag)) throw std::invalid_argument("unknown key " + key);
        const std::string text = value.is_string() ? value.get<std::string>() : value.dump();
        identifier.putAndInsertOFStringArray(tag, text.c_str());
      }
    }
    const dicom::TranslatedFind find =
        dicom::translate_find(identifier, level == "PATIENT" ? dicom::QueryModel::kPatientRoot
                                                             : dicom::QueryModel::kStudyRoot);
    if (find.error_status != 0) throw std::invalid_argument(find.error);
    Json out = Json::array();
    h->host->archive().find(find.query, [&](index::FindMatch&& m) {
      Json row = Json::object();
      for (const auto& [t, v] : m.attributes) row[key_of(t)] = v;
      out.push_back(std::move(row));
      return true;
    });
    answer = host_string(out.dump(-1, ' ', false, Json::error_handler_t::replace));
    return OSSA_OK;
  });
  return answer;
}

int64_t queue(ossa_host* h, const std::string& kind, const char* node, const char* level,
              const char* keys, bool use_get) {
  if (!h || !node || !level || !keys) return -OSSA_E_INVALID_ARGUMENT;
  const std::string l = level;
  if (l != "PATIENT" && l != "STUDY" && l != "SERIES" && l != "IMAGE")
    return -OSSA_E_INVALID_ARGUMENT;
  int64_t id = -OSSA_ERROR;
  guarded("queue a job", h, [&] {
    const auto n = h->host->archive().node_by_name(node);
    if (!n || !(kind == "send" ? n->send : n->retrieve)) {
      id = -OSSA_E_NOT_FOUND;
      return OSSA_E_NOT_FOUND;
    }
    index::Job job;
    job.kind = kind;
    job.node = n->name;
    job.level = l;
    job.uids = keys;
    job.method = kind == "retrieve" ? (use_get ? "get" : "move") : "";
    // An instance-level request from on_stored is idempotent per plugin (see queue_send in
    // ossa/plugin.h); a study or series may have grown since, so such a request is always new.
    const std::string& delivering = PluginHost::on_stored_plugin();
    if (delivering.empty() || l != "IMAGE") {
      id = h->host->archive().queue_job(job);
    } else {
      job.origin_key = delivering + "|" + job.kind + "|" + job.node + "|" + job.level + "|" +
                       job.method + "|" + job.uids;
      id = h->host->archive().queue_job(job, index::Durability::kDeferred);
    }
    return OSSA_OK;
  });
  return id;
}

int64_t api_queue_send(ossa_host* h, const char* node, const char* level, const char* keys) {
  return queue(h, "send", node, level, keys, false);
}

int64_t api_queue_retrieve(ossa_host* h, const char* node, const char* level, const char* keys,
                           int32_t use_get) {
  return queue(h, "retrieve", node, level, keys, use_get != 0);
}

char* api_job_status(ossa_host* h, int64_t id) {
  char* answer = nullptr;
  guarded("job_status", h, [&] {
    const auto job = h->host->archive().job(id);
    if (!job) return OSSA_E_NOT_FOUND;
    const Json j = {
        {"id", job->id},         {"kind", job->kind},         {"node", job->node},
        {"state", job->state},   {"total", job->total},       {"completed", job->completed},
        {"failed", job->failed}, {"attempts", job->attempts}, {"error", job->error}};
    answer = host_string(j.dump());
    return OSSA_OK;
  });
  return answer;
}

ossa_status api_update_patient(ossa_host* h, const char* patient_id, const char* attributes_json) {
  if (!patient_id || !attributes_json) return OSSA_E_INVALID_ARGUMENT;
  return guarded("update_patient", h, [&] {
    index::Attributes attributes;
    const Json given = Json::parse(attributes_json);
    if (!given.is_object()) throw std::invalid_argument("attributes must be a JSON object");
    for (const auto& [key, value] : given.items()) {
      DcmTag tag;
      if (!tag_from_key(key, tag)) throw std::invalid_argument("unknown key " + key);
      attributes[index::tag(tag.getGroup(), tag.getElement())] =
          value.is_string() ? value.get<std::string>() : value.dump();
    }
    return h->host->archive().index().update_patient(patient_id, attributes) ? OSSA_OK
                                                                             : OSSA_E_NOT_FOUND;
  });
}

ossa_status api_merge_patient(ossa_host* h, const char* old_id, const char* new_id) {
  if (!old_id || !new_id || std::strcmp(old_id, new_id) == 0) return OSSA_E_INVALID_ARGUMENT;
  return guarded("merge_patient", h, [&] {
    return h->host->archive().index().merge_patient(old_id, new_id) ? OSSA_OK : OSSA_E_NOT_FOUND;
  });
}

}  // namespace

const ossa_host_api& host_api_table() {
  static const ossa_host_api table = {
      sizeof(ossa_host_api),
      OSSA_PLUGIN_ABI_MAJOR,
      OSSA_PLUGIN_ABI_MINOR,
      api_log,
      api_free,
      api_on_received,
      api_on_stored,
      api_on_stable,
      api_method,
      api_find_provider,
      api_timer,
      api_dataset_get,
      api_dataset_set,
      api_dataset_remove,
      api_result_set,
      api_find_add,
      api_config,
      api_call_method,
      api_index_find,
      api_queue_send,
      api_queue_retrieve,
      api_job_status,
      api_update_patient,
      api_merge_patient,
      api_register_http_route,
      api_http_response_set,
      api_http_response_header,
  };
  return table;
}

}  // namespace ossa::plugins
