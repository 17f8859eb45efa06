// EmrLookup's decisions (cache, back-off, policy, coercion) over a scripted source: the real
// sources are exercised against a real HTTP server and a real PostgreSQL in
// tests/integration/test_emr_lookup.py.
#include "emr_lookup.h"

#include <gtest/gtest.h>

#include <map>
#include <vector>

namespace ossa::emr {
namespace {

using namespace std::chrono_literals;

// Answers from a table; counts the questions.
class ScriptedSource final : public EmrSource {
 public:
  std::map<std::string, LookupResult> answers;
  int requests = 0;
  LookupResult lookup(const PatientKey& key, std::chrono::milliseconds) override {
    ++requests;
    const auto it = answers.find(key.cache_key());
    return it != answers.end() ? it->second : LookupResult::unreachable("no answer scripted");
  }
  std::string describe() const override { return "scripted"; }
};

struct Instance {
  std::map<uint32_t, std::string> values;
  std::vector<uint32_t> set_tags;
  DatasetAccess access() {
    return {[this](uint32_t tag) -> std::optional<std::string> {
              const auto it = values.find(tag);
              if (it == values.end()) return std::nullopt;
              return it->second;
            },
            [this](uint32_t tag, const std::string& value) {
              values[tag] = value;
              set_tags.push_back(tag);
            }};
  }
};

struct Fixture {
  std::chrono::steady_clock::time_point now{};
  ScriptedSource* source = nullptr;
  std::vector<std::string> warnings;
  std::unique_ptr<EmrLookup> lookup;

