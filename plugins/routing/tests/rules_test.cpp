// The routing rule engine: configuration parsing and matching (exact, wildcards, ranges, lists,
// person names, AE titles, AND across keys, stable-study matching).

#include "rules.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace {

using ossa::routing::Condition;
using ossa::routing::fold_person_name;
using ossa::routing::matches_study;
using ossa::routing::parse_condition;
using ossa::routing::parse_config;
using ossa::routing::RoutingConfig;
using ossa::routing::Rule;
using ossa::routing::StudyFacts;
using ossa::routing::Trigger;
using ossa::routing::wildcard_match;

constexpr uint32_t kModality = 0x00080060;
constexpr uint32_t kStudyDescription = 0x00081030;
constexpr uint32_t kStudyDate = 0x00080020;
constexpr uint32_t kBodyPart = 0x00180015;
constexpr uint32_t kSopClass = 0x00080016;
constexpr uint32_t kPatientName = 0x00100010;

Condition cond(const std::string& key, const std::string& value_json) {
  Condition c;
  std::string error;
  EXPECT_TRUE(parse_condition(key, value_json, c, error)) << key << ": " << error;
  return c;
}

bool m(const Condition& c, const char* value) {
  if (value == nullptr) return c.matches(nullptr);
  const std::string v(value);
  return c.matches(&v);
}

std::string parse_error(const std::string& json) {
  RoutingConfig cfg;
  std::string error;
  EXPECT_FALSE(parse_config(json, cfg, error)) << json;
  return error;
}

RoutingConfig parse_ok(const std::string& json) {
  RoutingConfig cfg;
  std::string error;
  EXPECT_TRUE(parse_config(json, cfg, error)) << error;
  return cfg;
}

TEST(RoutingWildcard, StarAndQuestionMark) {
  EXPECT_TRUE(wildcard_match("*", ""));
  EXPECT_TRUE(wildcard_match("*", "anything"));
  EXPECT_TRUE(wildcard_match("*HEAD*", "CT HEAD W/O"));
  EXPECT_TRUE(wildcard_match("*HEAD*", "HEAD"));
  EXPECT_FALSE(wildcard_match("*HEAD*", "CT HEA D"));
  EXPECT_TRUE(wildcard_match("C?", "CT"));
  EXPECT_FALSE(wildcard_match("C?", "C"));
  EXPECT_FALSE(wildcard_match("C?", "CTX"));
  EXPECT_TRUE(wildcard_match("a*b*c", "a__b__b__c"));
  EXPECT_FALSE(wildcard_match("a*b*c", "a__b__b__"));
  EXPECT_TRUE(wildcard_match("**x", "x"));
  // ? is one character, not one byte
  EXPECT_TRUE(wildcard_match("M?LLER", "MÜLLER"));
  EXPECT_FALSE(wildcard_match("M??LLER", "MÜLLER"));
}

TEST(RoutingMatch, ExactIsCaseSensitiveAndTrimmed) {
  const Condition c = cond("Modality", "\"CT\"");
  EXPECT_TRUE(m(c, "CT"));
  EXPECT_TRUE(m(c, "CT "));
  EXPECT_FALSE(m(c, "ct"));
  EXPECT_FALSE(m(c, "CTX"));
  EXPECT_FALSE(m(c, nullptr));
  EXPECT_FALSE(m(c, ""));
}

TEST(RoutingMatch, WildcardOnText) {
  const Condition c = cond("StudyDescription", "\"*HEAD*\"");
  EXPECT_TRUE(m(c, "CT HEAD"));
  EXPECT_TRUE(m(c, "HEAD^ROUTINE"));
  EXPECT_FALSE(m(c, "CT head"));
  EXPECT_FALSE(m(c, "CT CHEST"));
  EXPECT_FALSE(m(c, nullptr));
}

TEST(RoutingMatch, StarMatchesAbsentAndEmptyMatchesOnlyAbsent) {
  const Condition any = cond("StudyDescription", "\"*\"");
  EXPECT_TRUE(m(any, nullptr));
  EXPECT_TRUE(m(any, ""));
  EXPECT_TRUE(m(any, "X"));
  const Condition none = cond("StudyDescription", "\"\"");
  EXPECT_TRUE(m(none, nullptr));
  EXPECT_TRUE(m(none, "  "));
  EXPECT_FALSE(m(none, "X"));
}

TEST(RoutingMatch, ListIsAnyOf) {
  const Condition c = cond("(0018,0015)", "[\"HEAD\", \"BRAIN\"]");
  EXPECT_EQ(c.attribute.tag, kBodyPart);
  EXPECT_EQ(c.query_key(), "BodyPartExamined");
  EXPECT_TRUE(m(c, "HEAD"));
  EXPECT_TRUE(m(c, "BRAIN"));
  EXPECT_FALSE(m(c, "CHEST"));
  const Condition w = cond("Modality", "[\"C?\", \"MR\"]");
  EXPECT_TRUE(m(w, "CT"));
  EXPECT_TRUE(m(w, "CR"));
  EXPECT_TRUE(m(w, "MR"));
  EXPECT_FALSE(m(w, "PT"));
}

