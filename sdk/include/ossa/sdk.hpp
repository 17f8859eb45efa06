// Ossa plugin SDK: a header-only C++17 wrapper over the plugin ABI (ossa/plugin.h).
//
// What it gives a plugin:
//   - ossa::sdk::Plugin, a class to derive from, and OSSA_PLUGIN(Class, "name", "version",
//     "description"), which writes the three exports of plugin.h and keeps one instance of Class
//     alive from ossa_plugin_init to ossa_plugin_shutdown.
//   - ossa::sdk::Host, the host's services as C++ calls (std::string in and out, host memory freed
//     for you) and hook registration with lambdas, which the Host keeps alive.
//   - Exceptions stop here: every hook, init and shutdown run inside a catch-all that logs the
//     exception through the host (the host prefixes the plugin's name) and returns an error status.
//     No C++ exception ever reaches the host.
//
// Design rules (from cppzmq): type safety over raw handles, exceptions inside plugin code, RAII
// for everything the host allocates, header-only, nothing beyond plugin.h and the standard library.
// Real errors throw ossa::sdk::Error (a status and a message); expected outcomes (an absent
// attribute, an unknown job or method, a patient not found) come back as std::optional or bool.
// The raw C handles stay reachable (Host::api(), Host::handle(), Dataset::handle()) for interop.
//
// Threads: hooks run on host threads; each registration function below says which, copied from
// plugin.h. A lambda that can run on several threads at once must be thread-safe itself.
// Host's service calls (log, config, index_find, queue_*, ...) may be made from any thread.

#ifndef OSSA_SDK_HPP
#define OSSA_SDK_HPP

#include <ossa/plugin.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

// The lowest host ABI minor this plugin needs: the value the plugin declares in ossa_plugin_info.
// Leave it at 0 unless the plugin calls a host function added in 1.N without checking
// Host::has() first; then define it to N before including this header, or pass MIN_ABI_MINOR N to
// ossa_add_plugin() in CMake. The host refuses to load a plugin that needs a newer minor than its
// own. It is not OSSA_PLUGIN_ABI_MINOR (the minor of the header you built with): a plugin built
// with a newer header still runs on older hosts as long as it uses nothing newer.
#ifndef OSSA_PLUGIN_MIN_ABI_MINOR
#define OSSA_PLUGIN_MIN_ABI_MINOR 0
#endif

namespace ossa::sdk {

static_assert(OSSA_PLUGIN_MIN_ABI_MINOR >= 0 && OSSA_PLUGIN_MIN_ABI_MINOR <= OSSA_PLUGIN_ABI_MINOR,
              "OSSA_PLUGIN_MIN_ABI_MINOR is newer than this ossa/plugin.h: update the SDK");

// The ABI version of the header this plugin is compiled with, and the minor it declares it needs.
inline constexpr uint32_t kAbiMajor = OSSA_PLUGIN_ABI_MAJOR;
inline constexpr uint32_t kAbiMinor = OSSA_PLUGIN_ABI_MINOR;
inline constexpr uint32_t kMinAbiMinor = OSSA_PLUGIN_MIN_ABI_MINOR;

// What the export ossa_plugin_info() returns.
using PluginInfo = ossa_plugin_description;

// A DICOM tag as the ABI spells it: (group << 16) | element. tag(0x0010, 0x0010) is Patient's Name.
constexpr uint32_t tag(uint16_t group, uint16_t element) noexcept {
  return (static_cast<uint32_t>(group) << 16) | element;
}

enum class LogLevel : ossa_log_level {
  kDebug = OSSA_LOG_DEBUG,
  kInfo = OSSA_LOG_INFO,
  kWarning = OSSA_LOG_WARNING,
  kError = OSSA_LOG_ERROR,
};

// A failed host call, or a failure a plugin reports from a hook: an ossa_status and a message.
// Thrown from a hook, its status (OSSA_ERROR if it is OSSA_OK) is what the host receives.
class Error : public std::runtime_error {
 public:
  Error(ossa_status status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  [[nodiscard]] ossa_status status() const noexcept { return status_; }

 private:
  ossa_status status_;
};

// Frees host-allocated memory with the host's free function (plugin.h: "freed by the side that
// allocated it").
struct HostFree {
  void (*free)(void*) = nullptr;
  void operator()(char* memory) const noexcept {
    if (memory != nullptr && free != nullptr) free(memory);
  }
};

// An owning pointer to a host-allocated string.
using HostString = std::unique_ptr<char, HostFree>;

class Host;

namespace detail {

// Whether the host's copy of a struct (its struct_size) holds `field`: structs only grow within a
// major, so a field past the host's struct_size does not exist there.
template <typename Struct, typename Field>
bool has_field(const Struct* object, Field Struct::*field) noexcept {
  static const Struct probe{};
  const auto offset = static_cast<size_t>(reinterpret_cast<const char*>(&(probe.*field)) -
                                          reinterpret_cast<const char*>(&probe));
  return object != nullptr && object->struct_size >= offset + sizeof(Field);
}

// The size of the 1.0 host table: every host of major 1 has at least these slots.
inline constexpr size_t kHostApi10Size =
    offsetof(ossa_host_api, http_response_header) + sizeof(ossa_host_api::http_response_header);

inline std::string_view view(const char* text) noexcept {
  return text != nullptr ? std::string_view(text) : std::string_view();
}

template <typename Struct>
std::string_view text_field(const Struct* object, const char* Struct::*field) noexcept {
  return has_field(object, field) ? view(object->*field) : std::string_view();
}

// A NUL-terminated copy of `text` for the C API; text with a NUL inside would be cut short there.
inline std::string c_string(std::string_view text, const char* what) {
  if (text.find('\0') != std::string_view::npos) {
    throw Error(OSSA_E_INVALID_ARGUMENT, std::string(what) + " contains a NUL character");
  }
  return std::string(text);
}

// Takes ownership of a host-allocated string: a copy, or nullopt for NULL. Freed in every case.
inline std::optional<std::string> take(const ossa_host_api* api, char* memory) {
  HostString owned(memory, HostFree{api != nullptr ? api->free : nullptr});
  if (!owned) return std::nullopt;
  return std::string(owned.get());
}

inline void check(ossa_status status, const char* what) {
  if (status != OSSA_OK) {
    throw Error(status, std::string(what) + " failed (status " + std::to_string(status) + ")");
  }
}

// What a registered lambda is stored as: the Host (for logging failures), a label for the log
// ("on_stored hook", "method routing.status") and the callable. The Host owns it; the host's
// `user` pointer points to it.
struct Registration {
  virtual ~Registration() = default;
};

template <typename Fn>
struct Bound final : Registration {
  Bound(Host* h, std::string l, Fn f) : host(h), label(std::move(l)), fn(std::move(f)) {}
  Host* host;
  std::string label;
  Fn fn;
};

template <typename Body>
ossa_status guarded(const Host& host, std::string_view label, Body&& body) noexcept;

template <typename P>
struct Module;

}  // namespace detail

// ---- Hook arguments ---------------------------------------------------------------------------

// One instance as received (on_received) or stored (on_stored). A view: the strings belong to the
// host and live until the hook returns; copy what you keep. Absent strings are empty.
struct InstanceEvent {
  std::string_view sop_class_uid;
  std::string_view sop_instance_uid;
  std::string_view series_instance_uid;
  std::string_view study_instance_uid;
  std::string_view patient_id;
  std::string_view calling_aet;  // the sender's AE title; "" for `ossa import`
  std::string_view called_aet;   // the AE title it was sent to; "" for `ossa import`
  int64_t sequence = 0;          // on_stored: position in the change log (increasing); else 0
  const ossa_instance_event* raw = nullptr;

