// The routing plugin's hook logic against a fake host: decisions made in on_received and acted
// on in on_stored, idempotency across redelivery and restarts, decisions re-made from the index,
// stable-study rules, unknown nodes.

#include "router.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ossa::routing::HostPort;
using ossa::routing::InstanceEvent;
using ossa::routing::LogLevel;
using ossa::routing::Router;
using ossa::routing::RoutingConfig;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "ossa-router-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
};

// One stored instance of the fake index: attributes by keyword, every level.
using Instance = std::map<std::string, std::string>;

struct Job {
  std::string node, level, keys;
};

class FakeHost : public HostPort {
 public:
  std::vector<std::string> nodes = {"ARCHIVE", "VIEWER"};
  std::vector<Instance> index;
  std::vector<Job> jobs;
  size_t requests = 0;  // queue_send calls that named a declared node
  std::vector<std::pair<LogLevel, std::string>> logs;
  std::vector<json> queries;
  bool index_down = false;

  void log(LogLevel level, const std::string& message) override {
    logs.emplace_back(level, message);
  }
  int64_t queue_send(const std::string& node, const std::string& level,
                     const std::string& keys) override {
    if (level != "IMAGE" && level != "STUDY") return -2;
    if (std::find(nodes.begin(), nodes.end(), node) == nodes.end()) return -3;
    ++requests;
    // As the server does for a request from on_stored (ossa/plugin.h, queue_send): an IMAGE-level
    // request made before returns the first job and queues nothing.
    if (level == "IMAGE") {
      for (size_t i = 0; i < jobs.size(); ++i) {
        if (jobs[i].node == node && jobs[i].level == level && jobs[i].keys == keys)
          return static_cast<int64_t>(i + 1);
      }
    }
    jobs.push_back({node, level, keys});
    return static_cast<int64_t>(jobs.size());
  }
  // C-FIND-like: unique keys with values filter; one answer per entity of the level, with its
  // attributes and those of the levels above (like the server's index).
  std::optional<json> index_find(const json& query) override {
    queries.push_back(query);
    if (index_down) return std::nullopt;
    const std::string level = query.at("level");
    const json& keys = query.at("keys");
    static const std::map<std::string, std::string> kUnique = {{"STUDY", "StudyInstanceUID"},
                                                               {"SERIES", "SeriesInstanceUID"},
                                                               {"IMAGE", "SOPInstanceUID"}};
    json out = json::array();
    std::vector<std::string> seen;
    for (const Instance& i : index) {
      bool ok = true;
      for (const char* k : {"StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"}) {
        if (keys.contains(k) && !keys[k].get<std::string>().empty() && keys[k] != i.at(k))
          ok = false;
      }
      if (!ok) continue;
      const std::string id = i.at(kUnique.at(level));
      if (std::find(seen.begin(), seen.end(), id) != seen.end()) continue;
      seen.push_back(id);
      json row = json::object();
      for (const auto& [k, v] : i) row[k] = v;
      if (level == "STUDY") {
        int n = 0;
        for (const Instance& j : index) n += j.at("StudyInstanceUID") == id;
        row["NumberOfStudyRelatedInstances"] = std::to_string(n);
      }
      out.push_back(row);
    }
    return out;
  }

  size_t count(LogLevel level, const std::string& text) const {
    size_t n = 0;
    for (const auto& [l, m] : logs) n += l == level && m.find(text) != std::string::npos;
    return n;
  }
};

Instance instance(const std::string& sop, const std::string& modality,
                  const std::string& study = "1.2.9", const std::string& series = "") {
  return {{"SOPInstanceUID", sop},
          {"SOPClassUID", "1.2.840.10008.5.1.4.1.1.2"},
          {"StudyInstanceUID", study},
          {"SeriesInstanceUID", series.empty() ? study + ".1." + modality : series},
          {"PatientID", "P1"},
          {"PatientName", "DOE^JOHN"},
          {"Modality", modality},
          {"StudyDescription", "HEAD ROUTINE"},
          {"StudyDate", "20240301"}};
}

InstanceEvent event_of(const Instance& i, const std::string& calling = "MOD1") {
  InstanceEvent e;
  e.sop_instance_uid = i.at("SOPInstanceUID");
  e.sop_class_uid = i.at("SOPClassUID");
  e.study_instance_uid = i.at("StudyInstanceUID");
  e.series_instance_uid = i.at("SeriesInstanceUID");
  e.patient_id = i.at("PatientID");
  e.calling_aet = calling;
  e.called_aet = "OSSA";
  return e;
}