TEST(RoutingMatch, MultiValuedAttributeMatchesOneOfItsValues) {
  const Condition c = cond("ImageType", "\"DERIVED\"");
  EXPECT_TRUE(m(c, "DERIVED\\SECONDARY"));
  EXPECT_TRUE(m(c, "ORIGINAL\\DERIVED"));
  EXPECT_FALSE(m(c, "ORIGINAL\\PRIMARY"));
  const Condition whole = cond("ImageType", "\"ORIGINAL\\\\PRIMARY\"");
  EXPECT_TRUE(m(whole, "ORIGINAL\\PRIMARY"));
}

TEST(RoutingMatch, PersonNamesIgnoreCaseAndTrailingComponents) {
  const Condition c = cond("PatientName", "\"doe^john\"");
  EXPECT_EQ(c.attribute.tag, kPatientName);
  EXPECT_TRUE(m(c, "DOE^JOHN"));
  EXPECT_TRUE(m(c, "Doe^John^^^"));
  EXPECT_TRUE(m(c, "DOE^JOHN="));
  EXPECT_FALSE(m(c, "DOE^JANE"));
  const Condition w = cond("PatientName", "\"müller*\"");
  EXPECT_TRUE(m(w, "MÜLLER^HANS"));
  EXPECT_TRUE(m(w, "Müller"));
  EXPECT_FALSE(m(w, "MULLER^HANS"));
  const Condition greek = cond("ReferringPhysicianName", "\"ΓΙΏΡΓΟΣ*\"");
  EXPECT_TRUE(m(greek, "γιώργος^X"));
  const Condition cyr = cond("PatientName", "\"иванов\"");
  EXPECT_TRUE(m(cyr, "ИВАНОВ"));
  EXPECT_EQ(fold_person_name("Łukasz^Żółć^^"), "ŁUKASZ^ŻÓŁĆ");
  // Other text stays case-sensitive.
  EXPECT_FALSE(m(cond("StationName", "\"ct1\""), "CT1"));
}

TEST(RoutingMatch, DateRanges) {
  const Condition from = cond("StudyDate", "\"20240101-\"");
  EXPECT_TRUE(m(from, "20240101"));
  EXPECT_TRUE(m(from, "20251231"));
  EXPECT_FALSE(m(from, "20231231"));
  EXPECT_FALSE(m(from, nullptr));
  EXPECT_FALSE(m(from, ""));
  const Condition until = cond("StudyDate", "\"-20231231\"");
  EXPECT_TRUE(m(until, "20231231"));
  EXPECT_FALSE(m(until, "20240101"));
  const Condition between = cond("StudyDate", "\"20240101-20240131\"");
  EXPECT_TRUE(m(between, "20240115"));
  EXPECT_TRUE(m(between, "20240131"));
  EXPECT_FALSE(m(between, "20240201"));
  EXPECT_TRUE(m(between, "2024.01.15"));  // ACR-NEMA form
  // Partial bounds are widened.
  const Condition year = cond("SeriesDate", "\"2024-2024\"");
  EXPECT_TRUE(m(year, "20240101"));
  EXPECT_TRUE(m(year, "20241231"));
  EXPECT_FALSE(m(year, "20250101"));
  // A single date is an exact match, wildcards allowed.
  EXPECT_TRUE(m(cond("StudyDate", "\"20240101\""), "20240101"));
  EXPECT_TRUE(m(cond("StudyDate", "\"202401*\""), "20240131"));
  // Numbers (YAML without quotes) are read back as text.
  EXPECT_TRUE(m(cond("StudyDate", "20240101"), "20240101"));
  EXPECT_TRUE(m(cond("SeriesNumber", "[1, 2]"), "2"));
}

TEST(RoutingMatch, TimeAndDateTimeRanges) {
  const Condition morning = cond("StudyTime", "\"0700-1159\"");
  EXPECT_TRUE(m(morning, "070000"));
  EXPECT_TRUE(m(morning, "115959.999"));
  EXPECT_TRUE(m(morning, "0930"));
  EXPECT_TRUE(m(morning, "10:30:00"));
  EXPECT_FALSE(m(morning, "120000"));
  EXPECT_FALSE(m(morning, "065959"));
  const Condition dt = cond("AcquisitionDateTime", "\"20240101120000-20240102\"");
  EXPECT_TRUE(m(dt, "20240101120000"));
  EXPECT_TRUE(m(dt, "20240102235959.5"));
  EXPECT_TRUE(m(dt, "20240101130000+0100"));  // offset ignored
  EXPECT_FALSE(m(dt, "20240101115959"));
  EXPECT_FALSE(m(dt, "20240103"));
  // Any key named ...Date / ...Time of the table is a date / time.
  const Condition pps = cond("PerformedProcedureStepStartDate", "\"-20000101\"");
  EXPECT_TRUE(m(pps, "19991231"));
}