  static InstanceEvent from(const ossa_instance_event* event) noexcept {
    using detail::text_field;
    InstanceEvent e;
    e.raw = event;
    if (event == nullptr) return e;
    e.sop_class_uid = text_field(event, &ossa_instance_event::sop_class_uid);
    e.sop_instance_uid = text_field(event, &ossa_instance_event::sop_instance_uid);
    e.series_instance_uid = text_field(event, &ossa_instance_event::series_instance_uid);
    e.study_instance_uid = text_field(event, &ossa_instance_event::study_instance_uid);
    e.patient_id = text_field(event, &ossa_instance_event::patient_id);
    e.calling_aet = text_field(event, &ossa_instance_event::calling_aet);
    e.called_aet = text_field(event, &ossa_instance_event::called_aet);
    if (detail::has_field(event, &ossa_instance_event::sequence)) e.sequence = event->sequence;
    return e;
  }
};

// A study or series that received no new instance for `plugin_host.stable_after_seconds`.
// A view, like InstanceEvent.
struct StableEvent {
  std::string_view level;  // "STUDY" or "SERIES"
  std::string_view study_instance_uid;
  std::string_view series_instance_uid;  // "" for a study
  const ossa_stable_event* raw = nullptr;

  static StableEvent from(const ossa_stable_event* event) noexcept {
    using detail::text_field;
    StableEvent e;
    e.raw = event;
    if (event == nullptr) return e;
    e.level = text_field(event, &ossa_stable_event::level);
    e.study_instance_uid = text_field(event, &ossa_stable_event::study_instance_uid);
    e.series_instance_uid = text_field(event, &ossa_stable_event::series_instance_uid);
    return e;
  }
};

// The incoming instance of an on_received hook, read and changed by tag. A borrowed view: valid
// only until the hook returns. Values are UTF-8 text, several values joined by '\'.
class Dataset {
 public:
  Dataset(const ossa_host_api* api, ossa_dataset* handle) noexcept : api_(api), handle_(handle) {}
  Dataset(const Dataset&) = delete;
  Dataset& operator=(const Dataset&) = delete;

  // The attribute's value, or nullopt when the instance does not have it.
  [[nodiscard]] std::optional<std::string> get(uint32_t tag) const {
    return detail::take(api_, api_->dataset_get(handle_, tag));
  }

  // Sets (adds or replaces) the attribute. Throws Error when the host refuses.
  void set(uint32_t tag, std::string_view value) {
    const std::string text = detail::c_string(value, "dataset value");
    detail::check(api_->dataset_set(handle_, tag, text.c_str()), "dataset_set");
  }

  // Removes the attribute; false when it was not there. Throws Error on other failures.
  bool remove(uint32_t tag) {
    const ossa_status status = api_->dataset_remove(handle_, tag);
    if (status == OSSA_E_NOT_FOUND) return false;
    detail::check(status, "dataset_remove");
    return true;
  }

  [[nodiscard]] ossa_dataset* handle() const noexcept { return handle_; }

