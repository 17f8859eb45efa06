// Find providers on the host side: the identifier <-> JSON conversion of the DICOM layer and the
// plugin host's registry (lookup by SOP class and called AE title, failures, C-CANCEL).

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdatset.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcitem.h"
#include "dicom/find_json.h"
#include "plugins/find_registry.h"
#include "plugins/plugin_host.h"

namespace {

using Json = nlohmann::json;
using ossa::plugins::FindRegistry;

constexpr const char* kMwl = "1.2.840.10008.5.1.4.31";

TEST(FindJson, IdentifierBecomesJsonKeyedByKeywordWithSequences) {
  DcmDataset identifier;
  identifier.putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 100");
  identifier.putAndInsertString(DCM_PatientName, "M\xFCller*");  // Latin-1 u-umlaut
  identifier.putAndInsertString(DCM_PatientID, "");
  identifier.putAndInsertString(DCM_RETIRED_OtherPatientIDs, "");
  DcmItem* step = nullptr;
  ASSERT_TRUE(identifier.findOrCreateSequenceItem(DCM_ScheduledProcedureStepSequence, step).good());
  step->putAndInsertString(DCM_Modality, "CT");
  step->putAndInsertString(DCM_ScheduledProcedureStepStartDate, "20260101-20260102");
  identifier.putAndInsertString(DcmTag(0x0009, 0x0010, EVR_LO), "PRIVATE");

  const Json json = Json::parse(ossa::dicom::identifier_to_json(identifier));
  EXPECT_FALSE(json.contains("SpecificCharacterSet"));
  EXPECT_EQ(json["PatientName"], "M\xC3\xBCller*");
  EXPECT_EQ(json["PatientID"], "");
  EXPECT_EQ(json["OtherPatientIDs"], "");  // the standard keyword, not DCMTK's RETIRED_ name
  EXPECT_EQ(json["ScheduledProcedureStepSequence"],
            (Json::array(
                {{{"Modality", "CT"}, {"ScheduledProcedureStepStartDate", "20260101-20260102"}}})));
  EXPECT_EQ(json["(0009,0010)"], "PRIVATE");
}

TEST(FindJson, AnswerBecomesAUtf8Dataset) {
  std::string error;
  const auto dataset = ossa::dicom::answer_to_dataset(
      R"({"PatientName":"M\u00fcller^J","OtherPatientIDs":"A\\B","ReferencedStudySequence":[],
          "ScheduledProcedureStepSequence":[{"Modality":"MR","ScheduledStationAETitle":"MR1"}],
          "SpecificCharacterSet":"ISO_IR 100"})",
      error);
  ASSERT_TRUE(dataset) << error;
  OFString value;
  dataset->findAndGetOFStringArray(DCM_SpecificCharacterSet, value);
  EXPECT_EQ(value, "ISO_IR 192");
  dataset->findAndGetOFStringArray(DCM_PatientName, value);
  EXPECT_EQ(value, "M\xC3\xBCller^J");
  dataset->findAndGetOFStringArray(DCM_RETIRED_OtherPatientIDs, value);
  EXPECT_EQ(value, "A\\B");
  DcmItem* step = nullptr;
  ASSERT_TRUE(dataset->findAndGetSequenceItem(DCM_ScheduledProcedureStepSequence, step, 0).good());
  step->findAndGetOFString(DCM_ScheduledStationAETitle, value);
  EXPECT_EQ(value, "MR1");
  EXPECT_TRUE(dataset->tagExists(DCM_ReferencedStudySequence));

  EXPECT_FALSE(ossa::dicom::answer_to_dataset("[1]", error));
  EXPECT_NE(error.find("not a JSON object"), std::string::npos) << error;
  EXPECT_FALSE(ossa::dicom::answer_to_dataset(R"({"NoSuchKeyword":"x"})", error));
  EXPECT_NE(error.find("NoSuchKeyword"), std::string::npos) << error;
  EXPECT_FALSE(ossa::dicom::answer_to_dataset("{", error));
}

