/* A plugin written in C99 against the FROZEN copy of the 1.0 header (tests/abi/v1_0/plugin.h).
 * Every later host must load and run it unchanged: that is the ABI's promise.
 *
 * Config: {"reject_patient_id": "X", "institution": "Y", "events": "/path/to/file"}
 *  - on_received: refuses instances of patient X with 0xA900; sets InstitutionName to Y when the
 *    instance has none;
 *  - on_stored: appends "stored <SOP Instance UID> <seq>" to the events file;
 *  - on_stable: appends "stable <Study Instance UID>";
 *  - method "frozen.count": {"stored": N}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

static const ossa_host_api* api;
static ossa_host* self;
static char reject_id[128];
static char institution[128];
static char events_path[1024];
static long stored_count;

/* Reads "key": "value" from a flat JSON object: enough for this test plugin's config. */
static void json_string(const char* json, const char* key, char* out, size_t size) {
  char pattern[160];
  const char* at;
  const char* end;
  out[0] = '\0';
  snprintf(pattern, sizeof pattern, "\"%s\"", key);
  at = strstr(json, pattern);
  if (!at) return;
  at = strchr(at + strlen(pattern), '"');
  if (!at) return;
  end = strchr(at + 1, '"');
  if (!end || (size_t)(end - at - 1) >= size) return;
  memcpy(out, at + 1, (size_t)(end - at - 1));
  out[end - at - 1] = '\0';
}

static void append_event(const char* line) {
  FILE* f;
  if (!events_path[0]) return;
  f = fopen(events_path, "a");
  if (!f) return;
  fprintf(f, "%s\n", line);
  fclose(f);
}

static ossa_status on_received(void* user, ossa_dataset* ds, const ossa_instance_event* ev,
                               uint16_t* reject) {
  char* existing;
  (void)user;
  if (reject_id[0] && strcmp(ev->patient_id, reject_id) == 0) {
    *reject = 0xA900;
    return OSSA_OK;
  }
  existing = api->dataset_get(ds, 0x00080080u); /* InstitutionName */
  if ((!existing || !existing[0]) && institution[0]) api->dataset_set(ds, 0x00080080u, institution);
  api->free(existing);
  return OSSA_OK;
}

static ossa_status on_stored(void* user, const ossa_instance_event* ev) {
  char line[256];
  (void)user;
  ++stored_count;
  snprintf(line, sizeof line, "stored %s %lld", ev->sop_instance_uid, (long long)ev->sequence);
  append_event(line);
  return OSSA_OK;
}

static ossa_status on_stable(void* user, const ossa_stable_event* ev) {
  char line[256];
  (void)user;
  snprintf(line, sizeof line, "stable %s", ev->study_instance_uid);
  append_event(line);
  return OSSA_OK;
}

static ossa_status count(void* user, const char* params, ossa_result* result) {
  char json[64];
  (void)user;
  (void)params;
  snprintf(json, sizeof json, "{\"stored\": %ld}", stored_count);
  return api->result_set(result, json);
}

OSSA_PLUGIN_EXPORT const ossa_plugin_description* ossa_plugin_info(void) {
  static const ossa_plugin_description info = {
      sizeof(ossa_plugin_description),      1, 0, "frozen", "1.0.0",
      "built against the frozen 1.0 header"};
  return &info;
}

OSSA_PLUGIN_EXPORT ossa_status ossa_plugin_init(const ossa_host_api* host_api, ossa_host* host,
                                                const char* config) {
  api = host_api;
  self = host;
  json_string(config, "reject_patient_id", reject_id, sizeof reject_id);
  json_string(config, "institution", institution, sizeof institution);
  json_string(config, "events", events_path, sizeof events_path);
  api->log(self, OSSA_LOG_INFO, "frozen 1.0 plugin initialised");
  if (api->register_on_received(self, on_received, NULL) != OSSA_OK) return OSSA_ERROR;
  if (api->register_on_stored(self, on_stored, NULL) != OSSA_OK) return OSSA_ERROR;
  if (api->register_on_stable(self, on_stable, NULL) != OSSA_OK) return OSSA_ERROR;
  return api->register_method(self, "frozen.count", count, NULL);
}

OSSA_PLUGIN_EXPORT void ossa_plugin_shutdown(void) {
  if (api) api->log(self, OSSA_LOG_INFO, "frozen 1.0 plugin shut down");
}