 private:
  const ossa_host_api* api_;
  ossa_dataset* handle_;
};

// Where a streaming find provider adds its answers (Host::find_provider_streaming). A borrowed
// view: valid only during the provider's call, on its thread.
class FindAnswers {
 public:
  FindAnswers(const ossa_host_api* api, ossa_find_answers* handle) noexcept
      : api_(api), handle_(handle) {}
  FindAnswers(const FindAnswers&) = delete;
  FindAnswers& operator=(const FindAnswers&) = delete;

  // Sends one answer (a JSON object keyed by keyword, string values, sequences as arrays of
  // objects) to the requester at once. Returns false when the provider must stop (C-CANCEL, the
  // association went away, or the host could not encode an answer): return then. Throws Error on
  // other failures (e.g. an answer that is not a JSON object).
  bool add(std::string_view answer_json) {
    if (stopped_) return false;
    const std::string text = detail::c_string(answer_json, "find answer");
    const ossa_status status = api_->find_add(handle_, text.c_str());
    if (status == OSSA_E_CANCELLED) {
      stopped_ = true;
      return false;
    }
    detail::check(status, "find_add");
    return true;
  }
  [[nodiscard]] bool stopped() const noexcept { return stopped_; }
  [[nodiscard]] ossa_find_answers* handle() const noexcept { return handle_; }

 private:
  const ossa_host_api* api_;
  ossa_find_answers* handle_;
  bool stopped_ = false;
};

// An HTTP request to one of the plugin's routes. A view, like InstanceEvent: valid until the route
// returns; copy what you keep.
struct HttpRequest {
  std::string_view method;        // "GET", "HEAD", "POST", ...
  std::string_view path;          // percent-decoded, without the query
  std::string_view query;         // as sent, after '?' ("" when none)
  std::string_view headers;       // "Name: value\r\n" per header
  std::string_view body;          // bytes (may hold NULs)
  std::string_view peer_address;  // the client's IP address
  const ossa_http_request* raw = nullptr;

  // The value of the first header called `name` (case-insensitive), or nullopt.
  [[nodiscard]] std::optional<std::string_view> header(std::string_view name) const noexcept {
    std::string_view rest = headers;
    while (!rest.empty()) {
      const size_t end = rest.find("\r\n");
      const std::string_view line = rest.substr(0, end);
      rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 2);
      const size_t colon = line.find(':');
      if (colon != name.size() || !same_letters(line.substr(0, colon), name)) continue;
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
        value.remove_prefix(1);
      return value;
    }
    return std::nullopt;
  }

  static HttpRequest from(const ossa_http_request* request) noexcept {
    using detail::text_field;
    HttpRequest r;
    r.raw = request;
    if (request == nullptr) return r;
    r.method = text_field(request, &ossa_http_request::method);
    r.path = text_field(request, &ossa_http_request::path);
    r.query = text_field(request, &ossa_http_request::query);
    r.headers = text_field(request, &ossa_http_request::headers);
    if (detail::has_field(request, &ossa_http_request::body_size) && request->body != nullptr) {
      r.body = std::string_view(reinterpret_cast<const char*>(request->body), request->body_size);
    }
    r.peer_address = text_field(request, &ossa_http_request::peer_address);
    return r;
  }

 private:
  static bool same_letters(std::string_view a, std::string_view b) noexcept {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    for (size_t i = 0; i < a.size(); ++i)
      if (lower(a[i]) != lower(b[i])) return false;
    return a.size() == b.size();
  }
};

// What an HTTP route answers: the host checks it (status 200-599, header names and values) and
// answers 500 instead, with a log line, when it is not acceptable.
struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // not Content-Type/-Length
};

// How a queued retrieval asks the remote node for the data.
enum class RetrieveWith : int32_t {
  kMove = 0,  // C-MOVE to Ossa
  kGet = 1,   // C-GET
};

// ---- Host ---------------------------------------------------------------------------------------

// The host as one plugin sees it: its services and the registration of hooks. OSSA_PLUGIN makes
// one per plugin before init and destroys it after shutdown (tests may build one over their own
// table). Not copyable or movable: registered hooks point to it.
//
// Thread safety: the service calls may be made from any thread, at any time between init and the
// end of shutdown. Registration happens during init only, on init's thread.
class Host {
 public:
  using ReceivedFn = std::function<std::optional<uint16_t>(Dataset&, const InstanceEvent&)>;
  using StoredFn = std::function<void(const InstanceEvent&)>;
  using StableFn = std::function<void(const StableEvent&)>;
  using MethodFn = std::function<std::string(std::string_view params_json)>;
  using FindFn = std::function<std::vector<std::string>(std::string_view query_json)>;
  using FindStreamFn = std::function<void(std::string_view query_json, FindAnswers& answers)>;
  using TimerFn = std::function<void()>;
  using HttpFn = std::function<HttpResponse(const HttpRequest&)>;

  Host(const ossa_host_api* api, ossa_host* handle, std::string plugin_name)
      : api_(api), handle_(handle), name_(std::move(plugin_name)) {}
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  // -- Identity and versions --

