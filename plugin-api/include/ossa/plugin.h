/*
 * Ossa plugin ABI, version 1.0.
 *
 * This header is the whole contract between the Ossa server (the host) and a plugin (a shared
 * library). It is C99, self-contained and stable: nothing undeclared here is part of the ABI.
 *
 * A plugin exports three functions, found by name:
 *
 *   const ossa_plugin_description* ossa_plugin_info(void);
 *       Called first, before any other plugin code. Returns a static description: the ABI major
 *       the plugin was built for and the lowest ABI minor it needs. The host refuses, with one log
 *       line naming the file and both versions, a plugin whose major differs from the host's or
 *       whose minor is newer than the host's, and a library that lacks one of the three exports.
 *
 *   ossa_status ossa_plugin_init(const ossa_host_api* api, ossa_host* host, const char* config);
 *       Called once, on the host's main thread, before the server accepts associations. `api` is
 *       the host's function table (valid until shutdown returns); `host` identifies this plugin in
 *       every call; `config` is the plugin's own configuration (the `config:` of its entry in the
 *       server's `plugins:` list) as JSON text, "{}" when none. Hooks are registered here and only
 *       here. A status other than OSSA_OK makes the host log the failure, forget every hook and
 *       method the plugin registered, and leave it out (ossa_plugin_shutdown is not called; the
 *       server runs on without it). Init must undo its own side effects before failing.
 *
 *   void ossa_plugin_shutdown(void);
 *       Called once when the server stops (after the last hook call returned), on the main thread.
 *
 * Versioning. OSSA_PLUGIN_ABI_MAJOR changes only when something here changes incompatibly; then
 * plugins must be rebuilt. Within a major, the host API table (ossa_host_api) and every struct
 * passed to plugins start with `struct_size` and are only ever appended to: a plugin built for
 * 1.0 runs on every 1.x host. A plugin that needs a function added in 1.N declares abi_minor = N
 * (the host then guarantees it), or checks `api->abi_minor >= N` before using it.
 *
 * Memory. Memory is freed by the side that allocated it. Strings the host returns (marked
 * "host-allocated") are freed with api->free. Strings a plugin passes in are copied by the host
 * before the call returns. Plugins return results through host-provided builders (ossa_result,
 * ossa_find_answers), never by returning plugin memory.
 *
 * Strings are UTF-8 and NUL-terminated. Tags are (group << 16 | element). Enumerations are 32-bit.
 *
 * The XML-RPC control server will expose the methods registered with register_method under their
 * own names.
 *
 * Threads. Each hook below states the threads it may be called on. The host never calls one hook
 * of one plugin from two threads at once unless stated. Every api function may be called from any
 * thread, during or after init, unless stated. A hook that fails (returns an error status, or
 * throws through the SDK's wrappers) is logged with the plugin's name; it never stops ingest or
 * the server.
 */
#ifndef OSSA_PLUGIN_H
#define OSSA_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Version ------------------------------------------------------------------------------- */

#define OSSA_PLUGIN_ABI_MAJOR 1
#define OSSA_PLUGIN_ABI_MINOR 0

/* ---- Status codes -------------------------------------------------------------------------- */

typedef int32_t ossa_status;
#define OSSA_OK 0
#define OSSA_ERROR 1              /* generic failure; details in the log */
#define OSSA_E_INVALID_ARGUMENT 2 /* a NULL or malformed argument */
#define OSSA_E_NOT_FOUND 3        /* no such node, job, method, attribute */
#define OSSA_E_WRONG_TIME 4       /* e.g. registering a hook after init returned */
#define OSSA_E_UNSUPPORTED 5      /* the host cannot do this (see the function's notes) */
#define OSSA_E_CANCELLED 6        /* find_add: stop answering (C-CANCEL, association gone) */

/* ---- Log levels ---------------------------------------------------------------------------- */

typedef int32_t ossa_log_level;
#define OSSA_LOG_DEBUG 0
#define OSSA_LOG_INFO 1
#define OSSA_LOG_WARNING 2
#define OSSA_LOG_ERROR 3

/* ---- Opaque handles ------------------------------------------------------------------------ */