// A provider as a plugin would write it against the C ABI.
struct Script {
  std::vector<std::string> answers;
  ossa_status result = OSSA_OK;
  std::string query;
  int added = 0;
  ossa_status last_add = OSSA_OK;
};

ossa_status scripted_provider(void* user, const char* query_json, ossa_find_answers* answers) {
  auto* s = static_cast<Script*>(user);
  s->query = query_json;
  for (const auto& a : s->answers) {
    s->last_add = ossa::plugins::host_api_table().find_add(answers, a.c_str());
    if (s->last_add != OSSA_OK) return s->last_add;
    ++s->added;
  }
  return s->result;
}

TEST(FindRegistryTest, LookupPrefersTheCalledAeTitle) {
  FindRegistry registry;
  Script any, own;
  std::string error;
  ASSERT_EQ(registry.add({&any, "any", kMwl, "", scripted_provider, &any}, error), OSSA_OK);
  ASSERT_EQ(registry.add({&own, "own", kMwl, "WORKLIST", scripted_provider, &own}, error), OSSA_OK);
  EXPECT_EQ(registry.add({&own, "own", kMwl, "WORKLIST", scripted_provider, &own}, error),
            OSSA_E_INVALID_ARGUMENT);
  EXPECT_NE(error.find("already answers"), std::string::npos) << error;
  EXPECT_EQ(registry.add({&own, "own", "not a uid", "", scripted_provider, &own}, error),
            OSSA_E_INVALID_ARGUMENT);
  EXPECT_EQ(registry.add({&own, "own", kMwl, "SEVENTEEN_CHARS_X", scripted_provider, &own}, error),
            OSSA_E_INVALID_ARGUMENT);

  EXPECT_TRUE(registry.serves(kMwl, "OSSA"));
  EXPECT_FALSE(registry.serves("1.2.3", "OSSA"));
  EXPECT_TRUE(registry.serves_called_aet("WORKLIST"));
  EXPECT_FALSE(registry.serves_called_aet("OSSA"));
  EXPECT_EQ(registry.sop_classes_for("OSSA"), (std::vector<std::string>{kMwl}));

  own.answers = {R"({"PatientID":"own"})"};
  std::vector<std::string> got;
  const auto outcome =
      registry.find(kMwl, "WORKLIST", R"({"PatientID":""})", [&](const std::string& a) {
        got.push_back(a);
        return true;
      });
  EXPECT_FALSE(outcome.failed);
  EXPECT_EQ(outcome.provider, "own");
  EXPECT_EQ(got, (std::vector<std::string>{R"({"PatientID":"own"})"}));
  EXPECT_EQ(own.query, R"({"PatientID":""})");
  EXPECT_EQ(registry.find(kMwl, "OTHER", "{}", [](const std::string&) { return true; }).provider,
            "any");

  registry.remove_owner(&own);
  EXPECT_FALSE(registry.serves_called_aet("WORKLIST"));
}

TEST(FindRegistryTest, CancelStopsTheProviderAndFailuresAreReported) {
  FindRegistry registry;
  Script s;
  std::string error;
  ASSERT_EQ(registry.add({&s, "wl", kMwl, "", scripted_provider, &s}, error), OSSA_OK);
  s.answers = {"{}", "{}", "{}"};
  int seen = 0;
  auto outcome = registry.find(kMwl, "OSSA", "{}", [&](const std::string&) { return ++seen < 2; });
  EXPECT_FALSE(outcome.failed);  // stopped by the requester, not a provider failure
  EXPECT_EQ(seen, 2);
  EXPECT_EQ(s.added, 1);
  EXPECT_EQ(s.last_add, OSSA_E_CANCELLED);

  s = Script{};
  s.answers = {"{}"};
  s.result = OSSA_ERROR;
  outcome = registry.find(kMwl, "OSSA", "{}", [](const std::string&) { return true; });
  EXPECT_TRUE(outcome.failed);
  EXPECT_EQ(outcome.provider, "wl");
}

}  // namespace