  // The plugin's name, as in its ossa_plugin_info.
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] const ossa_host_api* api() const noexcept { return api_; }
  [[nodiscard]] ossa_host* handle() const noexcept { return handle_; }
  // The host's ABI minor (its major is the plugin's: the host refuses other majors).
  [[nodiscard]] uint32_t abi_minor() const noexcept { return api_->abi_minor; }

  // Whether the host provides a table slot, for functions added after the minor the plugin
  // declared:  if (host.has(&ossa_host_api::some_1_2_function)) { ... }
  template <typename Slot>
  [[nodiscard]] bool has(Slot ossa_host_api::*slot) const noexcept {
    static_assert(std::is_pointer_v<Slot>, "has() checks function slots of ossa_host_api");
    return detail::has_field(api_, slot) && api_->*slot != nullptr;
  }

  // -- Logging: one line in the server log, prefixed by the host with the plugin's name. --
  // Never throws (a message that cannot be copied is dropped).

  void log(LogLevel level, std::string_view message) const noexcept {
    if (api_ == nullptr || api_->log == nullptr) return;
    try {
      const std::string line(message);
      api_->log(handle_, static_cast<ossa_log_level>(level), line.c_str());
    } catch (...) {
    }
  }
  void debug(std::string_view message) const noexcept { log(LogLevel::kDebug, message); }
  void info(std::string_view message) const noexcept { log(LogLevel::kInfo, message); }
  void warning(std::string_view message) const noexcept { log(LogLevel::kWarning, message); }
  void error(std::string_view message) const noexcept { log(LogLevel::kError, message); }

  // -- Services --

  // The plugin's configuration as JSON text (the `config:` of its `plugins:` entry; "{}" when
  // none), as init received it.
  [[nodiscard]] std::string config() const {
    auto text = detail::take(api_, api_->config(handle_));
    if (!text) throw Error(OSSA_ERROR, "the host returned no configuration");
    return std::move(*text);
  }

  // Calls a method registered by any plugin (JSON in, JSON out). nullopt when no plugin
  // registered `name` (or when the method itself failed with OSSA_E_NOT_FOUND: the ABI does not
  // tell the two apart); throws Error when the method fails otherwise.
  [[nodiscard]] std::optional<std::string> call_method(std::string_view name,
                                                       std::string_view params_json = "{}") const {
    const std::string n = detail::c_string(name, "method name");
    const std::string p = detail::c_string(params_json, "method parameters");
    char* result = nullptr;
    const ossa_status status = api_->call_method(handle_, n.c_str(), p.c_str(), &result);
    auto owned = detail::take(api_, result);
    if (status == OSSA_E_NOT_FOUND) return std::nullopt;
    detail::check(status, ("method " + n).c_str());
    if (!owned) throw Error(OSSA_ERROR, "method " + n + " returned no result");
    return owned;
  }

  // Queries the index: {"level": "STUDY", "keys": {"PatientID": "P1", ...}} with C-FIND matching.
  // Returns a JSON array of objects keyed by keyword. Throws Error for a query the host rejects
  // (the host logs why).
  [[nodiscard]] std::string index_find(std::string_view query_json) const {
    const std::string q = detail::c_string(query_json, "index query");
    auto result = detail::take(api_, api_->index_find(handle_, q.c_str()));
    if (!result) throw Error(OSSA_E_INVALID_ARGUMENT, "index_find: the host rejected the query");
    return std::move(*result);
  }

  // Queues a durable job sending the entities to a declared node, run by the server with retries.
  // `level` is "PATIENT", "STUDY", "SERIES" or "IMAGE"; `keys` the unique keys joined by '\'.
  // Returns the job id; throws Error (OSSA_E_NOT_FOUND: undeclared node; OSSA_E_INVALID_ARGUMENT:
  // bad level).
  int64_t queue_send(std::string_view node, std::string_view level, std::string_view keys) const {
    const std::string n = detail::c_string(node, "node"), l = detail::c_string(level, "level"),
                      k = detail::c_string(keys, "keys");
    return job_id(api_->queue_send(handle_, n.c_str(), l.c_str(), k.c_str()), "queue_send");
  }
  int64_t queue_send(std::string_view node, std::string_view level,
                     const std::vector<std::string>& keys) const {
    return queue_send(node, level, join_keys(keys));
  }

  // Queues a durable job retrieving the entities from a node (C-MOVE to Ossa, or C-GET). As
  // queue_send for the arguments, the result and the errors.
  int64_t queue_retrieve(std::string_view node, std::string_view level, std::string_view keys,
                         RetrieveWith with = RetrieveWith::kMove) const {
    const std::string n = detail::c_string(node, "node"), l = detail::c_string(level, "level"),
                      k = detail::c_string(keys, "keys");
    return job_id(
        api_->queue_retrieve(handle_, n.c_str(), l.c_str(), k.c_str(), static_cast<int32_t>(with)),
        "queue_retrieve");
  }
  int64_t queue_retrieve(std::string_view node, std::string_view level,
                         const std::vector<std::string>& keys,
                         RetrieveWith with = RetrieveWith::kMove) const {
    return queue_retrieve(node, level, join_keys(keys), with);
  }

  // A job's state as JSON {"id", "state", "total", "completed", "failed", "error"}; nullopt when
  // there is no such job.
  [[nodiscard]] std::optional<std::string> job_status(int64_t job_id) const {
    return detail::take(api_, api_->job_status(handle_, job_id));
  }

  // Sets patient-level attributes ({"PatientName": "DOE^JOHN", ...}) that C-FIND answers with for
  // every study of the patient. False when no patient has this ID; throws Error otherwise.
  bool update_patient(std::string_view patient_id, std::string_view attributes_json) const {
    const std::string id = detail::c_string(patient_id, "patient ID");
    const std::string a = detail::c_string(attributes_json, "patient attributes");
    const ossa_status status = api_->update_patient(handle_, id.c_str(), a.c_str());
    if (status == OSSA_E_NOT_FOUND) return false;
    detail::check(status, "update_patient");
    return true;
  }

  // Moves the studies of `old_patient_id` to `new_patient_id`. False when the old ID is unknown;
  // throws Error otherwise (OSSA_E_INVALID_ARGUMENT: merging a patient into itself).
  bool merge_patient(std::string_view old_patient_id, std::string_view new_patient_id) const {
    const std::string from = detail::c_string(old_patient_id, "old patient ID");
    const std::string to = detail::c_string(new_patient_id, "new patient ID");
    const ossa_status status = api_->merge_patient(handle_, from.c_str(), to.c_str());
    if (status == OSSA_E_NOT_FOUND) return false;
    detail::check(status, "merge_patient");
    return true;
  }

  // -- Hook registration: during init only; each throws Error when the host refuses --
  // The Host keeps the callable alive until after shutdown. Throw from a hook to report a
  // failure: the SDK logs it and returns OSSA_ERROR (or the status of an ossa::sdk::Error).

  // Before an instance is stored. Read or change it through `dataset`. Return std::nullopt (or
  // return nothing: a void lambda is fine) to accept it, or a DIMSE failure status (0xA700 "try
  // later", 0xA900, 0xC000, ...) to refuse it.
  // Threads: the receiving association's thread, several at once for different instances; it
  // must be quick: beyond `plugin_host.received_budget_ms` the host logs a warning and applies
  // `plugin_host.over_budget`. A hook that fails (throws) does not refuse the instance: it is
  // stored all the same; do not count on changes made before the failure being kept or undone.
  template <typename F>
  void on_received(F&& fn) {
    using R = std::invoke_result_t<std::decay_t<F>&, Dataset&, const InstanceEvent&>;
    if constexpr (std::is_void_v<R>) {
      add_received(ReceivedFn(
          [f = std::forward<F>(fn)](Dataset& dataset, const InstanceEvent& event) mutable {
            f(dataset, event);
            return std::optional<uint16_t>();
          }));
    } else {
      static_assert(std::is_convertible_v<R, std::optional<uint16_t>>,
                    "on_received: return void or std::optional<uint16_t> (a DIMSE status)");
      add_received(ReceivedFn(std::forward<F>(fn)));
    }
  }

  // After an instance is durable, in change-log order, at least once: after a restart, events
  // whose hook did not complete are delivered again (event.sequence tells them apart). A hook
  // that throws is logged and the event is not retried.
  // Threads: off the association threads, one call at a time per plugin (across all its
  // on_stored hooks).
  void on_stored(StoredFn fn) {
    auto* r = keep<StoredFn>("on_stored hook", std::move(fn));
    commit(api_->register_on_stored(handle_, &stored_trampoline, r), "register_on_stored");
  }

  // A study (or series) got no new instance for `plugin_host.stable_after_seconds`.
  // Threads: off the association threads, one call at a time per plugin.
  void on_stable(StableFn fn) {
    auto* r = keep<StableFn>("on_stable hook", std::move(fn));
    commit(api_->register_on_stable(handle_, &stable_trampoline, r), "register_on_stable");
  }

  // A named method, JSON in, JSON out, called by other plugins (Host::call_method) and, with the
  // XML-RPC control server, by remote scripts. `name` must be unique in the server; by convention
  // "<plugin>.<method>".
  // Threads: any thread, possibly several at once: the callable must be thread-safe.
  void method(std::string_view name, MethodFn fn) {
    const std::string n = detail::c_string(name, "method name");
    auto* r = keep<MethodFn>("method " + n, std::move(fn));
    commit(api_->register_method(handle_, n.c_str(), &method_trampoline, r), "register_method");
  }

  // Answers C-FIND requests for `sop_class_uid` (e.g. Modality Worklist 1.2.840.10008.5.1.4.31)
  // instead of the archive, for requests to `called_aet` only, or to any AE title (nullopt).
  // The callable receives the request identifier as a JSON object keyed by keyword ("(gggg,eeee)"
  // for private or unknown ones) and returns the answers, each a JSON object keyed like the
  // query with string values, sequences as arrays of objects. Each answer is sent as a pending
  // response; if the requester cancels, the remaining ones are dropped. Throws Error when the host
  // refuses (malformed UID or AE title, or another provider for the same class and AE title).
  // Threads: the association's thread, possibly several at once: the callable must be
  // thread-safe.
  void find_provider(std::string_view sop_class_uid, std::optional<std::string_view> called_aet,
                     FindFn fn) {
    const std::string sop = detail::c_string(sop_class_uid, "SOP class UID");
    const std::string aet = called_aet ? detail::c_string(*called_aet, "called AE title") : "";
    auto* r = keep<FindFn>("find provider " + sop + (called_aet ? " for " + aet : std::string()),
                           std::move(fn));
    commit(api_->register_find_provider(handle_, sop.c_str(), called_aet ? aet.c_str() : nullptr,
                                        &find_trampoline, r),
           "register_find_provider");
  }

  // As find_provider, but the callable sends each answer as it finds it (answers.add(json)) and
  // stops when add() returns false (the requester cancelled or went away): for providers with
  // many answers, or slow sources.
  // Threads: the association's thread, possibly several at once: the callable must be
  // thread-safe.
  void find_provider_streaming(std::string_view sop_class_uid,
                               std::optional<std::string_view> called_aet, FindStreamFn fn) {
    const std::string sop = detail::c_string(sop_class_uid, "SOP class UID");
    const std::string aet = called_aet ? detail::c_string(*called_aet, "called AE title") : "";
    auto* r = keep<FindStreamFn>(
        "find provider " + sop + (called_aet ? " for " + aet : std::string()), std::move(fn));
    commit(api_->register_find_provider(handle_, sop.c_str(), called_aet ? aet.c_str() : nullptr,
                                        &find_stream_trampoline, r),
           "register_find_provider");
  }

  // Answers HTTP requests on the server's HTTP port (`http.port`) with `method` ("GET" (which
  // also answers HEAD), "POST", "PUT", "PATCH", "DELETE" or "OPTIONS") whose path is
  // `path_prefix` or below it. The prefix must be "/plugins/<this plugin's name>" or below it;
  // the longest matching prefix wins. Throw (or return a 5xx) to fail: the host answers 500 and
  // logs the failure with the plugin's name.
  // Threads: the HTTP server's worker threads, several at once: the callable must be thread-safe.
  void http_route(std::string_view method, std::string_view path_prefix, HttpFn fn) {
    const std::string m = detail::c_string(method, "HTTP method");
    const std::string p = detail::c_string(path_prefix, "HTTP path prefix");
    auto* r = keep<HttpFn>("HTTP route " + m + " " + p, std::move(fn));
    commit(api_->register_http_route(handle_, m.c_str(), p.c_str(), &http_trampoline, r),
           "register_http_route");
  }

  // Calls `fn` every `interval` (at least 1 ms, at most 2^32-1 ms).
  // Threads: a host thread, one call at a time per timer (two timers may run at once).
  void timer(std::chrono::milliseconds interval, TimerFn fn) {
    if (interval.count() < 1 || interval.count() > std::numeric_limits<uint32_t>::max()) {
      throw Error(OSSA_E_INVALID_ARGUMENT, "timer interval out of range");
    }
    auto* r = keep<TimerFn>("timer", std::move(fn));
    commit(api_->register_timer(handle_, static_cast<uint32_t>(interval.count()), &timer_trampoline,
                                r),
           "register_timer");
  }

  // Ends registration (OSSA_PLUGIN calls it when init returns): later registrations throw Error
  // with OSSA_E_WRONG_TIME without reaching the host.
  void close_registration() noexcept { registration_open_ = false; }

  // Logs the exception being handled (call inside a catch block) as "<what> failed: <message>".
  void log_current_exception(std::string_view what) const noexcept {
    try {
      std::string line(what);
      try {
        throw;
      } catch (const Error& e) {
        line += " failed (status " + std::to_string(e.status()) + "): " + e.what();
      } catch (const std::exception& e) {
        line += " failed: ";
        line += e.what();
      } catch (...) {
        line += " failed: an exception that is not a std::exception";
      }
      error(line);
    } catch (...) {
      error("a hook failed, and the failure could not be described");
    }
  }

 private:
  template <typename Fn>
  detail::Bound<Fn>* keep(std::string label, Fn fn) {
    if (!registration_open_) {
      throw Error(OSSA_E_WRONG_TIME, "hooks are registered during init only (" + label + ")");
    }
    if (!fn) throw Error(OSSA_E_INVALID_ARGUMENT, label + ": empty function");
    auto owned = std::make_unique<detail::Bound<Fn>>(this, std::move(label), std::move(fn));
    auto* raw = owned.get();
    registrations_.push_back(std::move(owned));
    return raw;
  }

  // Keeps the last registration if the host accepted it; drops it and throws otherwise.
  void commit(ossa_status status, const char* what) {
    if (status != OSSA_OK) {
      registrations_.pop_back();
      detail::check(status, what);
    }
  }

  void add_received(ReceivedFn fn) {
    auto* r = keep<ReceivedFn>("on_received hook", std::move(fn));
    commit(api_->register_on_received(handle_, &received_trampoline, r), "register_on_received");
  }

  static std::string join_keys(const std::vector<std::string>& keys) {
    std::string joined;
    for (const auto& key : keys) {
      if (!joined.empty()) joined += '\\';
      joined += key;
    }
    return joined;
  }

  static int64_t job_id(int64_t result, const char* what) {
    if (result > 0) return result;
    const auto status = static_cast<ossa_status>(result < 0 ? -result : OSSA_ERROR);
    throw Error(status, std::string(what) + " failed (status " + std::to_string(status) + ")");
  }

  // -- Trampolines: C entry points the host calls; nothing thrown gets past them. --

  static ossa_status received_trampoline(void* user, ossa_dataset* dataset,
                                         const ossa_instance_event* event,
                                         uint16_t* reject_status) noexcept {
    auto* r = static_cast<detail::Bound<ReceivedFn>*>(user);
    return detail::guarded(*r->host, r->label, [&] {
      Dataset view(r->host->api(), dataset);
      const std::optional<uint16_t> reject = r->fn(view, InstanceEvent::from(event));
      if (reject) {
        if (reject_status == nullptr) throw Error(OSSA_E_INVALID_ARGUMENT, "no reject_status");
        *reject_status = *reject;
      }
    });
  }

  static ossa_status stored_trampoline(void* user, const ossa_instance_event* event) noexcept {
    auto* r = static_cast<detail::Bound<StoredFn>*>(user);
    return detail::guarded(*r->host, r->label, [&] { r->fn(InstanceEvent::from(event)); });
  }

  static ossa_status stable_trampoline(void* user, const ossa_stable_event* event) noexcept {
    auto* r = static_cast<detail::Bound<StableFn>*>(user);
    return detail::guarded(*r->host, r->label, [&] { r->fn(StableEvent::from(event)); });
  }

  static ossa_status method_trampoline(void* user, const char* params_json,
                                       ossa_result* result) noexcept {
    auto* r = static_cast<detail::Bound<MethodFn>*>(user);
    return detail::guarded(*r->host, r->label, [&] {
      const std::string json = r->fn(detail::view(params_json));
      const std::string text = detail::c_string(json, "method result");
      detail::check(r->host->api()->result_set(result, text.c_str()), "result_set");
    });
  }

  static ossa_status find_trampoline(void* user, const char* query_json,
                                     ossa_find_answers* answers) noexcept {
    auto* r = static_cast<detail::Bound<FindFn>*>(user);
    return detail::guarded(*r->host, r->label, [&] {
      FindAnswers sink(r->host->api(), answers);
      for (const std::string& answer : r->fn(detail::view(query_json))) {
        if (!sink.add(answer)) break;  // cancelled: the host ends the C-FIND
      }
    });
  }

  static ossa_status find_stream_trampoline(void* user, const char* query_json,
                                            ossa_find_answers* answers) noexcept {
    auto* r = static_cast<detail::Bound<FindStreamFn>*>(user);
    return detail::guarded(*r->host, r->label, [&] {
      FindAnswers sink(r->host->api(), answers);
      r->fn(detail::view(query_json), sink);
    });
  }

  static ossa_status http_trampoline(void* user, const ossa_http_request* request,
                                     ossa_http_response* response) noexcept {
    auto* r = static_cast<detail::Bound<HttpFn>*>(user);
    return detail::guarded(*r->host, r->label, [&] {
      const HttpResponse answer = r->fn(HttpRequest::from(request));
      const ossa_host_api* api = r->host->api();
      const std::string type = detail::c_string(answer.content_type, "Content-Type");
      detail::check(api->http_response_set(response, answer.status, type.c_str(),
                                           answer.body.data(), answer.body.size()),
                    "http_response_set");
      for (const auto& [name, value] : answer.headers) {
        const std::string n = detail::c_string(name, "header name");
        const std::string v = detail::c_string(value, "header value");
        detail::check(api->http_response_header(response, n.c_str(), v.c_str()),
                      ("http_response_header " + n).c_str());
      }
    });
  }

  static void timer_trampoline(void* user) noexcept {
    auto* r = static_cast<detail::Bound<TimerFn>*>(user);
    detail::guarded(*r->host, r->label, [&] { r->fn(); });
  }

  const ossa_host_api* api_;
  ossa_host* handle_;
  std::string name_;
  bool registration_open_ = true;
  // Owned callables; the host holds raw pointers to them (`user`) until shutdown.
  std::vector<std::unique_ptr<detail::Registration>> registrations_;
};