typedef struct ossa_host ossa_host;                   /* one loaded plugin, as the host sees it */
typedef struct ossa_dataset ossa_dataset;             /* an incoming instance (on_received only) */
typedef struct ossa_result ossa_result;               /* where a method writes its JSON result */
typedef struct ossa_find_answers ossa_find_answers;   /* where a find provider adds its answers */
typedef struct ossa_http_response ossa_http_response; /* where an HTTP route writes its answer */

/* ---- What a plugin describes about itself -------------------------------------------------- */

/* Returned by the export ossa_plugin_info() (the type has its own name: in C a type and a
 * function cannot share one). */
typedef struct ossa_plugin_description {
  uint32_t struct_size; /* sizeof(ossa_plugin_description) as the plugin was built */
  uint32_t abi_major;   /* OSSA_PLUGIN_ABI_MAJOR the plugin was built with */
  uint32_t abi_minor;   /* the lowest host ABI minor the plugin needs */
  const char* name;     /* short unique name: "routing", "hl7" (used in logs and method names) */
  const char* version;  /* the plugin's own version, free text: "1.2.0" */
  const char* description;
} ossa_plugin_description;

/* ---- Events -------------------------------------------------------------------------------- */

/* One instance, as received (on_received) or stored (on_stored). All strings are valid for the
 * duration of the call only. */
typedef struct ossa_instance_event {
  uint32_t struct_size;
  const char* sop_class_uid;
  const char* sop_instance_uid;
  const char* series_instance_uid;
  const char* study_instance_uid;
  const char* patient_id;
  const char* calling_aet; /* the sender's AE title; "" for `ossa import` */
  const char* called_aet;  /* the AE title it was sent to; "" for `ossa import` */
  int64_t sequence;        /* on_stored: position in the durable change log (increasing); else 0 */
} ossa_instance_event;

/* A study or series that received no new instance for the configured delay. */
typedef struct ossa_stable_event {
  uint32_t struct_size;
  const char* level; /* "STUDY" or "SERIES" */
  const char* study_instance_uid;
  const char* series_instance_uid; /* "" for a study */
} ossa_stable_event;

/* ---- Hook types ---------------------------------------------------------------------------- */

/* on_received: before the instance is stored. May read and change attributes of `dataset`
 * (api->dataset_get / dataset_set / dataset_remove) or refuse the instance by setting
 * *reject_status to a DIMSE status (e.g. 0xA900, 0xC000; 0xA700 for "try later") and returning
 * OSSA_OK. Runs on the receiving association's thread (several at once for different instances):
 * it must be quick. Its time budget is the server's `plugin_host.received_budget_ms`: beyond it
 * the host logs a warning and applies `plugin_host.over_budget` (accept the instance, or reject it
 * with 0xA700 so the sender retries).
 * Returning an error status (or throwing through the SDK) counts as a failure of the hook: it is
 * logged, the other hooks still run, and the instance is stored; attributes this hook changed
 * before failing stay changed (return OSSA_OK without changing anything to leave it untouched). */
typedef ossa_status (*ossa_on_received_fn)(void* user, ossa_dataset* dataset,
                                           const ossa_instance_event* event,
                                           uint16_t* reject_status);

/* on_stored: after the instance is durable, off the association threads, in change-log order, at
 * least once: the event is written in the same index transaction as the instance and delivered
 * after a restart if the host stopped before the hook returned OSSA_OK. A status other than
 * OSSA_OK is logged and the event is not retried. One call at a time per plugin. */
typedef ossa_status (*ossa_on_stored_fn)(void* user, const ossa_instance_event* event);

/* on_stable: a study got no new instance for `plugin_host.stable_after_seconds`. Off the
 * association threads, one call at a time per plugin. */
typedef ossa_status (*ossa_on_stable_fn)(void* user, const ossa_stable_event* event);

/* A named method: JSON in, JSON out (api->result_set). Called by other plugins (api->call_method)
 * and, with the XML-RPC control server, by remote scripts. Any thread; possibly concurrently. */
typedef ossa_status (*ossa_method_fn)(void* user, const char* params_json, ossa_result* result);