TEST(RoutingMatch, BadPatterns) {
  Condition c;
  std::string error;
  EXPECT_FALSE(parse_condition("StudyDate", "\"2024*-2025\"", c, error));
  EXPECT_FALSE(parse_condition("StudyDate", "\"-\"", c, error));
  EXPECT_FALSE(parse_condition("StudyDate", "\"20250101-20240101\"", c, error));
  EXPECT_NE(error.find("empty range"), std::string::npos) << error;
  EXPECT_FALSE(parse_condition("StudyDate", "\"2024013-\"", c, error));
  EXPECT_FALSE(parse_condition("AcquisitionDateTime", "\"20240101+0100-\"", c, error));
  EXPECT_FALSE(parse_condition("Modality", "[]", c, error));
  EXPECT_FALSE(parse_condition("Modality", "true", c, error));
  EXPECT_FALSE(parse_condition("Modality", "{\"a\": 1}", c, error));
  EXPECT_FALSE(parse_condition("NoSuchKeyword", "\"x\"", c, error));
  EXPECT_NE(error.find("unknown key"), std::string::npos);
  EXPECT_FALSE(parse_condition("(0018,15)", "\"x\"", c, error));
  // A dash is literal for keys that are not dates.
  EXPECT_TRUE(m(cond("StationName", "\"CT-1\""), "CT-1"));
}

TEST(RoutingMatch, AeTitles) {
  const Condition calling = cond("calling_aet", "[\"MODALITY1\", \"CT*\"]");
  EXPECT_TRUE(calling.is_event_key());
  EXPECT_TRUE(m(calling, "MODALITY1"));
  EXPECT_TRUE(m(calling, "CT_SCANNER"));
  EXPECT_FALSE(m(calling, "MR1"));
}

TEST(RoutingConfigParse, TheExampleOfTheDocumentation) {
  const RoutingConfig cfg = parse_ok(R"json({
    "state_dir": "/var/lib/ossa/routing",
    "rules": [
      {"name": "CT to archive",
       "when": {"Modality": "CT", "StudyDescription": "*HEAD*", "StudyDate": "20240101-",
                "calling_aet": "MODALITY1", "called_aet": "OSSA",
                "(0018,0015)": ["HEAD", "BRAIN"]},
       "forward_to": ["ARCHIVE2", "VIEWER"], "on": "received"},
      {"name": "all to backup", "forward_to": "BACKUP", "on": "stable"}
    ]})json");
  ASSERT_EQ(cfg.rules.size(), 2u);
  EXPECT_EQ(cfg.state_dir, "/var/lib/ossa/routing");
  const Rule& r = cfg.rules[0];
  EXPECT_EQ(r.name, "CT to archive");
  EXPECT_EQ(r.on, Trigger::kReceived);
  EXPECT_EQ(r.when.size(), 6u);
  EXPECT_EQ(r.forward_to, (std::vector<std::string>{"ARCHIVE2", "VIEWER"}));
  EXPECT_EQ(cfg.rules[1].on, Trigger::kStable);
  EXPECT_TRUE(cfg.rules[1].when.empty());
  EXPECT_EQ(cfg.rules[1].forward_to, (std::vector<std::string>{"BACKUP"}));

  std::map<uint32_t, std::string> a = {{kModality, "CT"},
                                       {kStudyDescription, "CT HEAD"},
                                       {kStudyDate, "20240301"},
                                       {kBodyPart, "BRAIN"}};
  EXPECT_TRUE(r.matches(a, "MODALITY1", "OSSA"));
  EXPECT_FALSE(r.matches(a, "MODALITY2", "OSSA"));  // AND across keys
  EXPECT_FALSE(r.matches(a, "MODALITY1", "OTHER"));
  a[kBodyPart] = "CHEST";
  EXPECT_FALSE(r.matches(a, "MODALITY1", "OSSA"));
  a[kBodyPart] = "HEAD";
  a[kStudyDate] = "20231231";
  EXPECT_FALSE(r.matches(a, "MODALITY1", "OSSA"));
  // A rule without `when` matches everything.
  EXPECT_TRUE(cfg.rules[1].matches({}, "", ""));
}