namespace detail {

// Runs `body`; an exception becomes a log line and an error status.
template <typename Body>
ossa_status guarded(const Host& host, std::string_view label, Body&& body) noexcept {
  try {
    body();
    return OSSA_OK;
  } catch (const Error& e) {
    host.log_current_exception(label);
    return e.status() != OSSA_OK ? e.status() : OSSA_ERROR;
  } catch (...) {
    host.log_current_exception(label);
    return OSSA_ERROR;
  }
}

}  // namespace detail

// ---- Plugin -------------------------------------------------------------------------------------

// The class a plugin derives from. OSSA_PLUGIN makes one instance (default-constructed) in
// ossa_plugin_init, calls init(), and calls shutdown() then destroys it in ossa_plugin_shutdown.
class Plugin {
 public:
  Plugin() = default;
  Plugin(const Plugin&) = delete;
  Plugin& operator=(const Plugin&) = delete;
  virtual ~Plugin() = default;

  // Once, on the host's main thread, before the server accepts associations. Read the config and
  // register the hooks here (only here). Throw to refuse to load: the SDK logs the exception and
  // the host unloads the plugin; shutdown() is then not called, the object is just destroyed, so
  // release in destructors what init acquired.
  virtual void init(Host& host) = 0;

  // Once, on the main thread, when the server stops, after the last hook call returned. Stop the
  // plugin's own threads here. Exceptions are logged.
  virtual void shutdown() {}

