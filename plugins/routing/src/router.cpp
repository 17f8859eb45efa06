#include "router.h"

#include <algorithm>
#include <set>

namespace ossa::routing {
namespace {

using json = nlohmann::json;

constexpr uint32_t kSopClassUid = 0x00080016;
constexpr uint32_t kSopInstanceUid = 0x00080018;
constexpr uint32_t kPatientId = 0x00100020;
constexpr uint32_t kStudyInstanceUid = 0x0020000D;
constexpr uint32_t kSeriesInstanceUid = 0x0020000E;
constexpr int64_t kNotFound = 3;  // OSSA_E_NOT_FOUND
constexpr size_t kSendersPerStudy = 16;

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) {
    if (!out.empty()) out += ", ";
    out += "'" + n + "'";
  }
  return out;
}

bool is_study_level(AttrLevel l) {
  return l == AttrLevel::kPatient || l == AttrLevel::kStudy;
}

void add_unique(std::vector<std::string>& to, const std::vector<std::string>& from) {
  for (const std::string& s : from)
    if (std::find(to.begin(), to.end(), s) == to.end()) to.push_back(s);
}

}  // namespace

std::optional<std::string> answer_value(const json& answer, const AttributeInfo& info) {
  if (!answer.is_object()) return std::nullopt;
  auto it = answer.end();
  if (!info.keyword.empty()) it = answer.find(info.keyword);
  if (it == answer.end()) it = answer.find(tag_text(info.tag));
  if (it == answer.end()) {
    // Tag text in lower case, or without parentheses: accept what a host might write.
    std::string lower = tag_text(info.tag);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    it = answer.find(lower);
  }
  if (it == answer.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_array()) {
    std::string out;
    bool first = true;
    for (const json& v : *it) {
      if (!first) out += '\\';
      first = false;
      out += v.is_string() ? v.get<std::string>() : v.dump();
    }
    return out;
  }
  return it->dump();
}

Router::Router(RoutingConfig config, HostPort& host) : config_(std::move(config)), host_(host) {
  std::set<uint32_t> tags;
  for (const Rule& r : config_.rules) {
    if (r.on == Trigger::kReceived) {
      received_rules_.push_back(&r);
      for (const Condition& c : r.when)
        if (!c.is_event_key()) tags.insert(c.attribute.tag);
    } else {
      stable_rules_.push_back(&r);
      for (const Condition& c : r.when)
        if (c.is_event_key()) track_senders_ = true;
    }
  }
  received_tags_.assign(tags.begin(), tags.end());
}

bool Router::start(const std::optional<std::vector<std::string>>& known_nodes) {
  std::string error;
  if (!routed_.open(config_.state_dir, config_.state_max_records, config_.fsync, error)) {
    log(LogLevel::kError, error);
    return false;
  }
  if (config_.state_dir.empty() && !config_.rules.empty()) {
    log(LogLevel::kWarning,
        "no state_dir in the configuration: what was queued is remembered in memory only, so an "
        "event delivered again after a restart may queue a send twice");
  }
  for (const Rule& r : config_.rules) {
    for (const std::string& node : r.forward_to) {
      if (known_nodes &&
          std::find(known_nodes->begin(), known_nodes->end(), node) == known_nodes->end()) {
        log(LogLevel::kWarning, "rule '" + r.name + "' forwards to '" + node +
                                    "', which is not a node the server may send to (declare it "
                                    "in nodes: with send: true); its sends will be refused");
      }
    }
  }
  log(LogLevel::kInfo,
      std::to_string(config_.rules.size()) + " rule(s): " + std::to_string(received_rules_.size()) +
          " on received, " + std::to_string(stable_rules_.size()) + " on stable; " +
          (config_.state_dir.empty() ? std::string("records in memory")
                                     : "records in " + config_.state_dir + " (" +
                                           std::to_string(routed_.size()) + " loaded)"));
  return true;
}