// The attribute reader of on_received over a fake instance.
ossa::routing::AttributeReader reader(const Instance& i) {
  return [i](uint32_t tag) -> std::optional<std::string> {
    const auto info = ossa::routing::attribute_by_tag(tag);
    const auto it = i.find(info.keyword);
    if (it == i.end()) return std::nullopt;
    return it->second;
  };
}

RoutingConfig config(const std::string& json_text, const std::string& state_dir = "") {
  RoutingConfig cfg;
  std::string error;
  EXPECT_TRUE(ossa::routing::parse_config(json_text, cfg, error)) << error;
  cfg.state_dir = state_dir;
  return cfg;
}

const char* kCtRule = R"({"rules": [
  {"name": "CT", "when": {"Modality": "CT", "StudyDescription": "*HEAD*"},
   "forward_to": ["ARCHIVE", "VIEWER"]},
  {"name": "MR", "when": {"Modality": "MR", "calling_aet": "MOD1"}, "forward_to": "ARCHIVE"}]})";

void receive_and_store(Router& r, FakeHost& host, const Instance& i,
                       const std::string& calling = "MOD1") {
  host.index.push_back(i);
  r.on_received(event_of(i, calling), reader(i));
  ASSERT_TRUE(r.on_stored(event_of(i, calling)));
}

TEST(Router, DecidesOnReceivedAndQueuesOnStored) {
  FakeHost host;
  Router r(config(kCtRule), host);
  ASSERT_TRUE(r.start(std::nullopt));
  EXPECT_TRUE(r.wants_received());
  EXPECT_TRUE(r.wants_stored());
  EXPECT_FALSE(r.wants_stable());

  const Instance ct = instance("1.1", "CT");
  host.index.push_back(ct);
  r.on_received(event_of(ct), reader(ct));
  EXPECT_TRUE(host.jobs.empty());  // nothing before the instance is durable
  EXPECT_EQ(r.pending_decisions(), 1u);
  ASSERT_TRUE(r.on_stored(event_of(ct)));
  ASSERT_EQ(host.jobs.size(), 2u);
  EXPECT_EQ(host.jobs[0].node, "ARCHIVE");
  EXPECT_EQ(host.jobs[0].level, "IMAGE");
  EXPECT_EQ(host.jobs[0].keys, "1.1");
  EXPECT_EQ(host.jobs[1].node, "VIEWER");
  EXPECT_EQ(r.pending_decisions(), 0u);
  EXPECT_EQ(host.count(LogLevel::kInfo, "rule 'CT': instance 1.1 -> ARCHIVE: send job 1"), 1u);
  EXPECT_TRUE(host.queries.empty());  // the decision came from on_received

  receive_and_store(r, host, instance("1.2", "MR"), "MOD1");
  receive_and_store(r, host, instance("1.3", "MR"), "MOD2");  // wrong sender
  receive_and_store(r, host, instance("1.4", "US"));
  ASSERT_EQ(host.jobs.size(), 3u);
  EXPECT_EQ(host.jobs[2].keys, "1.2");
  EXPECT_TRUE(host.queries.empty());
  EXPECT_EQ(r.pending_decisions(), 0u);
}

TEST(Router, RedeliveryAsksTheHostAgainWhichQueuesNothingTwice) {
  // An instance's forwards are left to the host's idempotent queue (a record of the plugin's own
  // could reach the disk before the host's job and hide it after a crash).
  TempDir state;
  FakeHost host;
  const Instance ct = instance("1.1", "CT");
  {
    Router r(config(kCtRule, state.str()), host);
    ASSERT_TRUE(r.start(std::nullopt));
    receive_and_store(r, host, ct);
    ASSERT_EQ(host.jobs.size(), 2u);
    // The same event again in this run (no decision left in memory: re-made from the index).
    ASSERT_TRUE(r.on_stored(event_of(ct)));
    EXPECT_EQ(host.requests, 4u);
    EXPECT_EQ(host.jobs.size(), 2u);
    EXPECT_EQ(host.count(LogLevel::kInfo, "already queued before"), 0u);
  }
  // After a restart: the same.
  Router again(config(kCtRule, state.str()), host);
  ASSERT_TRUE(again.start(std::nullopt));
  ASSERT_TRUE(again.on_stored(event_of(ct)));
  EXPECT_EQ(host.requests, 6u);
  EXPECT_EQ(host.jobs.size(), 2u);
}