  // The plugin's Host, from init until destruction.
  [[nodiscard]] Host& host() const noexcept { return *host_; }

 private:
  template <typename P>
  friend struct detail::Module;
  Host* host_ = nullptr;
};

namespace detail {

// The three exports' work, for one plugin class P. The one instance lives here between init and
// shutdown; hidden visibility keeps it private to the plugin's library.
template <typename P>
struct Module {
  struct Instance {
    Instance(const ossa_host_api* api, ossa_host* handle, const char* name)
        : host(api, handle, name) {}
    Host host;                  // destroyed last: the plugin may log from its destructor
    std::unique_ptr<P> plugin;  // destroyed first
  };
  static inline Instance* instance = nullptr;

  static ossa_status init(const PluginInfo* info, const ossa_host_api* api, ossa_host* handle,
                          const char* /*config: read through Host::config()*/) noexcept {
    if (api == nullptr || handle == nullptr) return OSSA_E_INVALID_ARGUMENT;
    const bool usable = api->struct_size >= kHostApi10Size && api->abi_major == kAbiMajor &&
                        api->abi_minor >= kMinAbiMinor;
    if (!usable) {
      if (api->struct_size >= offsetof(ossa_host_api, log) + sizeof(api->log) && api->log) {
        api->log(handle, OSSA_LOG_ERROR, "the host's plugin ABI does not match this plugin's");
      }
      return OSSA_E_UNSUPPORTED;
    }
    if (instance != nullptr) {
      api->log(handle, OSSA_LOG_ERROR, "ossa_plugin_init called twice");
      return OSSA_E_WRONG_TIME;
    }
    std::unique_ptr<Instance> created;
    try {
      created = std::make_unique<Instance>(api, handle, info->name);
    } catch (...) {
      api->log(handle, OSSA_LOG_ERROR, "init failed: out of memory");
      return OSSA_ERROR;
    }
    const ossa_status status = guarded(created->host, "init", [&] {
      created->plugin = std::make_unique<P>();
      created->plugin->host_ = &created->host;
      created->plugin->init(created->host);
    });
    created->host.close_registration();
    if (status != OSSA_OK) return status;  // the plugin, then its registrations, are destroyed
    instance = created.release();
    return OSSA_OK;
  }