Router::Decision Router::decide(const std::map<uint32_t, std::string>& attributes,
                                const std::string& calling, const std::string& called) const {
  Decision d;
  for (const Rule* r : received_rules_) {
    if (!r->matches(attributes, calling, called)) continue;
    d.rules.push_back(r->name);
    add_unique(d.destinations, r->forward_to);
  }
  return d;
}

void Router::on_received(const InstanceEvent& event, const AttributeReader& read) {
  if (received_rules_.empty() || event.sop_instance_uid.empty()) return;
  std::map<uint32_t, std::string> attributes;
  for (uint32_t tag : received_tags_) {
    std::optional<std::string> v = read(tag);
    if (v) attributes.emplace(tag, std::move(*v));
  }
  remember(event.sop_instance_uid, decide(attributes, event.calling_aet, event.called_aet));
}

void Router::remember(const std::string& sop, Decision decision) {
  std::lock_guard<std::mutex> lock(pending_mutex_);
  auto it = pending_.find(sop);
  if (it != pending_.end()) {
    it->second.first = std::move(decision);
    return;
  }
  while (pending_.size() >= config_.pending_capacity && !pending_order_.empty()) {
    pending_.erase(pending_order_.front());
    pending_order_.pop_front();
  }
  pending_order_.push_back(sop);
  pending_.emplace(sop, std::make_pair(std::move(decision), std::prev(pending_order_.end())));
}

std::optional<Router::Decision> Router::take(const std::string& sop) {
  std::lock_guard<std::mutex> lock(pending_mutex_);
  auto it = pending_.find(sop);
  if (it == pending_.end()) return std::nullopt;
  Decision d = std::move(it->second.first);
  pending_order_.erase(it->second.second);
  pending_.erase(it);
  return d;
}

size_t Router::pending_decisions() const {
  std::lock_guard<std::mutex> lock(pending_mutex_);
  return pending_.size();
}

void Router::note_sender(const InstanceEvent& event) {
  if (event.study_instance_uid.empty()) return;
  const std::pair<std::string, std::string> sender(event.calling_aet, event.called_aet);
  std::lock_guard<std::mutex> lock(senders_mutex_);
  auto it = senders_.find(event.study_instance_uid);
  if (it != senders_.end()) {
    auto& list = it->second.first;
    if (list.size() < kSendersPerStudy && std::find(list.begin(), list.end(), sender) == list.end())
      list.push_back(sender);
    return;
  }
  while (senders_.size() >= config_.pending_capacity && !senders_order_.empty()) {
    senders_.erase(senders_order_.front());
    senders_order_.pop_front();
  }
  senders_order_.push_back(event.study_instance_uid);
  senders_.emplace(event.study_instance_uid,
                   std::make_pair(std::vector<std::pair<std::string, std::string>>{sender},
                                  std::prev(senders_order_.end())));
}

std::vector<std::pair<std::string, std::string>> Router::senders_of(
    const std::string& study) const {
  std::lock_guard<std::mutex> lock(senders_mutex_);
  auto it = senders_.find(study);
  if (it == senders_.end()) return {};
  return it->second.first;
}

std::optional<json> Router::find(const std::string& level, json keys) {
  json query = {{"level", level}, {"keys", std::move(keys)}};
  std::optional<json> answers = host_.index_find(query);
  if (!answers || !answers->is_array()) {
    log(LogLevel::kError, "index query failed: " + query.dump());
    return std::nullopt;
  }
  return answers;
}

