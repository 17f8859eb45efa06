#pragma once
// The routing plugin's behaviour behind the hooks, written against a small HostPort interface so
// that it runs (and is tested) without a server. plugin.cpp adapts the SDK's host to HostPort.
//
// "received" rules: on_received reads the attributes the rules name and keeps the decision
// (SOP Instance UID -> destinations, also "none") in a bounded map; on_stored, called once the
// instance is durable, takes the decision and queues one IMAGE-level send job per destination.
// When the map has no entry (the server restarted between the hooks and on_stored is being
// redelivered, or the entry was evicted) the rules are evaluated again from the index.
// "stable" rules: on_stable reads the study (and its series, and instances when a rule names an
// instance attribute) from the index and queues one STUDY-level send per destination.
// Every queued send is recorded in the RoutedLog after queue_send returned and before the hook
// returns: a redelivered event finds its record and queues nothing. A crash between queue_send and
// the record can at worst queue the same send twice (never lose one).

#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "routed_log.h"
#include "rules.h"

namespace ossa::routing {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

class HostPort {
 public:
  virtual ~HostPort() = default;
  virtual void log(LogLevel level, const std::string& message) = 0;
  // Job id (> 0), or a negative status (-3 unknown node, -2 bad argument, ...).
  virtual int64_t queue_send(const std::string& node, const std::string& level,
                             const std::string& keys) = 0;
  // The answers of an index query, or nullopt when the host refused it.
  virtual std::optional<nlohmann::json> index_find(const nlohmann::json& query) = 0;
};

struct InstanceEvent {
  std::string sop_class_uid, sop_instance_uid, series_instance_uid, study_instance_uid;
  std::string patient_id, calling_aet, called_aet;
  int64_t sequence = 0;
};

// Attribute value by tag, nullopt when absent (on_received: api->dataset_get).
using AttributeReader = std::function<std::optional<std::string>(uint32_t tag)>;

class Router {
 public:
  Router(RoutingConfig config, HostPort& host);

  // Opens the state; false (with a logged error) when it cannot. `known_nodes`, when given, are
  // the nodes the server accepts sends to: rules naming others get a warning.
  bool start(const std::optional<std::vector<std::string>>& known_nodes);

  bool wants_received() const { return !received_rules_.empty(); }
  bool wants_stored() const { return !received_rules_.empty() || track_senders_; }
  bool wants_stable() const { return !stable_rules_.empty(); }

  void on_received(const InstanceEvent& event, const AttributeReader& read);
  // false when the decision could not be made (index unavailable): the hook reports an error.
  bool on_stored(const InstanceEvent& event);
  bool on_stable(const std::string& level, const std::string& study_uid);

  size_t pending_decisions() const;
  const RoutingConfig& config() const { return config_; }

 private:
  struct Decision {
    std::vector<std::string> destinations;
    std::vector<std::string> rules;  // names of the rules that matched
  };

  Decision decide(const std::map<uint32_t, std::string>& attributes, const std::string& calling,
                  const std::string& called) const;
  std::optional<Decision> decide_from_index(const InstanceEvent& event);
  void remember(const std::string& sop, Decision decision);
  std::optional<Decision> take(const std::string& sop);
  void note_sender(const InstanceEvent& event);
  std::vector<std::pair<std::string, std::string>> senders_of(const std::string& study) const;
  // One index query; nullopt on failure (logged).
  std::optional<nlohmann::json> find(const std::string& level, nlohmann::json keys);
  // Queues `level` `keys` to each destination not yet recorded under `record_prefix`+"|"+node
  // (+ `record_suffix`); logs each decision.
  // `record_prefix` empty: no record of our own (the host makes sends queued from on_stored
  // idempotent per event); else "<prefix>|<node><suffix>" is recorded and not queued twice.
  void forward(const std::string& what, const std::string& level, const std::string& keys,
               const std::string& record_prefix, const std::string& record_suffix,
               const std::vector<std::string>& destinations, const std::vector<std::string>& rules);
  void log(LogLevel level, const std::string& message) { host_.log(level, message); }

  RoutingConfig config_;
  HostPort& host_;
  std::vector<const Rule*> received_rules_, stable_rules_;
  std::vector<uint32_t> received_tags_;  // what on_received reads
  bool track_senders_ = false;           // a stable rule names calling_aet/called_aet
  RoutedLog routed_;

  mutable std::mutex pending_mutex_;
  std::list<std::string> pending_order_;
  std::unordered_map<std::string, std::pair<Decision, std::list<std::string>::iterator>> pending_;

  mutable std::mutex senders_mutex_;
  std::list<std::string> senders_order_;
  std::unordered_map<std::string, std::pair<std::vector<std::pair<std::string, std::string>>,
                                            std::list<std::string>::iterator>>
      senders_;
};

// The value of `condition`'s attribute in one index answer (keyed by keyword, or by tag text).
std::optional<std::string> answer_value(const nlohmann::json& answer, const AttributeInfo& info);

}  // namespace ossa::routing