  static void shutdown() noexcept {
    std::unique_ptr<Instance> ending(std::exchange(instance, nullptr));
    if (!ending) return;
    guarded(ending->host, "shutdown", [&] { ending->plugin->shutdown(); });
  }
};

// Plugin names go into log prefixes and method names ("<plugin>.<method>"): letters, digits,
// '_' and '-' only.
constexpr bool valid_plugin_name(const char* name) {
  if (name == nullptr || *name == '\0') return false;
  for (; *name != '\0'; ++name) {
    const char c = *name;
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

inline PluginInfo make_info(const char* name, const char* version,
                            const char* description) noexcept {
  PluginInfo info{};
  info.struct_size = sizeof(PluginInfo);
  info.abi_major = kAbiMajor;
  info.abi_minor = kMinAbiMinor;
  info.name = name;
  info.version = version;
  info.description = description;
  return info;
}

}  // namespace detail
}  // namespace ossa::sdk

// Defines the three exports of plugin.h for the plugin class CLASS (derived from
// ossa::sdk::Plugin, default-constructible). Use it once, at global scope, in one source file:
//   OSSA_PLUGIN(RoutingPlugin, "routing", "1.2.0", "Forwards stored studies to other nodes")
// NAME: letters, digits, '_' and '-'; unique in the server. The info declares ABI major
// OSSA_PLUGIN_ABI_MAJOR and minor OSSA_PLUGIN_MIN_ABI_MINOR (0 unless raised; see above).
#define OSSA_PLUGIN(CLASS, NAME, VERSION, DESCRIPTION)                                           \
  static_assert(std::is_base_of_v<::ossa::sdk::Plugin, CLASS>,                                   \
                "OSSA_PLUGIN: " #CLASS " must derive from ossa::sdk::Plugin");                   \
  static_assert(std::is_default_constructible_v<CLASS>,                                          \
                "OSSA_PLUGIN: " #CLASS " must be default-constructible");                        \
  static_assert(::ossa::sdk::detail::valid_plugin_name(NAME),                                    \
                "OSSA_PLUGIN: the name must be letters, digits, '_' or '-'");                    \
  extern "C" OSSA_PLUGIN_EXPORT const ::ossa::sdk::PluginInfo* ossa_plugin_info(void);           \
  extern "C" OSSA_PLUGIN_EXPORT const ::ossa::sdk::PluginInfo* ossa_plugin_info(void) {          \
    static const ::ossa::sdk::PluginInfo info =                                                  \
        ::ossa::sdk::detail::make_info(NAME, VERSION, DESCRIPTION);                              \
    return &info;                                                                                \
  }                                                                                              \
  extern "C" OSSA_PLUGIN_EXPORT ossa_status ossa_plugin_init(                                    \
      const ossa_host_api* api, ossa_host* host, const char* config_json);                       \
  extern "C" OSSA_PLUGIN_EXPORT ossa_status ossa_plugin_init(                                    \
      const ossa_host_api* api, ossa_host* host, const char* config_json) {                      \
    return ::ossa::sdk::detail::Module<CLASS>::init(ossa_plugin_info(), api, host, config_json); \
  }                                                                                              \
  extern "C" OSSA_PLUGIN_EXPORT void ossa_plugin_shutdown(void);                                 \
  extern "C" OSSA_PLUGIN_EXPORT void ossa_plugin_shutdown(void) {                                \
    ::ossa::sdk::detail::Module<CLASS>::shutdown();                                              \
  }                                                                                              \
  static_assert(std::is_same_v<decltype(&ossa_plugin_info), ossa_plugin_info_fn> &&              \
                    std::is_same_v<decltype(&ossa_plugin_init), ossa_plugin_init_fn> &&          \
                    std::is_same_v<decltype(&ossa_plugin_shutdown), ossa_plugin_shutdown_fn>,    \
                "OSSA_PLUGIN: the exports do not match ossa/plugin.h");

#endif  // OSSA_SDK_HPP
