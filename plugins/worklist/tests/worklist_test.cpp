#include "worklist.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace ossa::worklist {
namespace {

using Json = nlohmann::json;

class WorklistTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/ossa-worklist-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    config_.state_dir = (dir_ / "state").string();
    config_.expire_after_hours = 1;
    make();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void make() {
    worklist_ = std::make_unique<Worklist>(
        config_,
        [this](const std::string& query) -> std::optional<std::string> {
          queries_.push_back(query);
          return index_answer_;
        },
        [this](bool, const std::string& message) { logged_.push_back(message); },
        [this] { return now_; });
  }

  std::string add(const std::string& order, Json entry) {
    return worklist_->add(Json{{"order_id", order}, {"entry", entry}}.dump());
  }

  std::vector<Json> find(const Json& query) {
    std::vector<Json> answers;
    worklist_->find(query.dump(), [&](const std::string& a) {
      answers.push_back(Json::parse(a));
      return true;
    });
    return answers;
  }

  void add_three() {
    add("O1", {{"PatientName", "Doe^John"},
               {"PatientID", "P1"},
               {"AccessionNumber", "A1"},
               {"Modality", "CT"},
               {"ScheduledStationAETitle", "CT1"},
               {"ScheduledProcedureStepStartDate", "20260102"},
               {"ScheduledProcedureStepStartTime", "0900"},
               {"RequestedProcedureID", "RP1"},
               {"StudyInstanceUID", "1.2.3.1"}});
    add("O2", {{"PatientName", "Smith^Anna"},
               {"PatientID", "P2"},
               {"AccessionNumber", "A2"},
               {"Modality", "MR"},
               {"ScheduledStationAETitle", "MR1"},
               {"ScheduledProcedureStepStartDate", "20260103"},
               {"ScheduledProcedureStepStartTime", "1400"},
               {"RequestedProcedureID", "RP2"}});
    add("O3", {{"PatientName", "Doering^Max"},
               {"PatientID", "P3"},
               {"AccessionNumber", "A3"},
               {"Modality", "CT"},
               {"ScheduledStationAETitle", "CT2"},
               {"ScheduledProcedureStepStartDate", "20260110"},
               {"ScheduledProcedureStepStartTime", "1100"}});
  }

  static std::vector<std::string> ids(const std::vector<Json>& answers) {
    std::vector<std::string> out;
    for (const Json& a : answers) out.push_back(a.value("PatientID", "?"));
    return out;
  }

  std::filesystem::path dir_;
  WorklistConfig config_;
  std::unique_ptr<Worklist> worklist_;
  std::vector<std::string> queries_, logged_;
  std::optional<std::string> index_answer_ = std::string("[]");
  int64_t now_ = 1'800'000'000;
};

Json sps(Json item) {
  return Json::array({std::move(item)});
}

TEST_F(WorklistTest, AddReturnsIdsAndGeneratesTheStudyUid) {
  const Json r = Json::parse(add("O1", {{"PatientID", "P1"}}));
  EXPECT_EQ(r["order_id"], "O1");
  EXPECT_GT(r["id"].get<int64_t>(), 0);
  const std::string uid = r["StudyInstanceUID"];
  EXPECT_EQ(uid.rfind("2.25.", 0), 0u) << uid;
  EXPECT_LE(uid.size(), 64u);
  EXPECT_EQ(uid.find_first_not_of("0123456789.", 0), std::string::npos);
  EXPECT_NE(new_uid(), new_uid());
  const Json given = Json::parse(add("O2", {{"StudyInstanceUID", "1.2.3"}}));
  EXPECT_EQ(given["StudyInstanceUID"], "1.2.3");
}

TEST_F(WorklistTest, AddRefusesADuplicateOrderAndBadEntries) {
  add("O1", {{"PatientID", "P1"}});
  try {
    add("O1", {{"PatientID", "P9"}});
    FAIL() << "duplicate accepted";
  } catch (const MethodError& e) {
    EXPECT_EQ(e.kind(), MethodError::Kind::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("O1"), std::string::npos);
  }
  EXPECT_THROW(worklist_->add(R"({"entry":{}})"), MethodError);
  EXPECT_THROW(worklist_->add(R"({"order_id":"X","entry":{"PatientID":5}})"), MethodError);
  EXPECT_THROW(worklist_->add(R"({"order_id":"X","entry":{"bad key":"v"}})"), MethodError);
  EXPECT_THROW(worklist_->add(R"({"order_id":"X"})"), MethodError);
  EXPECT_THROW(worklist_->add("not json"), MethodError);
}