TEST(RoutingConfigParse, DefaultsAndOptions) {
  const RoutingConfig empty = parse_ok("{}");
  EXPECT_TRUE(empty.rules.empty());
  EXPECT_EQ(empty.state_dir, "");
  EXPECT_TRUE(empty.fsync);
  const RoutingConfig cfg = parse_ok(
      R"({"rules": [{"forward_to": "X"}], "pending_capacity": 10, "state_max_records": 5,
          "fsync": false})");
  EXPECT_EQ(cfg.rules[0].name, "rule 1");
  EXPECT_EQ(cfg.rules[0].on, Trigger::kReceived);
  EXPECT_EQ(cfg.pending_capacity, 10u);
  EXPECT_EQ(cfg.state_max_records, 5u);
  EXPECT_FALSE(cfg.fsync);
  // Duplicate destinations collapse.
  EXPECT_EQ(parse_ok(R"({"rules": [{"forward_to": ["A", "B", "A"]}]})").rules[0].forward_to.size(),
            2u);
}

TEST(RoutingConfigParse, ErrorsNameTheProblem) {
  EXPECT_NE(parse_error("not json").find("not JSON"), std::string::npos);
  EXPECT_NE(parse_error("[]").find("expected an object"), std::string::npos);
  EXPECT_NE(parse_error(R"({"rulez": []})").find("unknown key 'rulez'"), std::string::npos);
  EXPECT_NE(parse_error(R"({"rules": {}})").find("rules: expected a list"), std::string::npos);
  EXPECT_NE(parse_error(R"({"rules": [{"name": "a"}]})").find("forward_to"), std::string::npos);
  EXPECT_NE(parse_error(R"({"rules": [{"forward_to": []}]})").find("forward_to"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"rules": [{"forward_to": "X", "on": "later"}]})").find("rules[0].on"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"rules": [{"forward_to": "X", "when": {"Modalty": "CT"}}]})")
                .find("unknown key 'Modalty'"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"rules": [{"forward_to": "X", "wen": {}}]})").find("unknown key 'wen'"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"rules": [{"name": "a", "forward_to": "X"},
                                      {"name": "a", "forward_to": "Y"}]})")
                .find("two rules"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"pending_capacity": 0})").find("pending_capacity"), std::string::npos);
  EXPECT_NE(parse_error(R"({"fsync": "yes"})").find("fsync"), std::string::npos);
}

TEST(RoutingStudyMatch, LevelsOfAStableRule) {
  const RoutingConfig cfg = parse_ok(R"({"rules": [
    {"name": "ct head", "on": "stable", "forward_to": "A",
     "when": {"Modality": "CT", "StudyDescription": "*HEAD*", "BodyPartExamined": "HEAD"}},
    {"name": "sr", "on": "stable", "forward_to": "B",
     "when": {"Modality": "SR", "SOPClassUID": "1.2.840.10008.5.1.4.1.1.88.*"}},
    {"name": "from modality", "on": "stable", "forward_to": "C",
     "when": {"calling_aet": "MOD1", "called_aet": "OSSA"}}]})");
  StudyFacts s;
  s.study[kStudyDescription] = "CT HEAD";
  StudyFacts::Series ct;
  ct.attributes = {{kModality, "CT"}, {kBodyPart, "CHEST"}};
  StudyFacts::Series ct2;
  ct2.attributes = {{kModality, "CT"}, {kBodyPart, "HEAD"}};
  StudyFacts::Series sr;
  sr.attributes = {{kModality, "SR"}};
  sr.instances = {{{kSopClass, "1.2.840.10008.5.1.4.1.1.7"}},
                  {{kSopClass, "1.2.840.10008.5.1.4.1.1.88.22"}}};
  s.series = {ct};
  EXPECT_FALSE(matches_study(cfg.rules[0], s));  // the CT series is not HEAD
  s.series = {ct, ct2};
  EXPECT_TRUE(matches_study(cfg.rules[0], s));  // one series matches all series keys
  StudyFacts::Series mixed;  // Modality of one series and body part of another is not enough
  mixed.attributes = {{kModality, "MR"}, {kBodyPart, "HEAD"}};
  s.series = {ct, mixed};
  EXPECT_FALSE(matches_study(cfg.rules[0], s));
  s.series = {ct, sr};
  EXPECT_TRUE(matches_study(cfg.rules[1], s));
  sr.instances.pop_back();
  s.series = {ct, sr};
  EXPECT_FALSE(matches_study(cfg.rules[1], s));
  EXPECT_FALSE(matches_study(cfg.rules[2], s));  // senders unknown
  s.senders = {{"MOD2", "OSSA"}, {"MOD1", "OTHER"}};
  EXPECT_FALSE(matches_study(cfg.rules[2], s));  // both keys must hold for one sender
  s.senders.push_back({"MOD1", "OSSA"});
  EXPECT_TRUE(matches_study(cfg.rules[2], s));
}

}  // namespace