/* A find provider answers C-FIND requests for the SOP class (and called AE title) it registered
 * instead of the archive: a worklist, or a RIS behind C-FIND. `query_json` is the request
 * identifier as an object {"PatientName": "DOE*", "ScheduledProcedureStepSequence": [{...}], ...}
 * keyed by keyword ("(gggg,eeee)" for private or unknown tags): values are UTF-8 strings (several
 * values joined by '\', "" for a universal key), sequences are arrays of item objects; Specific
 * Character Set is left out. Each answer is added with api->find_add, which sends it to the
 * requester at once as a pending response (status 0xFF00): add answers as they are found. When
 * find_add returns OSSA_E_CANCELLED (C-CANCEL received, association gone, or an answer the host
 * could not encode) stop and return; the host then ends the C-FIND itself (that return status is
 * not counted as a failure). Returning another error status (or throwing through the SDK) ends
 * the C-FIND with failure status 0xC000 and a log line naming the plugin; answers already sent
 * stay sent. Runs on the association's thread, possibly on several at once: it must be
 * thread-safe and should be quick (the requester waits; the host has no time limit). `answers`
 * and `query_json` are valid only during the call, and only on its thread. */
typedef ossa_status (*ossa_find_fn)(void* user, const char* query_json, ossa_find_answers* answers);

/* A timer: every `interval_ms`, on a host thread, one call at a time per timer. */
typedef void (*ossa_timer_fn)(void* user);

/* An HTTP request to a plugin's route (see register_http_route). All pointers are valid for the
 * duration of the call only; copy what you keep. */
typedef struct ossa_http_request {
  uint32_t struct_size;
  const char* method;       /* "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE" or "OPTIONS" */
  const char* path;         /* percent-decoded, without the query: "/plugins/demo/items/42" */
  const char* query;        /* the query string as sent, after '?' (not decoded); "" when none */
  const char* headers;      /* every request header as "Name: value\r\n", in no defined order */
  const uint8_t* body;      /* body_size bytes (not text: may hold NULs); body[body_size] is 0 */
  size_t body_size;         /* at most the server's http.max_request_mb (larger: 413, no call) */
  const char* peer_address; /* the client's IP address: "127.0.0.1", "::1" */
} ossa_http_request;

/* An HTTP route answers through api->http_response_set (required: a route that returns OSSA_OK
 * without calling it gets 500) and api->http_response_header. Returning an error status (or
 * throwing through the SDK) makes the host answer 500 and log a line naming the plugin, the method
 * and the path; whatever the route set is then dropped. Runs on the HTTP server's worker threads,
 * possibly on several at once: it must be thread-safe, and should be quick (a worker is busy
 * until it returns; the host has no time limit, and a server whose workers all hang stops
 * answering /testdbalive, so a watchdog restarts it). `request` and `response` are valid only
 * during the call, and only on its thread. */
typedef ossa_status (*ossa_http_fn)(void* user, const ossa_http_request* request,
                                    ossa_http_response* response);

/* ---- The host API table -------------------------------------------------------------------- */