TEST_F(WorklistTest, UpdateRemoveAndList) {
  add_three();
  EXPECT_EQ(Json::parse(worklist_->update(
                R"({"order_id":"O2","entry":{"ScheduledStationAETitle":"MR9","PatientSex":"F"}})")),
            (Json{{"order_id", "O2"}, {"updated", true}}));
  try {
    worklist_->update(R"({"order_id":"NOPE","entry":{"PatientSex":"F"}})");
    FAIL();
  } catch (const MethodError& e) {
    EXPECT_EQ(e.kind(), MethodError::Kind::kNotFound);
  }
  const Json listed =
      Json::parse(worklist_->list(R"({"filter":{"ScheduledStationAETitle":"MR9"}})"));
  ASSERT_EQ(listed["entries"].size(), 1u);
  EXPECT_EQ(listed["entries"][0]["order_id"], "O2");
  EXPECT_EQ(listed["entries"][0]["PatientSex"], "F");
  EXPECT_EQ(listed["entries"][0]["status"], "SCHEDULED");
  EXPECT_EQ(listed["entries"][0]["created"], "2027-01-15T08:00:00Z");

  EXPECT_EQ(Json::parse(worklist_->remove(R"({"order_id":"O2","reason":"CA"})"))["removed"], 1);
  EXPECT_THROW(worklist_->remove(R"({"order_id":"O2"})"), MethodError);
  EXPECT_EQ(Json::parse(worklist_->list("{}"))["entries"].size(), 2u);
  // The order id is free again (a new order after a cancel).
  add("O2", {{"PatientID", "P2"}});
}

TEST_F(WorklistTest, FindMatchesOnTheStepAndThePatient) {
  add_three();
  EXPECT_EQ(
      ids(find({{"PatientID", ""},
                {"ScheduledProcedureStepSequence", sps({{"ScheduledStationAETitle", "CT1"}})}})),
      (std::vector<std::string>{"P1"}));
  EXPECT_EQ(ids(find({{"PatientID", ""},
                      {"ScheduledProcedureStepSequence",
                       sps({{"ScheduledProcedureStepStartDate", "20260101-20260105"}})}})),
            (std::vector<std::string>{"P1", "P2"}));
  EXPECT_EQ(
      ids(find({{"PatientID", ""},
                {"ScheduledProcedureStepSequence",
                 sps({{"Modality", "CT"}, {"ScheduledProcedureStepStartTime", "1000-1200"}})}})),
      (std::vector<std::string>{"P3"}));
  EXPECT_EQ(ids(find({{"PatientName", "doe*"}, {"PatientID", ""}})),
            (std::vector<std::string>{"P1", "P3"}));
  EXPECT_EQ(ids(find({{"AccessionNumber", "A2"}, {"PatientID", ""}})),
            (std::vector<std::string>{"P2"}));
  EXPECT_EQ(ids(find({{"RequestedProcedureID", "RP1"}, {"PatientID", ""}})),
            (std::vector<std::string>{"P1"}));
  // O3 has no Requested Procedure ID: a non-universal key does not match an absent value.
  EXPECT_EQ(ids(find({{"RequestedProcedureID", "RP*"}, {"PatientID", ""}})),
            (std::vector<std::string>{"P1", "P2"}));
  EXPECT_TRUE(find({{"PatientID", "P9"}}).empty());
}

TEST_F(WorklistTest, AnswersCarryExactlyTheRequestedKeys) {
  add_three();
  const auto answers = find({{"PatientID", "P1"},
                             {"PatientName", ""},
                             {"PatientBirthDate", ""},
                             {"StudyInstanceUID", ""},
                             {"ReferencedStudySequence", Json::array()},
                             {"ScheduledProcedureStepSequence",
                              sps({{"Modality", ""},
                                   {"ScheduledStationAETitle", ""},
                                   {"ScheduledProcedureStepStatus", ""},
                                   {"ScheduledProtocolCodeSequence", Json::array()}})}});
  ASSERT_EQ(answers.size(), 1u);
  const Json expected = {
      {"PatientID", "P1"},
      {"PatientName", "Doe^John"},
      {"PatientBirthDate", ""},
      {"StudyInstanceUID", "1.2.3.1"},
      {"ReferencedStudySequence", Json::array()},
      {"ScheduledProcedureStepSequence", sps({{"Modality", "CT"},
                                              {"ScheduledStationAETitle", "CT1"},
                                              {"ScheduledProcedureStepStatus", "SCHEDULED"},
                                              {"ScheduledProtocolCodeSequence", Json::array()}})}};
  EXPECT_EQ(answers[0], expected);
  // An empty sequence key asks for the whole step.
  const auto whole = find({{"PatientID", "P1"}, {"ScheduledProcedureStepSequence", Json::array()}});
  ASSERT_EQ(whole.size(), 1u);
  const Json item = whole[0]["ScheduledProcedureStepSequence"][0];
  EXPECT_EQ(item["ScheduledProcedureStepStartDate"], "20260102");
  EXPECT_EQ(item["ScheduledProcedureStepStartTime"], "0900");
  EXPECT_FALSE(item.contains("PatientName"));
}