TEST(Router, AfterARestartTheDecisionIsRemadeFromTheIndex) {
  TempDir state;
  FakeHost host;
  const Instance ct = instance("1.1", "CT"), us = instance("1.2", "US");
  const Instance mr = instance("1.3", "MR");
  host.index = {ct, us, mr};
  {
    Router r(config(kCtRule, state.str()), host);
    ASSERT_TRUE(r.start(std::nullopt));
    r.on_received(event_of(ct), reader(ct));
    r.on_received(event_of(us), reader(us));
    r.on_received(event_of(mr), reader(mr));
    // stopped before on_stored
  }
  Router r(config(kCtRule, state.str()), host);
  ASSERT_TRUE(r.start(std::nullopt));
  ASSERT_TRUE(r.on_stored(event_of(ct)));
  ASSERT_TRUE(r.on_stored(event_of(us)));
  ASSERT_TRUE(r.on_stored(event_of(mr, "MOD1")));
  ASSERT_EQ(host.jobs.size(), 3u);
  EXPECT_EQ(host.jobs[0].keys, "1.1");
  EXPECT_EQ(host.jobs[1].keys, "1.1");
  EXPECT_EQ(host.jobs[2].keys, "1.3");  // calling_aet comes from the event (the change log)
  EXPECT_EQ(host.count(LogLevel::kInfo, "decided again from the index"), 3u);
  // Modality is a series attribute, StudyDescription a study one: at most two queries each.
  ASSERT_FALSE(host.queries.empty());
  for (const json& q : host.queries) {
    EXPECT_TRUE(q["level"] == "STUDY" || q["level"] == "SERIES") << q.dump();
    EXPECT_TRUE(q["keys"].contains("StudyInstanceUID"));
  }
}

TEST(Router, IndexFailureIsReportedAndAbsentInstanceIsSkipped) {
  FakeHost host;
  Router r(config(kCtRule), host);
  ASSERT_TRUE(r.start(std::nullopt));
  const Instance ct = instance("1.1", "CT");
  host.index_down = true;
  EXPECT_FALSE(r.on_stored(event_of(ct)));
  host.index_down = false;
  EXPECT_TRUE(r.on_stored(event_of(ct)));  // not in the index (deleted since)
  EXPECT_TRUE(host.jobs.empty());
  EXPECT_EQ(host.count(LogLevel::kWarning, "no longer in the index"), 1u);
}

TEST(Router, UnknownNodeIsLoggedAndNotRecorded) {
  TempDir state;
  FakeHost host;
  host.nodes = {"ARCHIVE"};
  Router r(config(kCtRule, state.str()), host);
  ASSERT_TRUE(r.start(std::vector<std::string>{"ARCHIVE"}));
  EXPECT_EQ(host.count(LogLevel::kWarning, "forwards to 'VIEWER', which is not a node"), 1u);
  receive_and_store(r, host, instance("1.1", "CT"));
  ASSERT_EQ(host.jobs.size(), 1u);
  EXPECT_EQ(host.count(LogLevel::kWarning, "-> VIEWER: no such node"), 1u);
  // Once the node exists, a redelivered event is forwarded there (and only there).
  host.nodes.push_back("VIEWER");
  ASSERT_TRUE(r.on_stored(event_of(instance("1.1", "CT"))));
  ASSERT_EQ(host.jobs.size(), 2u);
  EXPECT_EQ(host.jobs[1].node, "VIEWER");
}

TEST(Router, PendingDecisionsAreBounded) {
  FakeHost host;
  RoutingConfig cfg = config(kCtRule);
  cfg.pending_capacity = 10;
  Router r(std::move(cfg), host);
  ASSERT_TRUE(r.start(std::nullopt));
  std::vector<Instance> all;
  for (int i = 0; i < 25; ++i) {
    all.push_back(instance("1." + std::to_string(i), "CT"));
    host.index.push_back(all.back());
    r.on_received(event_of(all.back()), reader(all.back()));
  }
  EXPECT_EQ(r.pending_decisions(), 10u);
  for (const Instance& i : all) ASSERT_TRUE(r.on_stored(event_of(i)));
  EXPECT_EQ(host.jobs.size(), 50u);  // evicted decisions were re-made from the index
  EXPECT_EQ(r.pending_decisions(), 0u);
}