  explicit Fixture(EmrConfig config) {
    auto s = std::make_unique<ScriptedSource>();
    source = s.get();
    lookup = std::make_unique<EmrLookup>(
        std::move(config), std::move(s),
        [this](LogLevel level, const std::string& m) {
          if (level == LogLevel::kWarning) warnings.push_back(m);
        },
        [this] { return now; });
  }
};

EmrConfig base_config() {
  EmrConfig c;
  c.retry_unreachable_after = 0ms;
  return c;
}

Demographics jane() {
  Demographics d;
  d.patient_name = "DOE^JANE";
  d.birth_date = "19700405";
  d.sex = "F";
  d.other_ids = {"A1", "B2"};
  return d;
}

PatientKey key(const std::string& id, const std::string& issuer = "") {
  return PatientKey{id, issuer};
}

TEST(EmrLookup, CoercesOnlyWhatDiffersAndAsksOncePerPatient) {
  Fixture f(base_config());
  f.source->answers[key("P1").cache_key()] = LookupResult::found(jane());
  Instance a;
  a.values = {
      {tags::kPatientId, "P1"}, {tags::kPatientName, "WRONG^NAME"}, {tags::kPatientSex, "F"}};
  auto access = a.access();
  EXPECT_FALSE(f.lookup->on_received(access, "1.1"));
  EXPECT_EQ(a.values[tags::kPatientName], "DOE^JANE");
  EXPECT_EQ(a.values[tags::kPatientBirthDate], "19700405");
  EXPECT_EQ(a.values[tags::kOtherPatientIds], "A1\\B2");
  EXPECT_EQ(a.set_tags, (std::vector<uint32_t>{tags::kPatientName, tags::kPatientBirthDate,
                                               tags::kOtherPatientIds}));  // sex was right
  Instance b;
  b.values = {{tags::kPatientId, "P1"}};
  auto access_b = b.access();
  EXPECT_FALSE(f.lookup->on_received(access_b, "1.2"));
  EXPECT_EQ(b.values[tags::kPatientName], "DOE^JANE");
  EXPECT_EQ(f.source->requests, 1);
  EXPECT_EQ(f.lookup->counters().cache_hits, 1u);
}

TEST(EmrLookup, UnknownPatientsAreStoredUnchangedAndCachedNegatively) {
  Fixture f(base_config());
  f.source->answers[key("P9").cache_key()] = LookupResult::not_found("none");
  for (int i = 0; i < 3; ++i) {
    Instance a;
    a.values = {{tags::kPatientId, "P9"}, {tags::kPatientName, "AS^SENT"}};
    auto access = a.access();
    EXPECT_FALSE(f.lookup->on_received(access, "1"));
    EXPECT_TRUE(a.set_tags.empty());
  }
  EXPECT_EQ(f.source->requests, 1);
}

TEST(EmrLookup, UnreachablePolicyStoresUnchangedOrRejects) {
  EmrConfig store = base_config();
  Fixture f(store);
  Instance a;
  a.values = {{tags::kPatientId, "P1"}, {tags::kPatientName, "AS^SENT"}};
  auto access = a.access();
  EXPECT_FALSE(f.lookup->on_received(access, "1"));
  EXPECT_TRUE(a.set_tags.empty());
  EXPECT_FALSE(f.warnings.empty());

  EmrConfig reject = base_config();
  reject.on_unreachable = UnreachablePolicy::kReject;
  reject.reject_status = 0xA701;
  Fixture g(reject);
  Instance b;
  b.values = {{tags::kPatientId, "P1"}};
  auto access_b = b.access();
  EXPECT_EQ(g.lookup->on_received(access_b, "1"), std::optional<uint16_t>(0xA701));
  // Nothing cached: the next instance asks again.
  EXPECT_EQ(g.lookup->on_received(access_b, "2"), std::optional<uint16_t>(0xA701));
  EXPECT_EQ(g.source->requests, 2);
  EXPECT_EQ(g.lookup->counters().rejected, 2u);
}

TEST(EmrLookup, AfterAnUnreachableAnswerTheEmrRestsForAWhile) {
  EmrConfig c = base_config();
  c.retry_unreachable_after = 5s;
  Fixture f(c);
  Instance a;
  a.values = {{tags::kPatientId, "P1"}};
  auto access = a.access();
  f.lookup->on_received(access, "1");
  f.lookup->on_received(access, "2");
  EXPECT_EQ(f.source->requests, 1);
  f.now += 6s;
  f.source->answers[key("P1").cache_key()] = LookupResult::found(jane());
  f.lookup->on_received(access, "3");
  EXPECT_EQ(f.source->requests, 2);
  EXPECT_EQ(a.values[tags::kPatientName], "DOE^JANE");
}

TEST(EmrLookup, IssuerIsPartOfTheKeyOnlyWhenConfigured) {
  EmrConfig c = base_config();
  c.use_issuer = true;
  Fixture f(c);
  f.source->answers[key("P1", "HOSP_A").cache_key()] = LookupResult::found(jane());
  Instance a;
  a.values = {{tags::kPatientId, "P1"}, {tags::kIssuerOfPatientId, "HOSP_A"}};
  auto access = a.access();
  f.lookup->on_received(access, "1");
  EXPECT_EQ(a.values[tags::kPatientName], "DOE^JANE");
  Instance b;
  b.values = {{tags::kPatientId, "P1"}, {tags::kIssuerOfPatientId, "HOSP_B"}};
  auto access_b = b.access();
  f.lookup->on_received(access_b, "2");
  EXPECT_EQ(b.values.count(tags::kPatientName), 0u);  // another issuer's P1: unknown here
}

TEST(EmrLookup, ConfiguredAttributesOnlyAndNoPatientIdNoQuestion) {
  EmrConfig c = base_config();
  c.coerce = CoercedAttributes{false, false, true, false};
  Fixture f(c);
  f.source->answers[key("P1").cache_key()] = LookupResult::found(jane());
  Instance a;
  a.values = {{tags::kPatientId, "P1"}, {tags::kPatientName, "KEEP^ME"}};
  auto access = a.access();
  f.lookup->on_received(access, "1");
  EXPECT_EQ(a.values[tags::kPatientName], "KEEP^ME");
  EXPECT_EQ(a.values[tags::kPatientSex], "F");
  Instance none;
  auto access_none = none.access();
  EXPECT_FALSE(f.lookup->on_received(access_none, "2"));
  EXPECT_EQ(f.source->requests, 1);
}

}  // namespace
}  // namespace ossa::emr