typedef struct ossa_host_api {
  uint32_t struct_size; /* sizeof(ossa_host_api) in the host: check before using later fields */
  uint32_t abi_major;   /* the host's OSSA_PLUGIN_ABI_MAJOR */
  uint32_t abi_minor;   /* the host's OSSA_PLUGIN_ABI_MINOR */

  /* --- Since 1.0 --- */

  /* Writes one line to the server log, prefixed with the plugin's name. */
  void (*log)(ossa_host* host, ossa_log_level level, const char* message);

  /* Frees memory the host allocated for the plugin (strings marked host-allocated). NULL is fine.
   */
  void (*free)(void* memory);

  /* Hook registration: during ossa_plugin_init only (else OSSA_E_WRONG_TIME). `user` is passed
   * back to the hook unchanged. A plugin may register several hooks of one kind. */
  ossa_status (*register_on_received)(ossa_host* host, ossa_on_received_fn hook, void* user);
  ossa_status (*register_on_stored)(ossa_host* host, ossa_on_stored_fn hook, void* user);
  ossa_status (*register_on_stable)(ossa_host* host, ossa_on_stable_fn hook, void* user);
  /* `name` must be unique in the server; by convention "<plugin>.<method>". */
  ossa_status (*register_method)(ossa_host* host, const char* name, ossa_method_fn method,
                                 void* user);
  /* `sop_class_uid`: the C-FIND SOP class answered (e.g. Modality Worklist
   * 1.2.840.10008.5.1.4.31); `called_aet`: only requests to this AE title, or NULL for any. The
   * server then negotiates that SOP class, and accepts associations addressed to `called_aet`
   * (Verification and the providers' FIND classes only there). A provider for the called AE title
   * is preferred to one for any AE title; one for the Patient or Study Root model replaces the
   * archive's answers. OSSA_E_INVALID_ARGUMENT for a malformed UID or AE title, or when another
   * provider already answers that SOP class for that AE title. */
  ossa_status (*register_find_provider)(ossa_host* host, const char* sop_class_uid,
                                        const char* called_aet, ossa_find_fn provider, void* user);
  ossa_status (*register_timer)(ossa_host* host, uint32_t interval_ms, ossa_timer_fn timer,
                                void* user);

  /* Datasets (during on_received only). Values are UTF-8 text, multiple values joined by '\'.
   * dataset_get returns a host-allocated copy, or NULL when the attribute is absent.
   * dataset_set adds or replaces a top-level attribute (setting the value it already has changes
   * nothing); dataset_remove removes one (OSSA_E_NOT_FOUND when absent). The host keeps what was
   * received: for each plugin that changed or removed attributes, the stored instance gets one
   * item of Original Attributes Sequence (0400,0561) (PS3.3 C.12.1.1.9) with Modified Attributes
   * Sequence holding the prior values (zero length for an attribute that was absent),
   * AttributeModificationDateTime, ModifyingSystem = the plugin's name, SourceOfPreviousValues =
   * the sender's AE title, ReasonForTheAttributeModification "COERCE"; existing items are kept
   * and Instance Coercion DateTime (0008,0015) is set. */
  char* (*dataset_get)(ossa_dataset* dataset, uint32_t tag);
  ossa_status (*dataset_set)(ossa_dataset* dataset, uint32_t tag, const char* value);
  ossa_status (*dataset_remove)(ossa_dataset* dataset, uint32_t tag);

  /* Result builders. result_set replaces the method's JSON result (copied). find_add adds one
   * answer: a JSON object keyed like the query (keyword or "(gggg,eeee)") with string values
   * (UTF-8; several values joined by '\'), sequences as arrays of objects; copied and sent at
   * once (Specific Character Set ISO_IR 192). It returns OSSA_E_CANCELLED when the provider must
   * stop (see ossa_find_fn). Only during the provider's call, on its thread. */
  ossa_status (*result_set)(ossa_result* result, const char* json);
  ossa_status (*find_add)(ossa_find_answers* answers, const char* json);

  /* The plugin's configuration (JSON text, host-allocated): what init received. */
  char* (*config)(ossa_host* host);

  /* Calls a method registered by any plugin. *result_json receives a host-allocated JSON text
   * (free it with api->free), or NULL on failure. OSSA_E_NOT_FOUND for an unknown method. */
  ossa_status (*call_method)(ossa_host* host, const char* name, const char* params_json,
                             char** result_json);

  /* Index queries: `query_json` is {"level": "STUDY", "keys": {"PatientID": "P1", ...}} with
   * C-FIND matching (wildcards, ranges, lists); the result (host-allocated) is a JSON array of
   * objects keyed by keyword. NULL on a bad query (logged). */
  char* (*index_find)(ossa_host* host, const char* query_json);

  /* Durable jobs, run by the server with retries (exponential backoff) while a node is down.
   * `level` is "PATIENT", "STUDY", "SERIES" or "IMAGE"; `keys` the unique keys, joined by '\'.
   * Return the job id (> 0), or a negative value: -OSSA_E_NOT_FOUND for an undeclared node,
   * -OSSA_E_INVALID_ARGUMENT for a bad level. queue_retrieve: `use_get` 0 = C-MOVE to Ossa.
   * Called from an on_stored hook at level "IMAGE", a request the plugin already made from
   * on_stored returns that job's id and queues nothing (unless the job failed or was cancelled):
   * an event delivered again after a crash, or an instance received again, is not sent twice,
   * and the plugin needs no record of its own (a guarantee of the host; the signatures are those
   * of 1.0). Any other call (another level, which may have grown since, or another thread) queues
   * a new job. */
  int64_t (*queue_send)(ossa_host* host, const char* node, const char* level, const char* keys);
  int64_t (*queue_retrieve)(ossa_host* host, const char* node, const char* level, const char* keys,
                            int32_t use_get);
  /* Job state as JSON (host-allocated): {"id", "state", "total", "completed", "failed",
   * "error"}; NULL when there is no such job. */
  char* (*job_status)(ossa_host* host, int64_t job_id);

  /* Patient demographics (e.g. from HL7 ADT A08): `attributes_json` maps patient-level keywords
   * ("PatientName", "PatientBirthDate", "PatientSex", "OtherPatientIDs", ...) to values; C-FIND
   * then answers with them for every study of the patient (stored files keep what was received).
   * OSSA_E_NOT_FOUND when no patient has this ID. */
  ossa_status (*update_patient)(ossa_host* host, const char* patient_id,
                                const char* attributes_json);
  /* Patient merge (e.g. HL7 ADT A40): the studies of `old_patient_id` move to `new_patient_id`
   * (created with the old demographics when unknown). Merging a patient into itself is refused
   * (OSSA_E_INVALID_ARGUMENT); an unknown old ID gives OSSA_E_NOT_FOUND. */
  ossa_status (*merge_patient)(ossa_host* host, const char* old_patient_id,
                               const char* new_patient_id);

  /* HTTP routes, on the server's HTTP port (`http.port`, 3333 by default). During
   * ossa_plugin_init only (else OSSA_E_WRONG_TIME). `route` answers requests with `method`
   * ("GET", "POST", "PUT", "PATCH", "DELETE" or "OPTIONS"; a GET route also answers HEAD, the
   * host dropping the body) whose path is `path_prefix` or lies below it ("/plugins/demo/items"
   * answers "/plugins/demo/items" and "/plugins/demo/items/42", not "/plugins/demo/itemsX").
   * `path_prefix` must be "/plugins/<the plugin's name>" or lie below it, in printable ASCII
   * without spaces, '?', '#', '%', "//" or "." / ".." segments; a trailing '/' is ignored. When
   * several routes match, the longest prefix wins; a path that matches only routes of other
   * methods gets 405. OSSA_E_INVALID_ARGUMENT for another method, a prefix outside the plugin's
   * space, or a method and prefix already registered. `user` is passed back unchanged. */
  ossa_status (*register_http_route)(ossa_host* host, const char* method, const char* path_prefix,
                                     ossa_http_fn route, void* user);
  /* Response builders, only during the route's call, on its thread. http_response_set sets the
   * status (200 to 599), the Content-Type (NULL: "application/octet-stream") and the body:
   * `body_size` bytes from `body` (copied; NULL with size 0 for none); a second call replaces all
   * three. http_response_header adds a header: `name` of token characters (letters, digits and
   * !#$%&'*+-.^_`|~), `value` without CR or LF. The host writes Content-Length, Content-Type,
   * Transfer-Encoding and Connection itself: those names are refused. Both return
   * OSSA_E_INVALID_ARGUMENT for anything else, and change nothing then. */
  ossa_status (*http_response_set)(ossa_http_response* response, int32_t status,
                                   const char* content_type, const void* body, size_t body_size);
  ossa_status (*http_response_header)(ossa_http_response* response, const char* name,
                                      const char* value);
} ossa_host_api;

/* ---- The three exports, with their exact names --------------------------------------------- */

#if defined(_WIN32)
#define OSSA_PLUGIN_EXPORT __declspec(dllexport)
#else
#define OSSA_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

typedef const ossa_plugin_description* (*ossa_plugin_info_fn)(void);
typedef ossa_status (*ossa_plugin_init_fn)(const ossa_host_api* api, ossa_host* host,
                                           const char* config_json);
typedef void (*ossa_plugin_shutdown_fn)(void);

/* The exports themselves, declared here so that a plugin's definitions get C linkage and default
 * visibility even in C++ and the compiler checks their signatures (see the top of this file). */
OSSA_PLUGIN_EXPORT const ossa_plugin_description* ossa_plugin_info(void);
OSSA_PLUGIN_EXPORT ossa_status ossa_plugin_init(const ossa_host_api* api, ossa_host* host,
                                                const char* config_json);
OSSA_PLUGIN_EXPORT void ossa_plugin_shutdown(void);

#ifdef __cplusplus
}
#endif

#endif /* OSSA_PLUGIN_H */