std::optional<Router::Decision> Router::decide_from_index(const InstanceEvent& event) {
  // What the event carries needs no query.
  std::map<uint32_t, std::string> attributes = {
      {kSopClassUid, event.sop_class_uid},
      {kSopInstanceUid, event.sop_instance_uid},
      {kSeriesInstanceUid, event.series_instance_uid},
      {kStudyInstanceUid, event.study_instance_uid},
      {kPatientId, event.patient_id},
  };
  std::map<AttrLevel, std::vector<AttributeInfo>> wanted;
  std::set<uint32_t> seen;
  for (const Rule* r : received_rules_) {
    for (const Condition& c : r->when) {
      if (c.is_event_key() || attributes.count(c.attribute.tag)) continue;
      if (!seen.insert(c.attribute.tag).second) continue;
      const AttrLevel level =
          is_study_level(c.attribute.level) ? AttrLevel::kStudy : c.attribute.level;
      wanted[level].push_back(c.attribute);
    }
  }
  for (const auto& [level, infos] : wanted) {
    json keys = {{"StudyInstanceUID", event.study_instance_uid}};
    if (level != AttrLevel::kStudy) keys["SeriesInstanceUID"] = event.series_instance_uid;
    if (level == AttrLevel::kInstance) keys["SOPInstanceUID"] = event.sop_instance_uid;
    for (const AttributeInfo& info : infos) {
      const std::string key = info.keyword.empty() ? tag_text(info.tag) : info.keyword;
      if (!keys.contains(key)) keys[key] = "";
    }
    std::optional<json> answers = find(level_name(level), std::move(keys));
    if (!answers) return std::nullopt;
    if (answers->empty()) {
      log(LogLevel::kWarning,
          "instance " + event.sop_instance_uid + " is no longer in the index: not forwarded");
      return Decision{};
    }
    for (const AttributeInfo& info : infos) {
      std::optional<std::string> v = answer_value(answers->front(), info);
      if (v) attributes[info.tag] = std::move(*v);
    }
  }
  return decide(attributes, event.calling_aet, event.called_aet);
}

void Router::forward(const std::string& what, const std::string& level, const std::string& keys,
                     const std::string& record_prefix, const std::string& record_suffix,
                     const std::vector<std::string>& destinations,
                     const std::vector<std::string>& rules) {
  const std::string by = (rules.size() == 1 ? "rule " : "rules ") + join_names(rules) + ": ";
  std::vector<std::string> records;
  for (const std::string& node : destinations) {
    const std::string record = record_prefix + "|" + node + record_suffix;
    if (!record_prefix.empty() && routed_.contains(record)) {
      log(LogLevel::kInfo, by + what + " -> " + node + ": already queued before, not again");
      continue;
    }
    const int64_t id = host_.queue_send(node, level, keys);
    if (id > 0) {
      if (!record_prefix.empty()) records.push_back(record);
      log(LogLevel::kInfo, by + what + " -> " + node + ": send job " + std::to_string(id));
    } else if (id == -kNotFound) {
      log(LogLevel::kWarning, by + what + " -> " + node +
                                  ": no such node (declare it in nodes: with send: true); not "
                                  "forwarded");
    } else {
      log(LogLevel::kError, by + what + " -> " + node + ": the server refused the send job (" +
                                std::to_string(id) + "); not forwarded");
    }
  }
  std::string error;
  if (!records.empty() && !routed_.add(records, error))
    log(LogLevel::kError, "cannot record the queued sends: " + error);
}

bool Router::on_stored(const InstanceEvent& event) {
  if (track_senders_) note_sender(event);
  if (received_rules_.empty() || event.sop_instance_uid.empty()) return true;
  std::optional<Decision> d = take(event.sop_instance_uid);
  std::string what = "instance " + event.sop_instance_uid;
  if (!d) {
    d = decide_from_index(event);
    if (!d) return false;
    what += " (decided again from the index)";
  }
  if (d->destinations.empty()) {
    log(LogLevel::kDebug, "instance " + event.sop_instance_uid + ": no rule matched");
    return true;
  }
  // No record of our own: the host ties the job to this event, so a redelivered event (after a
  // crash) gets the same job back, and the job and the delivery position share the index's log.
  // (A record in a file of ours could reach the disk before the job and hide it after a crash.)
  forward(what, "IMAGE", event.sop_instance_uid, "", "", d->destinations, d->rules);
  return true;
}

