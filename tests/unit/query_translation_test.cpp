// C-FIND identifiers <-> index queries (core/dicom/query_translation.h).

#include "dicom/query_translation.h"

#include <gtest/gtest.h>

#include <memory>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdatset.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcsequen.h>

#include <algorithm>
#include <string>
#include <vector>

namespace {

namespace tags = ossa::index::tags;
using ossa::dicom::FindResponseBuilder;
using ossa::dicom::QueryModel;
using ossa::dicom::translate_find;
using ossa::dicom::TranslatedFind;
using ossa::index::Condition;
using ossa::index::FindMatch;
using ossa::index::Level;
using ossa::index::MatchKind;
using ossa::index::ValueKind;

uint32_t key_of(const DcmTagKey& k) {
  return ossa::index::tag(k.getGroup(), k.getElement());
}

// An identifier from (tag, value) pairs; values are raw bytes as they would come off the wire.
DcmDataset identifier(const std::vector<std::pair<DcmTagKey, std::string>>& elements) {
  DcmDataset ds;
  for (const auto& [tag, value] : elements) {
    EXPECT_TRUE(ds.putAndInsertOFStringArray(tag, OFString(value.c_str(), value.size())).good())
        << DcmTag(tag).getTagName();
  }
  return ds;
}

const Condition* find_condition(const TranslatedFind& f, const DcmTagKey& tag) {
  for (const auto& c : f.query.conditions)
    if (c.tag == key_of(tag)) return &c;
  return nullptr;
}

bool returns(const TranslatedFind& f, const DcmTagKey& tag) {
  return std::any_of(f.return_keys.begin(), f.return_keys.end(),
                     [&](const DcmTag& t) { return t == tag; });
}

std::string get(DcmDataset& ds, const DcmTagKey& tag) {
  OFString value;
  if (ds.findAndGetOFStringArray(tag, value).bad()) return "<missing>";
  return std::string(value.c_str(), value.length());
}

// ---- translate_find: refusals ------------------------------------------------------------------

TEST(TranslateFind, MissingLevel) {
  DcmDataset ds = identifier({{DCM_PatientName, "DOE*"}});
  const TranslatedFind f = translate_find(ds, QueryModel::kStudyRoot);
  EXPECT_EQ(f.error_status, 0xA900);
  EXPECT_EQ(f.offending, DCM_QueryRetrieveLevel);
  EXPECT_FALSE(f.error.empty());

  DcmDataset empty_level = identifier({{DCM_QueryRetrieveLevel, ""}});
  EXPECT_EQ(translate_find(empty_level, QueryModel::kStudyRoot).error_status, 0xA900);
}

TEST(TranslateFind, UnknownLevel) {
  for (const std::string level : {"FOO", "study", "FRAME"}) {
    SCOPED_TRACE(level);
    DcmDataset ds = identifier({{DCM_QueryRetrieveLevel, level}});
    const TranslatedFind f = translate_find(ds, QueryModel::kStudyRoot);
    EXPECT_EQ(f.error_status, 0xA900);
    EXPECT_EQ(f.offending, DCM_QueryRetrieveLevel);
  }
}

TEST(TranslateFind, PatientLevelOnlyInPatientRoot) {
  DcmDataset ds = identifier({{DCM_QueryRetrieveLevel, "PATIENT"}, {DCM_PatientName, "DOE*"}});
  TranslatedFind f = translate_find(ds, QueryModel::kStudyRoot);
  EXPECT_EQ(f.error_status, 0xA900);
  EXPECT_EQ(f.offending, DCM_QueryRetrieveLevel);

  f = translate_find(ds, QueryModel::kPatientRoot);
  EXPECT_EQ(f.error_status, 0);
  EXPECT_EQ(f.query.level, Level::kPatient);
  EXPECT_EQ(f.level_text, "PATIENT");
  EXPECT_TRUE(returns(f, DCM_PatientID));  // the unique key of the level always comes back
}

TEST(TranslateFind, SeriesLevelNeedsStudyInstanceUid) {
  DcmDataset ds = identifier({{DCM_QueryRetrieveLevel, "SERIES"}, {DCM_Modality, "CT"}});
  TranslatedFind f = translate_find(ds, QueryModel::kStudyRoot);
  EXPECT_EQ(f.error_status, 0xA900);
  EXPECT_EQ(f.offending, DCM_StudyInstanceUID);
  EXPECT_NE(f.error.find("StudyInstanceUID"), std::string::npos) << f.error;

  // Present but empty (universal) is not enough either.
  DcmDataset empty = identifier(
      {{DCM_QueryRetrieveLevel, "SERIES"}, {DCM_StudyInstanceUID, ""}, {DCM_Modality, "CT"}});
  f = translate_find(empty, QueryModel::kStudyRoot);
  EXPECT_EQ(f.error_status, 0xA900);
  EXPECT_EQ(f.offending, DCM_StudyInstanceUID);

  DcmDataset ok = identifier(
      {{DCM_QueryRetrieveLevel, "SERIES"}, {DCM_StudyInstanceUID, "1.2.3"}, {DCM_Modality, "CT"}});
  f = translate_find(ok, QueryModel::kStudyRoot);
  EXPECT_EQ(f.error_status, 0);
  EXPECT_EQ(f.query.level, Level::kSeries);
  ASSERT_NE(find_condition(f, DCM_StudyInstanceUID), nullptr);
  EXPECT_EQ(find_condition(f, DCM_StudyInstanceUID)->match, MatchKind::kSingle);
  EXPECT_EQ(find_condition(f, DCM_StudyInstanceUID)->level, Level::kStudy);
  ASSERT_NE(find_condition(f, DCM_Modality), nullptr);
  EXPECT_EQ(find_condition(f, DCM_Modality)->value, "CT");
  EXPECT_EQ(find_condition(f, DCM_Modality)->level, Level::kSeries);
}

TEST(TranslateFind, ImageLevelNeedsStudyAndSeriesUids) {
  DcmDataset ds = identifier({{DCM_QueryRetrieveLevel, "IMAGE"}, {DCM_StudyInstanceUID, "1.2.3"}});
  TranslatedFind f = translate_find(ds, QueryModel::kStudyRoot);
  EXPECT_EQ(f.error_status, 0xA900);
  EXPECT_EQ(f.offending, DCM_SeriesInstanceUID);
  EXPECT_NE(f.error.find("SeriesInstanceUID"), std::string::npos) << f.error;
}

TEST(TranslateFind, PatientRootNeedsPatientId) {
  DcmDataset ds = identifier({{DCM_QueryRetrieveLevel, "STUDY"}, {DCM_StudyDate, ""}});
  TranslatedFind f = translate_find(ds, QueryModel::kPatientRoot);
  EXPECT_EQ(f.error_status, 0xA900);
  EXPECT_EQ(f.offending, DCM_PatientID);
  EXPECT_NE(f.error.find("PatientID"), std::string::npos) << f.error;
  // The same identifier is fine in Study Root.
  EXPECT_EQ(translate_find(ds, QueryModel::kStudyRoot).error_status, 0);
}

TEST(TranslateFind, WildcardOrListInRequiredUniqueKey) {
  const std::vector<std::pair<DcmTagKey, std::string>> bad_uids[] = {
      {{DCM_QueryRetrieveLevel, "SERIES"}, {DCM_StudyInstanceUID, "1.2.*"}},
      {{DCM_QueryRetrieveLevel, "SERIES"}, {DCM_StudyInstanceUID, "1.2.?"}},
      {{DCM_QueryRetrieveLevel, "SERIES"}, {DCM_StudyInstanceUID, "*"}},
      {{DCM_QueryRetrieveLevel, "SERIES"}, {DCM_StudyInstanceUID, "1.2.3\\1.2.4"}},
  };
  for (const auto& elements : bad_uids) {
    SCOPED_TRACE(elements[1].second);
    DcmDataset ds = identifier(elements);
    const TranslatedFind f = translate_find(ds, QueryModel::kStudyRoot);
    EXPECT_EQ(f.error_status, 0xA900);
    EXPECT_EQ(f.offending, DCM_StudyInstanceUID);
  }
  DcmDataset image = identifier({{DCM_QueryRetrieveLevel, "IMAGE"},
                                 {DCM_StudyInstanceUID, "1.2.3"},
                                 {DCM_SeriesInstanceUID, "1.2.3.*"}});
  const TranslatedFind f = translate_find(image, QueryModel::kStudyRoot);
  EXPECT_EQ(f.error_status, 0xA900);
  EXPECT_EQ(f.offending, DCM_SeriesInstanceUID);
  // At its own level a unique key may be a list.
  DcmDataset list =
      identifier({{DCM_QueryRetrieveLevel, "STUDY"}, {DCM_StudyInstanceUID, "1.2.3\\1.2.4"}});
  const TranslatedFind g = translate_find(list, QueryModel::kStudyRoot);
  EXPECT_EQ(g.error_status, 0);
  ASSERT_NE(find_condition(g, DCM_StudyInstanceUID), nullptr);
  EXPECT_EQ(find_condition(g, DCM_StudyInstanceUID)->match, MatchKind::kUidList);
  EXPECT_EQ(find_condition(g, DCM_StudyInstanceUID)->uids,
            (std::vector<std::string>{"1.2.3", "1.2.4"}));
}

TEST(TranslateFind, BadDates) {
  const std::pair<DcmTagKey, std::string> bad[] = {
      {DCM_StudyDate, "2006"},
      {DCM_StudyDate, "20060101-20060201-20060301"},
      {DCM_StudyDate, "yesterday"},
      {DCM_StudyTime, "103"},
      {DCM_PatientBirthDate, "1970-01-01"},
  };
  for (const auto& [tag, value] : bad) {
    SCOPED_TRACE(value);
    DcmDataset ds = identifier({{DCM_QueryRetrieveLevel, "STUDY"}, {tag, value}});
    const TranslatedFind f = translate_find(ds, QueryModel::kStudyRoot);
    EXPECT_EQ(f.error_status, 0xA900);
    EXPECT_EQ(f.offending, tag);
    EXPECT_NE(f.error.find(value), std::string::npos) << f.error;
  }
}

TEST(TranslateFind, UnknownCharacterSet) {
  DcmDataset ds = identifier({{DCM_QueryRetrieveLevel, "STUDY"},
                              {DCM_SpecificCharacterSet, "ISO_IR 999"},
                              {DCM_PatientName, "DOE*"}});
  const TranslatedFind f = translate_find(ds, QueryModel::kStudyRoot);
  EXPECT_EQ(f.error_status, 0xA900);
  EXPECT_EQ(f.offending, DCM_SpecificCharacterSet);
}

// ---- translate_find: conditions ----------------------------------------------------------------

TEST(TranslateFind, ConditionsByVr) {
  DcmDataset ds = identifier({{DCM_QueryRetrieveLevel, "STUDY"},
                              {DCM_PatientName, "doe^j*"},
                              {DCM_PatientID, ""},
                              {DCM_StudyDate, "20060101-20061231"},
                              {DCM_StudyTime, "1000-1800"},
                              {DCM_AccessionNumber, "ACC*"},
                              {DCM_StudyInstanceUID, ""},
                              {DCM_StudyDescription, "*"},
                              {DCM_ModalitiesInStudy, "PT"},
                              {DCM_NumberOfStudyRelatedInstances, ""}});
  const TranslatedFind f = translate_find(ds, QueryModel::kStudyRoot);
  ASSERT_EQ(f.error_status, 0) << f.error;
  EXPECT_FALSE(f.some_keys_unsupported);
  EXPECT_EQ(f.query.level, Level::kStudy);
  EXPECT_EQ(f.level_text, "STUDY");
  // Universal keys are returned but not matched.
  EXPECT_EQ(f.query.conditions.size(), 5u);
  EXPECT_EQ(find_condition(f, DCM_PatientID), nullptr);
  EXPECT_EQ(find_condition(f, DCM_StudyDescription), nullptr);
  EXPECT_TRUE(returns(f, DCM_PatientID));
  EXPECT_TRUE(returns(f, DCM_StudyDescription));

  const Condition* name = find_condition(f, DCM_PatientName);
  ASSERT_NE(name, nullptr);
  EXPECT_EQ(name->kind, ValueKind::kPersonName);
  EXPECT_EQ(name->match, MatchKind::kWildcard);
  EXPECT_EQ(name->value, "DOE^J*");
  EXPECT_EQ(name->level, Level::kPatient);

  const Condition* date = find_condition(f, DCM_StudyDate);
  ASSERT_NE(date, nullptr);
  EXPECT_EQ(date->kind, ValueKind::kDate);
  EXPECT_EQ(date->match, MatchKind::kRange);
  EXPECT_EQ(date->lower, "20060101");
  EXPECT_EQ(date->upper, "20061231");
  EXPECT_EQ(date->level, Level::kStudy);

  const Condition* time = find_condition(f, DCM_StudyTime);
  ASSERT_NE(time, nullptr);
  EXPECT_EQ(time->kind, ValueKind::kTime);
  EXPECT_EQ(time->upper, "180059.999999");

  const Condition* accession = find_condition(f, DCM_AccessionNumber);
  ASSERT_NE(accession, nullptr);
  EXPECT_EQ(accession->kind, ValueKind::kText);
  EXPECT_EQ(accession->match, MatchKind::kWildcard);

  const Condition* modalities = find_condition(f, DCM_ModalitiesInStudy);
  ASSERT_NE(modalities, nullptr);
  EXPECT_EQ(modalities->level, Level::kStudy);
  EXPECT_EQ(modalities->value, "PT");
  EXPECT_EQ(f.query.computed.count(tags::kModalitiesInStudy), 1u);
  EXPECT_EQ(f.query.computed.count(tags::kNumberOfStudyRelatedInstances), 1u);
  EXPECT_TRUE(returns(f, DCM_NumberOfStudyRelatedInstances));
}

TEST(TranslateFind, CountsAreReturnOnly) {
  DcmDataset ds = identifier({{DCM_QueryRetrieveLevel, "STUDY"},
                              {DCM_NumberOfStudyRelatedInstances, "5"},
                              {DCM_NumberOfStudyRelatedSeries, "2"}});
  const TranslatedFind f = translate_find(ds, QueryModel::kStudyRoot);
  ASSERT_EQ(f.error_status, 0) << f.error;
  EXPECT_TRUE(f.query.conditions.empty());
  EXPECT_EQ(f.query.computed.count(tags::kNumberOfStudyRelatedInstances), 1u);
  EXPECT_EQ(f.query.computed.count(tags::kNumberOfStudyRelatedSeries), 1u);
}

TEST(TranslateFind, Latin1KeyBecomesUtf8) {
  DcmDataset ds = identifier({{DCM_QueryRetrieveLevel, "STUDY"},
                              {DCM_SpecificCharacterSet, "ISO_IR 100"},
                              {DCM_PatientName, "M\xfcller"},
                              {DCM_StudyDescription, "T\xeate*"}});
  const TranslatedFind f = translate_find(ds, QueryModel::kStudyRoot);
  ASSERT_EQ(f.error_status, 0) << f.error;
  EXPECT_EQ(f.query_charset, "ISO_IR 100");
  const Condition* name = find_condition(f, DCM_PatientName);
  ASSERT_NE(name, nullptr);
  EXPECT_EQ(name->value, "MÜLLER");  // UTF-8, upper case for PN
  EXPECT_EQ(name->match, MatchKind::kSingle);
  const Condition* description = find_condition(f, DCM_StudyDescription);
  ASSERT_NE(description, nullptr);
  EXPECT_EQ(description->value, "Tête*");  // LO keeps its case
  EXPECT_EQ(description->match, MatchKind::kWildcard);
}

TEST(TranslateFind, Utf8KeyStaysUtf8) {
  DcmDataset ds = identifier({{DCM_QueryRetrieveLevel, "STUDY"},
                              {DCM_SpecificCharacterSet, "ISO_IR 192"},
                              {DCM_PatientName, "Иванов*"}});
  const TranslatedFind f = translate_find(ds, QueryModel::kStudyRoot);
  ASSERT_EQ(f.error_status, 0) << f.error;
  ASSERT_NE(find_condition(f, DCM_PatientName), nullptr);
  EXPECT_EQ(find_condition(f, DCM_PatientName)->value, "ИВАНОВ*");
}

TEST(TranslateFind, KeysBelowTheLevelAreUnsupported) {
  DcmDataset ds = identifier({{DCM_QueryRetrieveLevel, "STUDY"},
                              {DCM_PatientName, ""},
                              {DCM_Modality, "CT"},
                              {DCM_SOPInstanceUID, ""},
                              {DCM_NumberOfSeriesRelatedInstances, ""}});
  const TranslatedFind f = translate_find(ds, QueryModel::kStudyRoot);
  ASSERT_EQ(f.error_status, 0) << f.error;
  EXPECT_TRUE(f.some_keys_unsupported);
  EXPECT_FALSE(returns(f, DCM_Modality));
  EXPECT_FALSE(returns(f, DCM_SOPInstanceUID));
  EXPECT_FALSE(returns(f, DCM_NumberOfSeriesRelatedInstances));
  EXPECT_EQ(find_condition(f, DCM_Modality), nullptr);
  EXPECT_TRUE(f.query.conditions.empty());
  EXPECT_TRUE(returns(f, DCM_PatientName));
  EXPECT_TRUE(returns(f, DCM_StudyInstanceUID));

  // Nothing below the level: no warning.
  DcmDataset fine = identifier({{DCM_QueryRetrieveLevel, "STUDY"}, {DCM_PatientName, ""}});
  EXPECT_FALSE(translate_find(fine, QueryModel::kStudyRoot).some_keys_unsupported);
}

TEST(TranslateFind, SequencesAndPrivateKeysAreUnsupported) {
  DcmDataset ds = identifier({{DCM_QueryRetrieveLevel, "STUDY"}});
  ASSERT_TRUE(ds.insertEmptyElement(DCM_ProcedureCodeSequence).good());
  TranslatedFind f = translate_find(ds, QueryModel::kStudyRoot);
  ASSERT_EQ(f.error_status, 0) << f.error;
  EXPECT_TRUE(f.some_keys_unsupported);
  EXPECT_FALSE(returns(f, DCM_ProcedureCodeSequence));

  DcmDataset priv = identifier({{DCM_QueryRetrieveLevel, "STUDY"}});
  ASSERT_TRUE(priv.putAndInsertString(DcmTag(0x0009, 0x0010, EVR_LO), "ACME").good());
  f = translate_find(priv, QueryModel::kStudyRoot);
  ASSERT_EQ(f.error_status, 0) << f.error;
  EXPECT_TRUE(f.some_keys_unsupported);
}

TEST(TranslateFind, UniqueKeysAlwaysReturned) {
  DcmDataset study = identifier({{DCM_QueryRetrieveLevel, "STUDY"}});
  TranslatedFind f = translate_find(study, QueryModel::kStudyRoot);
  EXPECT_TRUE(returns(f, DCM_StudyInstanceUID));
  EXPECT_FALSE(returns(f, DCM_SeriesInstanceUID));
  EXPECT_FALSE(returns(f, DCM_PatientID));
  f = translate_find(study, QueryModel::kPatientRoot);
  EXPECT_EQ(f.error_status, 0xA900);  // Patient Root STUDY needs PatientID

  DcmDataset image = identifier({{DCM_QueryRetrieveLevel, "IMAGE"},
                                 {DCM_PatientID, "P1"},
                                 {DCM_StudyInstanceUID, "1.2"},
                                 {DCM_SeriesInstanceUID, "1.2.3"}});
  f = translate_find(image, QueryModel::kPatientRoot);
  ASSERT_EQ(f.error_status, 0) << f.error;
  EXPECT_TRUE(returns(f, DCM_PatientID));
  EXPECT_TRUE(returns(f, DCM_StudyInstanceUID));
  EXPECT_TRUE(returns(f, DCM_SeriesInstanceUID));
  EXPECT_TRUE(returns(f, DCM_SOPInstanceUID));
  // Each only once.
  EXPECT_EQ(std::count_if(f.return_keys.begin(), f.return_keys.end(),
                          [](const DcmTag& t) { return t == DCM_StudyInstanceUID; }),
            1);
}

// ---- build_find_response -----------------------------------------------------------------------

FindMatch match_of(const std::vector<std::pair<DcmTagKey, std::string>>& values) {
  FindMatch m;
  for (const auto& [tag, value] : values) m.attributes[key_of(tag)] = value;
  return m;
}

// One identifier from a builder of its own: what the first answer of a C-FIND carries.
std::unique_ptr<DcmDataset> build_find_response(const TranslatedFind& find, const FindMatch& match,
                                                const std::string& retrieve_aet) {
  FindResponseBuilder builder(find, retrieve_aet);
  return std::make_unique<DcmDataset>(builder.build(match));
}

TEST(BuildFindResponse, RequestedKeysLevelAndAe) {
  DcmDataset ds = identifier({{DCM_QueryRetrieveLevel, "STUDY"},
                              {DCM_PatientName, ""},
                              {DCM_StudyDate, ""},
                              {DCM_AccessionNumber, ""},
                              {DCM_RetrieveAETitle, ""},
                              {DCM_ModalitiesInStudy, ""},
                              {DCM_NumberOfStudyRelatedInstances, ""}});
  const TranslatedFind f = translate_find(ds, QueryModel::kStudyRoot);
  ASSERT_EQ(f.error_status, 0) << f.error;
  const FindMatch m = match_of({{DCM_PatientName, "Doe^John"},
                                {DCM_StudyDate, "20060705"},
                                {DCM_StudyInstanceUID, "1.2.3"},
                                {DCM_NumberOfStudyRelatedInstances, "3"},
                                {DCM_ModalitiesInStudy, "CT\\PT"},
                                {DCM_PatientID, "P1"},          // not requested
                                {DCM_StudyDescription, "x"}});  // not requested
  auto r = build_find_response(f, m, "OSSA");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(get(*r, DCM_QueryRetrieveLevel), "STUDY");
  EXPECT_EQ(get(*r, DCM_RetrieveAETitle), "OSSA");
  EXPECT_EQ(get(*r, DCM_PatientName), "Doe^John");
  EXPECT_EQ(get(*r, DCM_StudyDate), "20060705");
  EXPECT_EQ(get(*r, DCM_StudyInstanceUID), "1.2.3");  // unique key, not requested
  EXPECT_EQ(get(*r, DCM_NumberOfStudyRelatedInstances), "3");
  EXPECT_EQ(get(*r, DCM_ModalitiesInStudy), "CT\\PT");  // multi-valued, VM 2
  DcmElement* modalities = nullptr;
  ASSERT_TRUE(r->findAndGetElement(DCM_ModalitiesInStudy, modalities).good());
  EXPECT_EQ(modalities->getVM(), 2u);
  // Requested but without a value: present, zero length.
  EXPECT_TRUE(r->tagExists(DCM_AccessionNumber));
  EXPECT_EQ(get(*r, DCM_AccessionNumber), "");
  // Not requested: absent. All ASCII: no Specific Character Set.
  EXPECT_FALSE(r->tagExists(DCM_PatientID));
  EXPECT_FALSE(r->tagExists(DCM_StudyDescription));
  EXPECT_FALSE(r->tagExists(DCM_SpecificCharacterSet));
  EXPECT_EQ(r->card(), 8u);
  // VRs come from the dictionary.
  DcmElement* e = nullptr;
  ASSERT_TRUE(r->findAndGetElement(DCM_PatientName, e).good());
  EXPECT_EQ(e->ident(), EVR_PN);
}

TEST(BuildFindResponse, AnswersInTheQuerysCharsetWhenPossible) {
  DcmDataset ds = identifier({{DCM_QueryRetrieveLevel, "STUDY"},
                              {DCM_SpecificCharacterSet, "ISO_IR 100"},
                              {DCM_PatientName, ""}});
  const TranslatedFind f = translate_find(ds, QueryModel::kStudyRoot);
  ASSERT_EQ(f.error_status, 0) << f.error;
  auto r = build_find_response(f, match_of({{DCM_PatientName, "Müller^Hans"}}), "OSSA");
  EXPECT_EQ(get(*r, DCM_SpecificCharacterSet), "ISO_IR 100");
  EXPECT_EQ(get(*r, DCM_PatientName), "M\xfcller^Hans");

  // All ASCII: no (0008,0005), even though the query gave one.
  r = build_find_response(f, match_of({{DCM_PatientName, "Doe^John"}}), "OSSA");
  EXPECT_FALSE(r->tagExists(DCM_SpecificCharacterSet));
  EXPECT_EQ(get(*r, DCM_PatientName), "Doe^John");
}

TEST(BuildFindResponse, OneBuilderForAWholeQueryCarriesNothingFromMatchToMatch) {
  DcmDataset ds = identifier({{DCM_QueryRetrieveLevel, "STUDY"},
                              {DCM_SpecificCharacterSet, "ISO_IR 100"},
                              {DCM_PatientName, ""},
                              {DCM_AccessionNumber, ""},
                              {DCM_NumberOfStudyRelatedInstances, ""}});
  const TranslatedFind f = translate_find(ds, QueryModel::kStudyRoot);
  ASSERT_EQ(f.error_status, 0) << f.error;
  FindResponseBuilder builder(f, "OSSA");

  DcmDataset* r = &builder.build(match_of({{DCM_PatientName, "Müller^Hans"},
                                           {DCM_AccessionNumber, "A1"},
                                           {DCM_StudyInstanceUID, "1.2.3"},
                                           {DCM_NumberOfStudyRelatedInstances, "3"}}));
  EXPECT_EQ(get(*r, DCM_SpecificCharacterSet), "ISO_IR 100");
  EXPECT_EQ(get(*r, DCM_PatientName), "M\xfcller^Hans");
  EXPECT_EQ(get(*r, DCM_AccessionNumber), "A1");

  // The next match is ASCII and has no accession number: no character set, no stale value.
  r = &builder.build(match_of({{DCM_PatientName, "Doe^John"},
                               {DCM_StudyInstanceUID, "1.2.4"},
                               {DCM_NumberOfStudyRelatedInstances, "not a number"}}));
  EXPECT_FALSE(r->tagExists(DCM_SpecificCharacterSet));
  EXPECT_EQ(get(*r, DCM_PatientName), "Doe^John");
  EXPECT_EQ(get(*r, DCM_StudyInstanceUID), "1.2.4");
  EXPECT_TRUE(r->tagExists(DCM_AccessionNumber));
  EXPECT_EQ(get(*r, DCM_AccessionNumber), "");
  EXPECT_TRUE(r->tagExists(DCM_NumberOfStudyRelatedInstances));

  // And the same as an identifier built on its own.
  const FindMatch third = match_of({{DCM_PatientName, "Ωμέγα^Άλφα"}, {DCM_StudyInstanceUID, "9"}});
  const auto alone = build_find_response(f, third, "OSSA");
  r = &builder.build(third);
  EXPECT_EQ(get(*r, DCM_SpecificCharacterSet), get(*alone, DCM_SpecificCharacterSet));
  EXPECT_EQ(get(*r, DCM_PatientName), get(*alone, DCM_PatientName));
  EXPECT_EQ(r->card(), alone->card());
}

TEST(BuildFindResponse, FallsBackToUtf8) {
  // Latin-1 query, Cyrillic name: not representable in Latin-1.
  DcmDataset latin1 = identifier({{DCM_QueryRetrieveLevel, "STUDY"},
                                  {DCM_SpecificCharacterSet, "ISO_IR 100"},
                                  {DCM_PatientName, ""}});
  TranslatedFind f = translate_find(latin1, QueryModel::kStudyRoot);
  ASSERT_EQ(f.error_status, 0) << f.error;
  auto r = build_find_response(f, match_of({{DCM_PatientName, "Иванов^Иван"}}), "OSSA");
  EXPECT_EQ(get(*r, DCM_SpecificCharacterSet), "ISO_IR 192");
  EXPECT_EQ(get(*r, DCM_PatientName), "Иванов^Иван");

  // No charset in the query (ASCII), non-ASCII answer.
  DcmDataset ascii = identifier({{DCM_QueryRetrieveLevel, "STUDY"}, {DCM_PatientName, ""}});
  f = translate_find(ascii, QueryModel::kStudyRoot);
  r = build_find_response(f, match_of({{DCM_PatientName, "Müller^Hans"}}), "OSSA");
  EXPECT_EQ(get(*r, DCM_SpecificCharacterSet), "ISO_IR 192");
  EXPECT_EQ(get(*r, DCM_PatientName), "Müller^Hans");

  // UTF-8 query.
  DcmDataset utf8 = identifier({{DCM_QueryRetrieveLevel, "STUDY"},
                                {DCM_SpecificCharacterSet, "ISO_IR 192"},
                                {DCM_PatientName, ""}});
  f = translate_find(utf8, QueryModel::kStudyRoot);
  r = build_find_response(f, match_of({{DCM_PatientName, "山田^太郎"}}), "OSSA");
  EXPECT_EQ(get(*r, DCM_SpecificCharacterSet), "ISO_IR 192");
  EXPECT_EQ(get(*r, DCM_PatientName), "山田^太郎");
}

TEST(BuildFindResponse, ImageLevel) {
  DcmDataset ds = identifier({{DCM_QueryRetrieveLevel, "IMAGE"},
                              {DCM_StudyInstanceUID, "1.2"},
                              {DCM_SeriesInstanceUID, "1.2.3"},
                              {DCM_InstanceNumber, ""},
                              {DCM_NumberOfSeriesRelatedInstances, ""}});
  const TranslatedFind f = translate_find(ds, QueryModel::kStudyRoot);
  ASSERT_EQ(f.error_status, 0) << f.error;
  EXPECT_FALSE(f.some_keys_unsupported);
  const FindMatch m = match_of({{DCM_StudyInstanceUID, "1.2"},
                                {DCM_SeriesInstanceUID, "1.2.3"},
                                {DCM_SOPInstanceUID, "1.2.3.4"},
                                {DCM_InstanceNumber, "7"},
                                {DCM_NumberOfSeriesRelatedInstances, "12"}});
  auto r = build_find_response(f, m, "ARCHIVE");
  EXPECT_EQ(get(*r, DCM_QueryRetrieveLevel), "IMAGE");
  EXPECT_EQ(get(*r, DCM_RetrieveAETitle), "ARCHIVE");
  EXPECT_EQ(get(*r, DCM_SOPInstanceUID), "1.2.3.4");
  EXPECT_EQ(get(*r, DCM_InstanceNumber), "7");
  EXPECT_EQ(get(*r, DCM_NumberOfSeriesRelatedInstances), "12");
}

}  // namespace