TEST(Router, StableRulesSendTheStudyOncePerContent) {
  TempDir state;
  FakeHost host;
  const char* rules = R"({"rules": [
    {"name": "ct studies", "on": "stable", "when": {"Modality": "CT"}, "forward_to": "ARCHIVE"},
    {"name": "head", "on": "stable", "when": {"StudyDescription": "*HEAD*"},
     "forward_to": ["ARCHIVE", "VIEWER"]},
    {"name": "sr", "on": "stable", "when": {"SOPClassUID": "1.2.840.10008.5.1.4.1.1.88.*"},
     "forward_to": "VIEWER"}]})";
  Router r(config(rules, state.str()), host);
  ASSERT_TRUE(r.start(std::nullopt));
  EXPECT_FALSE(r.wants_received());
  EXPECT_FALSE(r.wants_stored());
  EXPECT_TRUE(r.wants_stable());
  host.index = {instance("1.1", "MR", "9.1"), instance("1.2", "CT", "9.1"),
                instance("2.1", "US", "9.2")};
  host.index[2]["StudyDescription"] = "ABDOMEN";
  ASSERT_TRUE(r.on_stable("STUDY", "9.1"));
  ASSERT_EQ(host.jobs.size(), 2u);
  EXPECT_EQ(host.jobs[0].node, "ARCHIVE");
  EXPECT_EQ(host.jobs[0].level, "STUDY");
  EXPECT_EQ(host.jobs[0].keys, "9.1");
  EXPECT_EQ(host.jobs[1].node, "VIEWER");
  EXPECT_EQ(host.count(LogLevel::kInfo,
                       "rules 'ct studies', 'head': stable study 9.1 (2 "
                       "instances) -> ARCHIVE: send job 1"),
            1u);
  ASSERT_TRUE(r.on_stable("STUDY", "9.2"));   // no rule
  ASSERT_TRUE(r.on_stable("SERIES", "9.1"));  // series events are not routed
  EXPECT_EQ(host.jobs.size(), 2u);
  // The same study stable again with the same instances: not again (a redelivered event).
  ASSERT_TRUE(r.on_stable("STUDY", "9.1"));
  EXPECT_EQ(host.jobs.size(), 2u);
  // New instances arrived: the study goes again.
  host.index.push_back(instance("1.3", "CT", "9.1"));
  ASSERT_TRUE(r.on_stable("STUDY", "9.1"));
  EXPECT_EQ(host.jobs.size(), 4u);
  // An instance-level key reads the instances.
  Instance sr = instance("3.1", "SR", "9.3");
  sr["SOPClassUID"] = "1.2.840.10008.5.1.4.1.1.88.22";
  sr["StudyDescription"] = "REPORT";
  host.index.push_back(sr);
  ASSERT_TRUE(r.on_stable("STUDY", "9.3"));
  ASSERT_EQ(host.jobs.size(), 5u);
  EXPECT_EQ(host.jobs[4].node, "VIEWER");
  ASSERT_TRUE(r.on_stable("STUDY", "9.404"));  // gone
  EXPECT_EQ(host.jobs.size(), 5u);
}

TEST(Router, StableRuleWithAeTitlesUsesTheSendersSeenOnStored) {
  FakeHost host;
  const char* rules = R"({"rules": [
    {"name": "from MOD1", "on": "stable", "when": {"calling_aet": "MOD1"},
     "forward_to": "ARCHIVE"}]})";
  Router r(config(rules), host);
  ASSERT_TRUE(r.start(std::nullopt));
  EXPECT_FALSE(r.wants_received());
  EXPECT_TRUE(r.wants_stored());
  const Instance a = instance("1.1", "CT", "9.1"), b = instance("2.1", "CT", "9.2");
  host.index = {a, b};
  ASSERT_TRUE(r.on_stored(event_of(a, "MOD1")));
  ASSERT_TRUE(r.on_stored(event_of(b, "MOD2")));
  EXPECT_TRUE(host.jobs.empty());
  ASSERT_TRUE(r.on_stable("STUDY", "9.1"));
  ASSERT_TRUE(r.on_stable("STUDY", "9.2"));
  ASSERT_EQ(host.jobs.size(), 1u);
  EXPECT_EQ(host.jobs[0].keys, "9.1");
}

TEST(Router, StateDirThatCannotBeCreatedFailsTheStart) {
  FakeHost host;
  Router r(config(kCtRule, "/proc/ossa-routing-cannot-exist"), host);
  EXPECT_FALSE(r.start(std::nullopt));
  EXPECT_EQ(host.count(LogLevel::kError, "state dir"), 1u);
}

}  // namespace