bool Router::on_stable(const std::string& level, const std::string& study_uid) {
  if (stable_rules_.empty() || level != "STUDY" || study_uid.empty()) return true;
  std::map<AttrLevel, std::vector<AttributeInfo>> wanted;
  std::set<uint32_t> seen;
  bool event_keys = false;
  for (const Rule* r : stable_rules_) {
    for (const Condition& c : r->when) {
      if (c.is_event_key()) {
        event_keys = true;
        continue;
      }
      if (!seen.insert(c.attribute.tag).second) continue;
      const AttrLevel l = is_study_level(c.attribute.level) ? AttrLevel::kStudy : c.attribute.level;
      wanted[l].push_back(c.attribute);
    }
  }
  const auto add_keys = [](json& keys, const std::vector<AttributeInfo>& infos) {
    for (const AttributeInfo& info : infos) {
      const std::string key = info.keyword.empty() ? tag_text(info.tag) : info.keyword;
      if (!keys.contains(key)) keys[key] = "";
    }
  };
  const auto fill = [](const json& answer, const std::vector<AttributeInfo>& infos,
                       std::map<uint32_t, std::string>& into) {
    for (const AttributeInfo& info : infos) {
      std::optional<std::string> v = answer_value(answer, info);
      if (v) into[info.tag] = std::move(*v);
    }
  };

  StudyFacts facts;
  json study_keys = {{"StudyInstanceUID", study_uid}, {"NumberOfStudyRelatedInstances", ""}};
  add_keys(study_keys, wanted[AttrLevel::kStudy]);
  std::optional<json> studies = find("STUDY", std::move(study_keys));
  if (!studies) return false;
  if (studies->empty()) {
    log(LogLevel::kInfo, "stable study " + study_uid + " is no longer in the index");
    return true;
  }
  fill(studies->front(), wanted[AttrLevel::kStudy], facts.study);
  facts.study[kStudyInstanceUid] = study_uid;
  const std::string count =
      answer_value(studies->front(), {0x00201208, "NumberOfStudyRelatedInstances"}).value_or("");

  const bool need_instances = !wanted[AttrLevel::kInstance].empty();
  if (!wanted[AttrLevel::kSeries].empty() || need_instances) {
    json keys = {{"StudyInstanceUID", study_uid}, {"SeriesInstanceUID", ""}};
    add_keys(keys, wanted[AttrLevel::kSeries]);
    std::optional<json> series = find("SERIES", std::move(keys));
    if (!series) return false;
    for (const json& s : *series) {
      StudyFacts::Series one;
      fill(s, wanted[AttrLevel::kSeries], one.attributes);
      const std::string series_uid =
          answer_value(s, {kSeriesInstanceUid, "SeriesInstanceUID"}).value_or("");
      one.attributes[kSeriesInstanceUid] = series_uid;
      if (need_instances && !series_uid.empty()) {
        json ikeys = {{"StudyInstanceUID", study_uid},
                      {"SeriesInstanceUID", series_uid},
                      {"SOPInstanceUID", ""}};
        add_keys(ikeys, wanted[AttrLevel::kInstance]);
        std::optional<json> instances = find("IMAGE", std::move(ikeys));
        if (!instances) return false;
        for (const json& i : *instances) {
          std::map<uint32_t, std::string> attrs;
          fill(i, wanted[AttrLevel::kInstance], attrs);
          one.instances.push_back(std::move(attrs));
        }
      }
      facts.series.push_back(std::move(one));
    }
  }
  if (event_keys) facts.senders = senders_of(study_uid);

  Decision d;
  for (const Rule* r : stable_rules_) {
    if (matches_study(*r, facts)) {
      d.rules.push_back(r->name);
      add_unique(d.destinations, r->forward_to);
    } else if (facts.senders.empty() &&
               std::any_of(r->when.begin(), r->when.end(),
                           [](const Condition& c) { return c.is_event_key(); })) {
      log(LogLevel::kWarning, "rule '" + r->name + "': the AE titles study " + study_uid +
                                  " was sent with are not known (received before the last "
                                  "start?): calling_aet/called_aet do not match");
    }
  }
  if (d.destinations.empty()) {
    log(LogLevel::kDebug, "stable study " + study_uid + ": no rule matched");
    return true;
  }
  forward("stable study " + study_uid + " (" + (count.empty() ? "?" : count) + " instances)",
          "STUDY", study_uid, "STUDY:" + study_uid, "|" + count, d.destinations, d.rules);
  return true;
}

}  // namespace ossa::routing