TEST_F(WorklistTest, FindStopsWhenTheRequesterCancels) {
  add_three();
  int sent = 0;
  worklist_->find(R"({"PatientID":""})", [&](const std::string&) { return ++sent < 2; });
  EXPECT_EQ(sent, 2);
  EXPECT_THROW(worklist_->find("[1]", [](const std::string&) { return true; }), std::exception);
}

TEST_F(WorklistTest, AStableStudyCompletesItsEntryByUidOrAccession) {
  add_three();
  index_answer_ = R"([{"StudyInstanceUID":"1.2.3.1","AccessionNumber":""}])";
  worklist_->study_stable("1.2.3.1");
  index_answer_ = R"([{"StudyInstanceUID":"9.9","AccessionNumber":"A2"}])";
  worklist_->study_stable("9.9");
  ASSERT_EQ(queries_.size(), 2u);
  EXPECT_EQ(Json::parse(queries_[1])["keys"]["StudyInstanceUID"], "9.9");
  EXPECT_EQ(ids(find({{"PatientID", ""}})), (std::vector<std::string>{"P3"}));
  const Json listed = Json::parse(worklist_->list(R"({"filter":{"PatientID":"P2"}})"));
  EXPECT_EQ(listed["entries"][0]["status"], "COMPLETED");
  // An unrelated study completes nothing; a failed index query still completes by UID.
  index_answer_ = std::nullopt;
  worklist_->study_stable("7.7");
  EXPECT_EQ(ids(find({{"PatientID", ""}})), (std::vector<std::string>{"P3"}));
}

TEST_F(WorklistTest, EntriesExpireAfterTheConfiguredAge) {
  add("OLD", {{"PatientID", "P1"}});
  now_ += 1800;
  add("NEW", {{"PatientID", "P2"}});
  now_ += 1801;  // OLD is 3601 s old, NEW 1801 s
  EXPECT_EQ(ids(find({{"PatientID", ""}})), (std::vector<std::string>{"P2"}));  // before the timer
  EXPECT_EQ(worklist_->expire(), 1);
  EXPECT_EQ(worklist_->expire(), 0);
  const Json listed = Json::parse(worklist_->list("{}"));
  EXPECT_EQ(listed["entries"][0]["status"], "EXPIRED");
  EXPECT_EQ(listed["entries"][1]["status"], "SCHEDULED");
}

TEST_F(WorklistTest, EntriesSurviveARestart) {
  add_three();
  worklist_.reset();
  make();
  EXPECT_EQ(find({{"PatientID", ""}}).size(), 3u);
}

TEST(WorklistConfigTest, ClearErrors) {
  WorklistConfig c;
  std::string error;
  EXPECT_FALSE(parse_config("{}", c, error));
  EXPECT_NE(error.find("state_dir is required"), std::string::npos) << error;
  EXPECT_FALSE(parse_config(R"({"state_dir":"/x","expire_after_hours":0})", c, error));
  EXPECT_NE(error.find("expire_after_hours"), std::string::npos) << error;
  EXPECT_FALSE(parse_config(R"({"state_dir":"/x","expire_after_hours":"2h"})", c, error));
  EXPECT_FALSE(parse_config(R"({"state_dir":"/x","expire_after_hours":true})", c, error));
  ASSERT_TRUE(parse_config(R"({"state_dir":"/x","expire_after_hours":"0.25"})", c, error));
  EXPECT_DOUBLE_EQ(c.expire_after_hours, 0.25);
  EXPECT_FALSE(
      parse_config(R"({"state_dir":"/x","called_aet":"WAY_TOO_LONG_AE_TITLE"})", c, error));
  EXPECT_NE(error.find("called_aet"), std::string::npos) << error;
  EXPECT_FALSE(parse_config(R"({"state_dir":"/x","colour":"red"})", c, error));
  EXPECT_NE(error.find("unknown key 'colour'"), std::string::npos) << error;
  EXPECT_FALSE(parse_config("[]", c, error));
  ASSERT_TRUE(parse_config(
      R"({"state_dir":"/x","expire_after_hours":0.5,"called_aet":"WORKLIST","expiry_check_seconds":5})",
      c, error))
      << error;
  EXPECT_EQ(c.state_dir, "/x");
  EXPECT_DOUBLE_EQ(c.expire_after_hours, 0.5);
  EXPECT_EQ(c.called_aet, "WORKLIST");
  EXPECT_EQ(c.expiry_check_seconds, 5);
}

}  // namespace
}  // namespace ossa::worklist
