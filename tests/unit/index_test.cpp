// The SQLite index (core/index/sqlite_index.h, behind core/index/index.h): storing made-up
// instances, then C-FIND-like queries at each level through the same conditions the DICOM layer
// builds.

#include "index/sqlite_index.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "index/open_index.h"
#include "temp_dir.h"
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
namespace tags = ossa::index::tags;
using ossa::index::Attributes;
using ossa::index::Condition;
using ossa::index::DuplicatePolicy;
using ossa::index::FindMatch;
using ossa::index::FindQuery;
using Index = ossa::index::SqliteIndex;
using ossa::index::InstanceRecord;
using ossa::index::Level;
using ossa::index::make_condition;
using ossa::index::matches;
using ossa::index::StoreOutcome;
using ossa::index::StoreResult;
using ossa::index::tag;
using ossa::index::ValueKind;

constexpr uint32_t kBodyPartExamined = tag(0x0018, 0x0015);
constexpr uint32_t kImageType = tag(0x0008, 0x0008);
constexpr uint32_t kAvailableTransferSyntax = tag(0x0008, 0x3002);
constexpr uint32_t kSeriesDescription = tags::kSeriesDescription;
const std::string kCtImage = "1.2.840.10008.5.1.4.1.1.2";
const std::string kPetImage = "1.2.840.10008.5.1.4.1.1.128";
const std::string kExplicitLe = "1.2.840.10008.1.2.1";

using ossa::testing::TempDir;

struct Spec {
  std::string patient_id = "P1";
  std::string patient_name = "Doe^John";
  std::string study_uid = "1.2.3.1";
  std::string study_date = "20060705";
  std::string series_uid = "1.2.3.1.1";
  std::string modality = "CT";
  std::string sop_uid = "1.2.3.1.1.1";
  std::string sop_class = kCtImage;
};

InstanceRecord make_record(const Spec& s) {
  InstanceRecord r;
  auto& patient = r.attributes[static_cast<int>(Level::kPatient)];
  auto& study = r.attributes[static_cast<int>(Level::kStudy)];
  auto& series = r.attributes[static_cast<int>(Level::kSeries)];
  auto& instance = r.attributes[static_cast<int>(Level::kInstance)];
  patient[tags::kPatientId] = s.patient_id;
  patient[tags::kPatientName] = s.patient_name;
  study[tags::kStudyInstanceUid] = s.study_uid;
  if (!s.study_date.empty()) study[tags::kStudyDate] = s.study_date;
  series[tags::kSeriesInstanceUid] = s.series_uid;
  series[tags::kModality] = s.modality;
  instance[tags::kSopInstanceUid] = s.sop_uid;
  instance[tags::kSopClassUid] = s.sop_class;
  r.file_path = "f/" + s.sop_uid + ".dcm";
  r.file_size = 1000;
  r.transfer_syntax_uid = kExplicitLe;
  return r;
}

Attributes& level_attrs(InstanceRecord& r, Level level) {
  return r.attributes[static_cast<int>(level)];
}

std::vector<StoreResult> store(Index& index, const std::vector<InstanceRecord>& records,
                               DuplicatePolicy policy = DuplicatePolicy::kOverwrite) {
  std::vector<const InstanceRecord*> pointers;
  for (const auto& r : records) pointers.push_back(&r);
  return index.store_instances(pointers, policy);
}

std::vector<Attributes> find_all(Index& index, Level level, std::vector<Condition> conditions = {},
                                 std::set<uint32_t> computed = {}) {
  FindQuery q;
  q.level = level;
  q.conditions = std::move(conditions);
  q.computed = std::move(computed);
  std::vector<Attributes> out;
  index.find(q, [&](FindMatch&& m) {
    out.push_back(std::move(m.attributes));
    return true;
  });
  return out;
}

const std::set<uint32_t> kPatientCounts = {tags::kNumberOfPatientRelatedStudies,
                                           tags::kNumberOfPatientRelatedSeries,
                                           tags::kNumberOfPatientRelatedInstances};

std::vector<std::string> column(const std::vector<Attributes>& rows, uint32_t t) {
  std::vector<std::string> out;
  for (const auto& a : rows) {
    const auto it = a.find(t);
    out.push_back(it == a.end() ? "<missing>" : it->second);
  }
  return out;
}

using V = std::vector<std::string>;

// A condition at the level the DICOM layer gives the key (computed study attributes: STUDY).
Condition cond(uint32_t t, ValueKind kind, const std::string& key) {
  const bool study_computed = t == tags::kModalitiesInStudy || t == tags::kSopClassesInStudy;
  return make_condition(t, study_computed ? Level::kStudy : ossa::index::level_of_tag(t), kind,
                        key);
}

class IndexTest : public ::testing::Test {
 protected:
  void SetUp() override { index_ = std::make_unique<Index>(file()); }
  fs::path file() const { return dir_.path() / "index.sqlite"; }

  // Two patients, three studies, five series, seven instances:
  //   P1 Doe^John   study A (2006-07-05): CT series A1 (2 images), PT series A2 (1 image)
  //                 study B (2007-01-10): MR series B1 (1 image)
  //   P2 Müller^Hans study C (2005-12-31): CT series C1 (1 image), SR series C2 (2 documents)
  void store_sample() {
    std::vector<InstanceRecord> rs;
    auto add = [&](Spec s) { rs.push_back(make_record(s)); };
    Spec a;
    a.study_uid = "1.2.3.1";
    a.series_uid = "1.2.3.1.1";
    a.sop_uid = "1.2.3.1.1.1";
    add(a);
    a.sop_uid = "1.2.3.1.1.2";
    add(a);
    a.series_uid = "1.2.3.1.2";
    a.modality = "PT";
    a.sop_class = kPetImage;
    a.sop_uid = "1.2.3.1.2.1";
    add(a);
    Spec b;
    b.study_uid = "1.2.3.2";
    b.study_date = "20070110";
    b.series_uid = "1.2.3.2.1";
    b.modality = "MR";
    b.sop_uid = "1.2.3.2.1.1";
    add(b);
    Spec c;
    c.patient_id = "P2";
    c.patient_name = "Müller^Hans";
    c.study_uid = "1.2.3.3";
    c.study_date = "20051231";
    c.series_uid = "1.2.3.3.1";
    c.sop_uid = "1.2.3.3.1.1";
    add(c);
    c.series_uid = "1.2.3.3.2";
    c.modality = "SR";
    c.sop_class = "1.2.840.10008.5.1.4.1.1.88.11";
    c.sop_uid = "1.2.3.3.2.1";
    add(c);
    c.sop_uid = "1.2.3.3.2.2";
    add(c);
    // Extra, non-indexed attributes.
    level_attrs(rs[0], Level::kStudy)[tags::kAccessionNumber] = "ACC-001";
    level_attrs(rs[3], Level::kStudy)[tags::kAccessionNumber] = "ACC-002";
    level_attrs(rs[4], Level::kStudy)[tags::kAccessionNumber] = "XYZ-9";
    level_attrs(rs[0], Level::kSeries)[kBodyPartExamined] = "CHEST";
    level_attrs(rs[2], Level::kSeries)[kBodyPartExamined] = "WHOLEBODY";
    level_attrs(rs[3], Level::kSeries)[kBodyPartExamined] = "HEAD";
    level_attrs(rs[0], Level::kSeries)[kSeriesDescription] = "Thorax 5mm";
    level_attrs(rs[0], Level::kInstance)[kImageType] = "ORIGINAL\\PRIMARY\\AXIAL";
    level_attrs(rs[1], Level::kInstance)[kImageType] = "DERIVED\\SECONDARY\\MPR";
    level_attrs(rs[0], Level::kInstance)[tags::kInstanceNumber] = "1";
    level_attrs(rs[1], Level::kInstance)[tags::kInstanceNumber] = "002";
    level_attrs(rs[0], Level::kPatient)[tags::kPatientBirthDate] = "19700101";
    level_attrs(rs[0], Level::kPatient)[tags::kPatientSex] = "M";
    level_attrs(rs[4], Level::kPatient)[tags::kPatientSex] = "M";
    const auto results = store(*index_, rs);
    ASSERT_EQ(results.size(), rs.size());
    for (const auto& r : results) EXPECT_EQ(r.outcome, StoreOutcome::kStored);
  }

  TempDir dir_;
  std::unique_ptr<Index> index_;
};

TEST_F(IndexTest, EmptyIndex) {
  EXPECT_TRUE(index_->ping());
  const auto c = index_->counts();
  EXPECT_EQ(c.patients, 0);
  EXPECT_EQ(c.instances, 0);
  EXPECT_TRUE(find_all(*index_, Level::kStudy).empty());
  EXPECT_TRUE(index_->pending_files().empty());
  EXPECT_FALSE(index_->has_instance("1.2.3"));
  EXPECT_FALSE(index_->file_of_instance("1.2.3").has_value());
}

TEST_F(IndexTest, CountsAndPing) {
  store_sample();
  const auto c = index_->counts();
  EXPECT_EQ(c.patients, 2);
  EXPECT_EQ(c.studies, 3);
  EXPECT_EQ(c.series, 5);
  EXPECT_EQ(c.instances, 7);
  EXPECT_TRUE(index_->ping());
  EXPECT_TRUE(index_->has_instance("1.2.3.3.2.2"));
  EXPECT_EQ(index_->file_of_instance("1.2.3.1.2.1"), "f/1.2.3.1.2.1.dcm");
  EXPECT_TRUE(index_->is_file_referenced("f/1.2.3.1.2.1.dcm"));
  EXPECT_FALSE(index_->is_file_referenced("f/unknown.dcm"));
}

TEST_F(IndexTest, PatientLevelCounts) {
  store_sample();
  const auto rows = find_all(*index_, Level::kPatient);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(column(rows, tags::kPatientId), (V{"P1", "P2"}));
  EXPECT_EQ(column(rows, tags::kPatientName), (V{"Doe^John", "Müller^Hans"}));
  EXPECT_EQ(column(rows, tags::kNumberOfPatientRelatedStudies), (V{"2", "1"}));
  EXPECT_EQ(column(rows, tags::kNumberOfPatientRelatedSeries), (V{"3", "2"}));
  EXPECT_EQ(column(rows, tags::kNumberOfPatientRelatedInstances), (V{"4", "3"}));
  // Nothing of the lower levels comes back at PATIENT level.
  EXPECT_EQ(rows[0].count(tags::kStudyInstanceUid), 0u);
}

TEST_F(IndexTest, StudyLevelCountsAndModalities) {
  store_sample();
  const auto rows = find_all(
      *index_, Level::kStudy, {},
      {tags::kModalitiesInStudy, tags::kSopClassesInStudy, tags::kNumberOfPatientRelatedStudies});
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(column(rows, tags::kStudyInstanceUid), (V{"1.2.3.1", "1.2.3.2", "1.2.3.3"}));
  EXPECT_EQ(column(rows, tags::kNumberOfStudyRelatedSeries), (V{"2", "1", "2"}));
  EXPECT_EQ(column(rows, tags::kNumberOfStudyRelatedInstances), (V{"3", "1", "3"}));
  EXPECT_EQ(column(rows, tags::kModalitiesInStudy), (V{"CT\\PT", "MR", "CT\\SR"}));
  EXPECT_EQ(
      column(rows, tags::kSopClassesInStudy),
      (V{kPetImage + "\\" + kCtImage, kCtImage, kCtImage + "\\1.2.840.10008.5.1.4.1.1.88.11"}));
  // The levels above come along.
  EXPECT_EQ(column(rows, tags::kPatientName), (V{"Doe^John", "Doe^John", "Müller^Hans"}));
  EXPECT_EQ(column(rows, tags::kNumberOfPatientRelatedStudies), (V{"2", "2", "1"}));
  EXPECT_EQ(column(rows, tags::kAccessionNumber), (V{"ACC-001", "ACC-002", "XYZ-9"}));
  // Not asked for: not computed.
  const auto plain = find_all(*index_, Level::kStudy);
  EXPECT_EQ(plain[0].count(tags::kModalitiesInStudy), 0u);
  EXPECT_EQ(plain[0].count(tags::kNumberOfPatientRelatedStudies), 0u);
  EXPECT_EQ(column(plain, tags::kPatientName), (V{"Doe^John", "Doe^John", "Müller^Hans"}));
}

TEST_F(IndexTest, ModalitiesInStudyMatching) {
  store_sample();
  auto rows =
      find_all(*index_, Level::kStudy, {cond(tags::kModalitiesInStudy, ValueKind::kText, "PT")},
               {tags::kModalitiesInStudy});
  EXPECT_EQ(column(rows, tags::kStudyInstanceUid), (V{"1.2.3.1"}));
  // The whole list comes back, not just the matched value.
  EXPECT_EQ(column(rows, tags::kModalitiesInStudy), (V{"CT\\PT"}));
  rows = find_all(*index_, Level::kStudy, {cond(tags::kModalitiesInStudy, ValueKind::kText, "CT")});
  EXPECT_EQ(column(rows, tags::kStudyInstanceUid), (V{"1.2.3.1", "1.2.3.3"}));
  rows = find_all(*index_, Level::kStudy, {cond(tags::kModalitiesInStudy, ValueKind::kText, "M*")});
  EXPECT_EQ(column(rows, tags::kStudyInstanceUid), (V{"1.2.3.2"}));
  rows = find_all(*index_, Level::kStudy, {cond(tags::kModalitiesInStudy, ValueKind::kText, "US")});
  EXPECT_TRUE(rows.empty());
  rows = find_all(*index_, Level::kStudy,
                  {cond(tags::kSopClassesInStudy, ValueKind::kUid, kPetImage)});
  EXPECT_EQ(column(rows, tags::kStudyInstanceUid), (V{"1.2.3.1"}));
}

TEST_F(IndexTest, SeriesAndImageLevels) {
  store_sample();
  auto rows = find_all(*index_, Level::kSeries,
                       {cond(tags::kStudyInstanceUid, ValueKind::kUid, "1.2.3.1")});
  EXPECT_EQ(column(rows, tags::kSeriesInstanceUid), (V{"1.2.3.1.1", "1.2.3.1.2"}));
  EXPECT_EQ(column(rows, tags::kModality), (V{"CT", "PT"}));
  EXPECT_EQ(column(rows, tags::kNumberOfSeriesRelatedInstances), (V{"2", "1"}));
  EXPECT_EQ(column(rows, tags::kNumberOfStudyRelatedInstances), (V{"3", "3"}));
  EXPECT_EQ(column(rows, kBodyPartExamined), (V{"CHEST", "WHOLEBODY"}));

  rows = find_all(*index_, Level::kInstance,
                  {cond(tags::kStudyInstanceUid, ValueKind::kUid, "1.2.3.1"),
                   cond(tags::kSeriesInstanceUid, ValueKind::kUid, "1.2.3.1.1")});
  EXPECT_EQ(column(rows, tags::kSopInstanceUid), (V{"1.2.3.1.1.1", "1.2.3.1.1.2"}));
  EXPECT_EQ(column(rows, kAvailableTransferSyntax), (V{kExplicitLe, kExplicitLe}));
  EXPECT_EQ(column(rows, tags::kSopClassUid), (V{kCtImage, kCtImage}));
  EXPECT_EQ(column(rows, tags::kPatientId), (V{"P1", "P1"}));

  // Modality at SERIES level uses its column.
  rows = find_all(*index_, Level::kSeries, {cond(tags::kModality, ValueKind::kText, "CT")});
  EXPECT_EQ(column(rows, tags::kSeriesInstanceUid), (V{"1.2.3.1.1", "1.2.3.3.1"}));
  // Keys below the query level are not applied.
  rows = find_all(*index_, Level::kStudy, {cond(tags::kModality, ValueKind::kText, "MR")});
  EXPECT_EQ(rows.size(), 3u);
}

TEST_F(IndexTest, NonIndexedAttributesMatchThroughJson) {
  store_sample();
  // BodyPartExamined (0018,0015) at SERIES level.
  auto rows =
      find_all(*index_, Level::kSeries, {cond(kBodyPartExamined, ValueKind::kText, "HEAD")});
  EXPECT_EQ(column(rows, tags::kSeriesInstanceUid), (V{"1.2.3.2.1"}));
  rows = find_all(*index_, Level::kSeries, {cond(kBodyPartExamined, ValueKind::kText, "*BODY")});
  EXPECT_EQ(column(rows, tags::kSeriesInstanceUid), (V{"1.2.3.1.2"}));
  rows = find_all(*index_, Level::kSeries, {cond(kBodyPartExamined, ValueKind::kText, "chest")});
  EXPECT_TRUE(rows.empty());  // case-sensitive
  rows = find_all(*index_, Level::kSeries, {cond(kSeriesDescription, ValueKind::kText, "Thorax*")});
  EXPECT_EQ(column(rows, tags::kSeriesInstanceUid), (V{"1.2.3.1.1"}));

  // Image Type (multi-valued) at IMAGE level: any value may match.
  rows = find_all(*index_, Level::kInstance, {cond(kImageType, ValueKind::kText, "AXIAL")});
  EXPECT_EQ(column(rows, tags::kSopInstanceUid), (V{"1.2.3.1.1.1"}));
  rows = find_all(*index_, Level::kInstance, {cond(kImageType, ValueKind::kText, "DERIVED")});
  EXPECT_EQ(column(rows, tags::kSopInstanceUid), (V{"1.2.3.1.1.2"}));
  // Instance Number (IS) by numeric value.
  rows = find_all(*index_, Level::kInstance, {cond(tags::kInstanceNumber, ValueKind::kOther, "2")});
  EXPECT_EQ(column(rows, tags::kSopInstanceUid), (V{"1.2.3.1.1.2"}));
  // Attributes an entity does not have never match a non-universal key.
  rows = find_all(*index_, Level::kInstance, {cond(kImageType, ValueKind::kText, "*")});
  EXPECT_EQ(rows.size(), 7u);
  rows = find_all(*index_, Level::kInstance, {cond(kImageType, ValueKind::kText, "?*")});
  EXPECT_EQ(rows.size(), 2u);
}

TEST_F(IndexTest, PatientNameMatching) {
  store_sample();
  Spec s;
  s.patient_id = "P3";
  s.patient_name = "Yamada^Tarou=山田^太郎=やまだ^たろう";
  s.study_uid = "1.2.3.4";
  s.series_uid = "1.2.3.4.1";
  s.sop_uid = "1.2.3.4.1.1";
  std::vector<InstanceRecord> more = {make_record(s)};
  s.patient_id = "P4";
  s.patient_name = "Roe^Doe";
  s.study_uid = "1.2.3.5";
  s.series_uid = "1.2.3.5.1";
  s.sop_uid = "1.2.3.5.1.1";
  more.push_back(make_record(s));
  store(*index_, more);

  struct Case {
    std::string key;
    V patient_ids;
  };
  const Case cases[] = {
      {"DOE*", {"P1"}},
      {"doe*", {"P1"}},
      {"Doe^John", {"P1"}},
      {"doe^john^", {"P1"}},
      {"Doe", {}},
      {"*DOE", {"P4"}},
      {"*DOE*", {"P1", "P4"}},
      {"D?E^*", {"P1"}},
      {"MÜ*", {"P2"}},
      {"mü*", {"P2"}},
      {"müller^hans", {"P2"}},
      {"M?LLER*", {"P2"}},
      {"MU*", {}},
      {"山田^太郎", {"P3"}},
      {"山田*", {"P3"}},
      {"やまだ^たろう", {"P3"}},
      {"yamada^tarou", {"P3"}},
      {"YAMADA*", {"P3"}},
      {"Yamada^Tarou=山田^太郎=やまだ^たろう", {"P3"}},
      {"*", {"P1", "P2", "P3", "P4"}},
      {"[*", {}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE("PatientName key '" + c.key + "'");
    const auto rows = find_all(*index_, Level::kPatient,
                               {cond(tags::kPatientName, ValueKind::kPersonName, c.key)});
    EXPECT_EQ(column(rows, tags::kPatientId), c.patient_ids);
    // At STUDY level (Study Root) the patient key applies to every study of the patient.
    const auto studies =
        find_all(*index_, Level::kStudy, {cond(tags::kPatientName, ValueKind::kPersonName, c.key)});
    V study_patients = column(studies, tags::kPatientId);
    study_patients.erase(std::unique(study_patients.begin(), study_patients.end()),
                         study_patients.end());
    EXPECT_EQ(study_patients, c.patient_ids);
  }
}

TEST_F(IndexTest, StudyDateAndTime) {
  std::vector<InstanceRecord> rs;
  const std::pair<std::string, std::string> date_times[] = {
      {"20060101", "080000"}, {"2006.07.05", "1030"},   {"20061231", "180059"},
      {"20070101", "180100"}, {"20051231", "235959.5"},
  };
  int n = 0;
  for (const auto& [date, time] : date_times) {
    Spec s;
    s.study_uid = "1.9." + std::to_string(++n);
    s.series_uid = s.study_uid + ".1";
    s.sop_uid = s.study_uid + ".1.1";
    s.study_date = date;
    rs.push_back(make_record(s));
    level_attrs(rs.back(), Level::kStudy)[tags::kStudyTime] = time;
  }
  store(*index_, rs);
  struct Case {
    ValueKind kind;
    uint32_t tag;
    std::string key;
    V studies;
  };
  const Case cases[] = {
      {ValueKind::kDate, tags::kStudyDate, "20060705", {"1.9.2"}},
      {ValueKind::kDate, tags::kStudyDate, "2006.07.05", {"1.9.2"}},
      {ValueKind::kDate, tags::kStudyDate, "20060101-20061231", {"1.9.1", "1.9.2", "1.9.3"}},
      {ValueKind::kDate, tags::kStudyDate, "20060102-", {"1.9.2", "1.9.3", "1.9.4"}},
      {ValueKind::kDate, tags::kStudyDate, "-20060101", {"1.9.1", "1.9.5"}},
      {ValueKind::kDate, tags::kStudyDate, "20080101-", {}},
      {ValueKind::kTime, tags::kStudyTime, "1030", {"1.9.2"}},
      {ValueKind::kTime, tags::kStudyTime, "103000", {"1.9.2"}},
      {ValueKind::kTime, tags::kStudyTime, "1000-1800", {"1.9.2", "1.9.3"}},
      {ValueKind::kTime, tags::kStudyTime, "2300-", {"1.9.5"}},
      {ValueKind::kTime, tags::kStudyTime, "-0800", {"1.9.1"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE("key '" + c.key + "'");
    const Condition condition = cond(c.tag, c.kind, c.key);
    ASSERT_TRUE(condition.valid);
    EXPECT_EQ(column(find_all(*index_, Level::kStudy, {condition}), tags::kStudyInstanceUid),
              c.studies);
  }
  // Combined keys are ANDed.
  EXPECT_EQ(column(find_all(*index_, Level::kStudy,
                            {cond(tags::kStudyDate, ValueKind::kDate, "20060101-20061231"),
                             cond(tags::kStudyTime, ValueKind::kTime, "1200-")}),
                   tags::kStudyInstanceUid),
            (V{"1.9.3"}));
}

// BUG: a study without a Study Date matches a date range with only an upper bound ("-20061231")
// because the indexed column holds "" and SQL compares "" <= "20061231", while `matches` (the same
// definition for non-indexed attributes) never lets an empty value match a range. Same for
// study_time and the patients' birth_date column.
TEST_F(IndexTest, EmptyDateDoesNotMatchOpenRange) {
  Spec s;
  s.study_date = "";
  std::vector<InstanceRecord> rs = {make_record(s)};
  store(*index_, rs);
  ASSERT_FALSE(matches(cond(tags::kStudyDate, ValueKind::kDate, "-20061231"), ""));
  EXPECT_TRUE(
      find_all(*index_, Level::kStudy, {cond(tags::kStudyDate, ValueKind::kDate, "-20061231")})
          .empty());
  EXPECT_TRUE(find_all(*index_, Level::kStudy, {cond(tags::kStudyTime, ValueKind::kTime, "-1200")})
                  .empty());
  EXPECT_TRUE(find_all(*index_, Level::kPatient,
                       {cond(tags::kPatientBirthDate, ValueKind::kDate, "-20000101")})
                  .empty());
}

TEST_F(IndexTest, AccessionNumberAndUidList) {
  store_sample();
  auto rows =
      find_all(*index_, Level::kStudy, {cond(tags::kAccessionNumber, ValueKind::kText, "ACC-002")});
  EXPECT_EQ(column(rows, tags::kStudyInstanceUid), (V{"1.2.3.2"}));
  rows = find_all(*index_, Level::kStudy, {cond(tags::kAccessionNumber, ValueKind::kText, "ACC*")});
  EXPECT_EQ(column(rows, tags::kStudyInstanceUid), (V{"1.2.3.1", "1.2.3.2"}));
  rows = find_all(*index_, Level::kStudy, {cond(tags::kAccessionNumber, ValueKind::kText, "acc*")});
  EXPECT_TRUE(rows.empty());
  rows =
      find_all(*index_, Level::kStudy, {cond(tags::kAccessionNumber, ValueKind::kText, "ACC-00?")});
  EXPECT_EQ(rows.size(), 2u);

  rows = find_all(*index_, Level::kStudy,
                  {cond(tags::kStudyInstanceUid, ValueKind::kUid, "1.2.3.3\\1.2.3.1\\9.9")});
  EXPECT_EQ(column(rows, tags::kStudyInstanceUid), (V{"1.2.3.1", "1.2.3.3"}));  // stored order
  rows = find_all(*index_, Level::kInstance,
                  {cond(tags::kSopInstanceUid, ValueKind::kUid, "1.2.3.3.2.2\\1.2.3.1.2.1")});
  EXPECT_EQ(column(rows, tags::kSopInstanceUid), (V{"1.2.3.1.2.1", "1.2.3.3.2.2"}));

  // Patient-level keys at STUDY level: PatientID, sex.
  rows = find_all(*index_, Level::kStudy, {cond(tags::kPatientId, ValueKind::kText, "P2")});
  EXPECT_EQ(column(rows, tags::kStudyInstanceUid), (V{"1.2.3.3"}));
  rows = find_all(*index_, Level::kPatient, {cond(tags::kPatientSex, ValueKind::kText, "M")});
  EXPECT_EQ(column(rows, tags::kPatientId), (V{"P1", "P2"}));
  rows = find_all(*index_, Level::kPatient,
                  {cond(tags::kPatientBirthDate, ValueKind::kDate, "19600101-19800101")});
  EXPECT_EQ(column(rows, tags::kPatientId), (V{"P1"}));
}

TEST_F(IndexTest, DuplicateOverwrite) {
  Spec s;
  std::vector<InstanceRecord> first = {make_record(s)};
  first[0].file_path = "old.dcm";
  store(*index_, first);

  std::vector<InstanceRecord> second = {make_record(s)};
  second[0].file_path = "new.dcm";
  level_attrs(second[0], Level::kInstance)[tags::kInstanceNumber] = "5";
  const auto results = store(*index_, second, DuplicatePolicy::kOverwrite);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, StoreOutcome::kReplaced);
  EXPECT_EQ(results[0].obsolete_file, "old.dcm");
  EXPECT_EQ(index_->pending_files(), (V{"old.dcm"}));
  EXPECT_FALSE(index_->is_file_referenced("old.dcm"));
  EXPECT_TRUE(index_->is_file_referenced("new.dcm"));
  EXPECT_EQ(index_->file_of_instance(s.sop_uid), "new.dcm");

  const auto c = index_->counts();
  EXPECT_EQ(c.patients, 1);
  EXPECT_EQ(c.studies, 1);
  EXPECT_EQ(c.series, 1);
  EXPECT_EQ(c.instances, 1);
  const auto rows = find_all(*index_, Level::kInstance, {}, kPatientCounts);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(column(rows, tags::kInstanceNumber), (V{"5"}));
  EXPECT_EQ(column(rows, tags::kNumberOfSeriesRelatedInstances), (V{"1"}));
  EXPECT_EQ(column(rows, tags::kNumberOfStudyRelatedInstances), (V{"1"}));
  EXPECT_EQ(column(rows, tags::kNumberOfPatientRelatedInstances), (V{"1"}));
  EXPECT_EQ(column(rows, tags::kNumberOfPatientRelatedStudies), (V{"1"}));
}

TEST_F(IndexTest, DuplicateOverwriteKeepsCountsOfSiblings) {
  store_sample();
  // Replace one of the two CT images of study A; then move the PT image to a new series.
  Spec s;
  s.sop_uid = "1.2.3.1.1.2";
  std::vector<InstanceRecord> rs = {make_record(s)};
  rs[0].file_path = "replacement.dcm";
  Spec moved;
  moved.series_uid = "1.2.3.1.9";
  moved.modality = "PT";
  moved.sop_uid = "1.2.3.1.2.1";
  rs.push_back(make_record(moved));
  rs[1].file_path = "moved.dcm";
  const auto results = store(*index_, rs);
  EXPECT_EQ(results[0].outcome, StoreOutcome::kReplaced);
  EXPECT_EQ(results[1].outcome, StoreOutcome::kReplaced);
  EXPECT_EQ(results[1].obsolete_file, "f/1.2.3.1.2.1.dcm");

  const auto c = index_->counts();
  EXPECT_EQ(c.patients, 2);
  EXPECT_EQ(c.studies, 3);
  EXPECT_EQ(c.series, 5);  // 1.2.3.1.2 emptied and removed, 1.2.3.1.9 added
  EXPECT_EQ(c.instances, 7);
  const auto series =
      find_all(*index_, Level::kSeries, {cond(tags::kStudyInstanceUid, ValueKind::kUid, "1.2.3.1")},
               kPatientCounts);
  EXPECT_EQ(column(series, tags::kSeriesInstanceUid), (V{"1.2.3.1.1", "1.2.3.1.9"}));
  EXPECT_EQ(column(series, tags::kNumberOfSeriesRelatedInstances), (V{"2", "1"}));
  EXPECT_EQ(column(series, tags::kNumberOfStudyRelatedSeries), (V{"2", "2"}));
  EXPECT_EQ(column(series, tags::kNumberOfStudyRelatedInstances), (V{"3", "3"}));
  EXPECT_EQ(column(series, tags::kNumberOfPatientRelatedSeries), (V{"3", "3"}));
  EXPECT_EQ(column(series, tags::kNumberOfPatientRelatedInstances), (V{"4", "4"}));
  const auto pending = index_->pending_files();
  EXPECT_EQ(std::set<std::string>(pending.begin(), pending.end()),
            (std::set<std::string>{"f/1.2.3.1.1.2.dcm", "f/1.2.3.1.2.1.dcm"}));
}

TEST_F(IndexTest, DuplicateKeep) {
  Spec s;
  std::vector<InstanceRecord> first = {make_record(s)};
  first[0].file_path = "old.dcm";
  store(*index_, first, DuplicatePolicy::kKeep);

  std::vector<InstanceRecord> second = {make_record(s)};
  second[0].file_path = "new.dcm";
  const auto results = store(*index_, second, DuplicatePolicy::kKeep);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, StoreOutcome::kKeptExisting);
  // The new file was never referenced: nothing is journalled for it, the caller drops it.
  EXPECT_EQ(results[0].obsolete_file, "");
  EXPECT_TRUE(index_->pending_files().empty());
  EXPECT_EQ(index_->file_of_instance(s.sop_uid), "old.dcm");
  EXPECT_TRUE(index_->is_file_referenced("old.dcm"));
  EXPECT_FALSE(index_->is_file_referenced("new.dcm"));
  EXPECT_EQ(index_->counts().instances, 1);
}

TEST_F(IndexTest, DuplicateWithinOneBatch) {
  Spec s;
  std::vector<InstanceRecord> rs = {make_record(s), make_record(s)};
  rs[0].file_path = "a.dcm";
  rs[1].file_path = "b.dcm";
  const auto results = store(*index_, rs);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].outcome, StoreOutcome::kStored);
  EXPECT_EQ(results[0].obsolete_file, "");
  EXPECT_EQ(results[1].outcome, StoreOutcome::kReplaced);
  EXPECT_EQ(results[1].obsolete_file, "a.dcm");
  EXPECT_EQ(index_->counts().instances, 1);
  EXPECT_EQ(index_->file_of_instance(s.sop_uid), "b.dcm");
}

TEST_F(IndexTest, BeforeReplacingRunsOnceBeforeTheFirstReplacementIsCommitted) {
  // The ingest pipeline flushes the batch's files in this callback (archive/ingest_pipeline.h).
  Spec first, second, third;
  second.sop_uid = "1.2.3.1.1.2";
  third.sop_uid = "1.2.3.1.1.3";
  int calls = 0;
  auto count_calls = [&] { ++calls; };
  std::vector<InstanceRecord> fresh = {make_record(first), make_record(second)};
  std::vector<const InstanceRecord*> pointers;
  for (const auto& r : fresh) pointers.push_back(&r);
  index_->store_instances(pointers, DuplicatePolicy::kOverwrite, count_calls);
  EXPECT_EQ(calls, 0) << "nothing was replaced";

  std::vector<InstanceRecord> again = {make_record(third), make_record(first), make_record(second)};
  again[1].file_path = "f/new-first.dcm";
  again[2].file_path = "f/new-second.dcm";
  pointers.clear();
  for (const auto& r : again) pointers.push_back(&r);
  bool committed_at_call = true;
  std::string first_file_at_call;
  index_->store_instances(pointers, DuplicatePolicy::kOverwrite, [&] {
    ++calls;
    committed_at_call = index_->has_instance(third.sop_uid);  // another connection's view
    first_file_at_call = index_->file_of_instance(first.sop_uid).value_or("");
  });
  EXPECT_EQ(calls, 1) << "once per batch, however many replacements";
  EXPECT_FALSE(committed_at_call) << "called inside the batch's transaction";
  EXPECT_EQ(first_file_at_call, "f/" + first.sop_uid + ".dcm") << "before the replacement";
  EXPECT_EQ(index_->file_of_instance(first.sop_uid), "f/new-first.dcm");

  pointers.resize(1);
  pointers[0] = &again[1];
  index_->store_instances(pointers, DuplicatePolicy::kKeep, count_calls);
  EXPECT_EQ(calls, 1) << "a kept duplicate replaces nothing";
}

TEST_F(IndexTest, PendingFilesJournalReplacedFiles) {
  std::vector<InstanceRecord> rs;
  for (const char* sop : {"1.1", "1.2", "1.3"}) {
    Spec s;
    s.sop_uid = sop;
    rs.push_back(make_record(s));
  }
  store(*index_, rs);
  EXPECT_TRUE(index_->pending_files().empty());
  // Replace all three; their old files are journalled in the same transaction.
  for (auto& r : rs) r.file_path += ".new";
  const auto results = store(*index_, rs);
  for (const auto& r : results) EXPECT_EQ(r.outcome, StoreOutcome::kReplaced);
  auto pending = index_->pending_files();
  std::sort(pending.begin(), pending.end());
  EXPECT_EQ(pending, (V{"f/1.1.dcm", "f/1.2.dcm", "f/1.3.dcm"}));
  for (const auto& p : pending) EXPECT_FALSE(index_->is_file_referenced(p));
  EXPECT_TRUE(index_->is_file_referenced("f/1.2.dcm.new"));

  index_->remove_pending_files({"f/1.2.dcm", "missing"});
  index_->remove_pending_files({});
  pending = index_->pending_files();
  std::sort(pending.begin(), pending.end());
  EXPECT_EQ(pending, (V{"f/1.1.dcm", "f/1.3.dcm"}));
  index_->remove_pending_files(pending);
  EXPECT_TRUE(index_->pending_files().empty());
}

TEST_F(IndexTest, PatientsAreKeyedByIdAndIssuer) {
  Spec s;
  std::vector<InstanceRecord> rs = {make_record(s)};
  level_attrs(rs[0], Level::kPatient)[tags::kIssuerOfPatientId] = "HOSP-A";
  s.study_uid = "1.2.3.7";
  s.series_uid = "1.2.3.7.1";
  s.sop_uid = "1.2.3.7.1.1";
  rs.push_back(make_record(s));
  level_attrs(rs[1], Level::kPatient)[tags::kIssuerOfPatientId] = "HOSP-B";
  store(*index_, rs);
  const auto rows = find_all(*index_, Level::kPatient);
  EXPECT_EQ(column(rows, tags::kIssuerOfPatientId), (V{"HOSP-A", "HOSP-B"}));
  EXPECT_EQ(column(rows, tags::kNumberOfPatientRelatedStudies), (V{"1", "1"}));
}

// HL7 A40 sequences: the index keeps no merge links, so a repeated, reversed or circular merge
// only moves studies again; none is lost, and a self merge changes nothing.
TEST_F(IndexTest, MergesRepeatedReversedCircularAndSelfKeepEveryStudy) {
  store_sample();  // P1: 2 studies, P2: 1 study
  const auto patients = [&] {
    const auto rows = find_all(*index_, Level::kPatient);
    std::vector<std::string> out;
    for (const auto& r : rows)
      out.push_back(r.at(tags::kPatientId) + ":" + r.at(tags::kNumberOfPatientRelatedStudies));
    return out;
  };
  const auto studies_of = [&](const std::string& id) {
    size_t n = 0;
    for (const auto& r : find_all(*index_, Level::kStudy)) n += r.at(tags::kPatientId) == id;
    return n;
  };
  EXPECT_FALSE(index_->merge_patient("P9", "P1"));  // unknown prior patient
  EXPECT_TRUE(index_->merge_patient("P1", "P2"));
  EXPECT_EQ(patients(), (V{"P2:3"}));
  EXPECT_FALSE(index_->merge_patient("P1", "P2"));  // repeated: nothing left under P1
  EXPECT_TRUE(index_->merge_patient("P2", "P1"));   // reversed
  EXPECT_EQ(patients(), (V{"P1:3"}));
  EXPECT_TRUE(index_->merge_patient("P1", "P3"));  // a cycle P1 -> P3 -> P4 -> P1
  EXPECT_TRUE(index_->merge_patient("P3", "P4"));
  EXPECT_TRUE(index_->merge_patient("P4", "P1"));
  EXPECT_EQ(patients(), (V{"P1:3"}));
  EXPECT_TRUE(index_->merge_patient("P1", "P1"));  // self: unchanged
  EXPECT_EQ(patients(), (V{"P1:3"}));
  EXPECT_EQ(studies_of("P1"), 3u);
  EXPECT_EQ(find_all(*index_, Level::kInstance).size(), 7u);
}

TEST_F(IndexTest, PagingReturnsEveryRowOnceInOrder) {
  constexpr int kInstances = 700;  // the index pages by 256
  std::vector<InstanceRecord> rs;
  for (int i = 0; i < kInstances; ++i) {
    Spec s;
    char uid[32];
    std::snprintf(uid, sizeof uid, "1.2.3.1.1.%d", 1000 + i);
    s.sop_uid = uid;
    rs.push_back(make_record(s));
    level_attrs(rs.back(), Level::kInstance)[tags::kInstanceNumber] = std::to_string(i % 2);
  }
  // Several batches, like several associations.
  for (int start = 0; start < kInstances; start += 250) {
    std::vector<InstanceRecord> batch(rs.begin() + start,
                                      rs.begin() + std::min(start + 250, kInstances));
    store(*index_, batch);
  }
  V expected;
  for (const auto& r : rs) expected.push_back(r.get(Level::kInstance, tags::kSopInstanceUid));

  const auto rows = find_all(*index_, Level::kInstance,
                             {cond(tags::kSeriesInstanceUid, ValueKind::kUid, "1.2.3.1.1")});
  EXPECT_EQ(column(rows, tags::kSopInstanceUid), expected);
  EXPECT_EQ(column(rows, tags::kNumberOfSeriesRelatedInstances)[0], std::to_string(kInstances));

  // With a JSON-matched key filtering half of them, across pages.
  const auto odd =
      find_all(*index_, Level::kInstance, {cond(tags::kInstanceNumber, ValueKind::kOther, "1")});
  V expected_odd;
  for (int i = 1; i < kInstances; i += 2) expected_odd.push_back(expected[i]);
  EXPECT_EQ(column(odd, tags::kSopInstanceUid), expected_odd);

  // Exactly a page and exactly two pages.
  for (int limit : {256, 512}) {
    SCOPED_TRACE(limit);
    TempDir other_dir;
    Index other(other_dir.path() / "i.sqlite");
    std::vector<InstanceRecord> part(rs.begin(), rs.begin() + limit);
    store(other, part);
    EXPECT_EQ(find_all(other, Level::kInstance).size(), static_cast<size_t>(limit));
  }
}

TEST_F(IndexTest, PagingAtStudyLevel) {
  std::vector<InstanceRecord> rs;
  for (int i = 0; i < 300; ++i) {
    Spec s;
    s.study_uid = "1.5." + std::to_string(i);
    s.series_uid = s.study_uid + ".1";
    s.sop_uid = s.study_uid + ".1.1";
    rs.push_back(make_record(s));
  }
  store(*index_, rs);
  const auto rows = find_all(*index_, Level::kStudy, {}, {tags::kModalitiesInStudy});
  ASSERT_EQ(rows.size(), 300u);
  for (int i = 0; i < 300; ++i) {
    EXPECT_EQ(rows[i].at(tags::kStudyInstanceUid), "1.5." + std::to_string(i));
    EXPECT_EQ(rows[i].at(tags::kModalitiesInStudy), "CT");
  }
  EXPECT_EQ(column(find_all(*index_, Level::kPatient), tags::kNumberOfPatientRelatedStudies),
            (V{"300"}));
}

TEST_F(IndexTest, CallbackReturningFalseStops) {
  std::vector<InstanceRecord> rs;
  for (int i = 0; i < 600; ++i) {
    Spec s;
    s.sop_uid = "1.2.3.1.1." + std::to_string(i);
    rs.push_back(make_record(s));
  }
  store(*index_, rs);
  for (int stop_after : {1, 256, 300}) {
    SCOPED_TRACE(stop_after);
    FindQuery q;
    q.level = Level::kInstance;
    int calls = 0;
    std::string last;
    index_->find(q, [&](FindMatch&& m) {
      ++calls;
      last = m.attributes.at(tags::kSopInstanceUid);
      return calls < stop_after;
    });
    EXPECT_EQ(calls, stop_after);
    EXPECT_EQ(last, "1.2.3.1.1." + std::to_string(stop_after - 1));
  }
  // The index is usable afterwards (no read transaction left open on the writer's way).
  std::vector<InstanceRecord> more = {make_record(Spec{})};
  more[0].attributes[static_cast<int>(Level::kInstance)][tags::kSopInstanceUid] = "9.9.9";
  more[0].file_path = "9.9.9.dcm";
  store(*index_, more);
  EXPECT_EQ(index_->counts().instances, 601);
}

TEST_F(IndexTest, SecondIndexOnTheSameFileSeesTheData) {
  store_sample();
  {
    Index other(file());  // another process, in effect
    EXPECT_EQ(other.counts().instances, 7);
    EXPECT_EQ(column(find_all(other, Level::kStudy,
                              {cond(tags::kPatientName, ValueKind::kPersonName, "müller*")}),
                     tags::kStudyInstanceUid),
              (V{"1.2.3.3"}));
    Spec s;
    s.patient_id = "P9";
    s.study_uid = "1.2.3.9";
    s.series_uid = "1.2.3.9.1";
    s.sop_uid = "1.2.3.9.1.1";
    std::vector<InstanceRecord> rs = {make_record(s)};
    store(other, rs);
    rs[0].file_path = "from-other.dcm";
    store(other, rs);  // a replacement: the first file is journalled
  }
  // Written by the other one: visible here, also through a pooled reader used before.
  EXPECT_EQ(index_->counts().instances, 8);
  EXPECT_EQ(index_->counts().patients, 3);
  EXPECT_TRUE(index_->has_instance("1.2.3.9.1.1"));
  EXPECT_EQ(column(find_all(*index_, Level::kStudy,
                            {cond(tags::kStudyInstanceUid, ValueKind::kUid, "1.2.3.9")}),
                   tags::kPatientId),
            (V{"P9"}));
  EXPECT_EQ(index_->pending_files(), (V{"f/1.2.3.9.1.1.dcm"}));
  EXPECT_EQ(index_->file_of_instance("1.2.3.9.1.1"), "from-other.dcm");
}

TEST_F(IndexTest, ReopenKeepsData) {
  store_sample();
  index_.reset();
  index_ = std::make_unique<Index>(file());
  EXPECT_EQ(index_->counts().instances, 7);
  EXPECT_EQ(find_all(*index_, Level::kSeries).size(), 5u);
}

TEST_F(IndexTest, StoreIsAllOrNothing) {
  store_sample();
  // The second record reuses a file path already indexed (UNIQUE): the whole batch fails.
  Spec a;
  a.sop_uid = "7.7.7.1";
  Spec b;
  b.sop_uid = "7.7.7.2";
  std::vector<InstanceRecord> rs = {make_record(a), make_record(b)};
  rs[1].file_path = "f/1.2.3.1.1.1.dcm";
  EXPECT_ANY_THROW(store(*index_, rs));
  EXPECT_EQ(index_->counts().instances, 7);
  EXPECT_FALSE(index_->has_instance("7.7.7.1"));
  // And the writer is still usable.
  rs[1].file_path = "f/7.7.7.2.dcm";
  store(*index_, rs);
  EXPECT_EQ(index_->counts().instances, 9);
}

}  // namespace

namespace {

TEST_F(IndexTest, DeleteSeriesUpdatesCountsAndJournalsFiles) {
  store_sample();
  const auto files = index_->delete_entity(Level::kSeries, "1.2.3.1.1");
  EXPECT_EQ(files.size(), 2u);
  // The files are journalled until the caller deletes them.
  auto pending = index_->pending_files();
  std::sort(pending.begin(), pending.end());
  auto expected = files;
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(pending, expected);
  // Study A keeps its PT series; its counts follow.
  const auto studies =
      find_all(*index_, Level::kStudy, {cond(tags::kStudyInstanceUid, ValueKind::kUid, "1.2.3.1")},
               {tags::kModalitiesInStudy});
  ASSERT_EQ(studies.size(), 1u);
  EXPECT_EQ(studies[0].at(tags::kNumberOfStudyRelatedSeries), "1");
  EXPECT_EQ(studies[0].at(tags::kNumberOfStudyRelatedInstances), "1");
  EXPECT_EQ(studies[0].at(tags::kModalitiesInStudy), "PT");  // the CT series is gone
  EXPECT_FALSE(index_->has_instance("1.2.3.1.1.1"));
}

TEST_F(IndexTest, StatisticsSampleTheLevelTablesAndNeverCountTheChangeLog) {
  // A table without an index is counted row by row by ANALYZE, whatever analysis_limit says; the
  // change log has a row per stored instance, so counting it made start-up read the whole log.
  store_sample();
  index_->refresh_statistics();
  index_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file().c_str(), &db), SQLITE_OK);
  auto count = [db](const char* table) {
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_stat1 WHERE tbl = ?", -1, &stmt, nullptr);
    sqlite3_bind_text(stmt, 1, table, -1, SQLITE_STATIC);
    const int n = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int(stmt, 0) : -1;
    sqlite3_finalize(stmt);
    return n;
  };
  EXPECT_GT(count("studies"), 0);
  EXPECT_GT(count("instances"), 0);
  EXPECT_EQ(count("changes"), 0);
  sqlite3_close(db);
}

TEST_F(IndexTest, AnIndexOfSchemaVersion5GainsModalitiesInStudyInTheStudiesRow) {
  store_sample();
  index_.reset();
  {  // What Ossa's schema 5 had: ModalitiesInStudy computed per match, no studies.modalities.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(file().c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "ALTER TABLE studies DROP COLUMN modalities; PRAGMA user_version=5;",
                           nullptr, nullptr, nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(db);
    sqlite3_close(db);
  }
  index_ = std::make_unique<Index>(file());
  const auto rows = find_all(*index_, Level::kStudy, {}, {tags::kModalitiesInStudy});
  EXPECT_EQ(column(rows, tags::kModalitiesInStudy), (V{"CT\\PT", "MR", "CT\\SR"}));
  // And it is kept from then on: a new series of another modality joins its study's list.
  Spec us;
  us.study_uid = "1.2.3.2";
  us.study_date = "20070110";
  us.series_uid = "1.2.3.2.9";
  us.modality = "US";
  us.sop_uid = "1.2.3.2.9.1";
  store(*index_, {make_record(us)});
  const auto study =
      find_all(*index_, Level::kStudy, {cond(tags::kStudyInstanceUid, ValueKind::kUid, "1.2.3.2")},
               {tags::kModalitiesInStudy});
  ASSERT_EQ(study.size(), 1u);
  EXPECT_EQ(study[0].at(tags::kModalitiesInStudy), "MR\\US");
}

// Study-level answers read the patient's attributes from the copy in the studies row; it follows
// every change of the patient (demographics update, merge) and of the study's patient.
TEST_F(IndexTest, StudiesCarryTheirPatientsCurrentAttributes) {
  store_sample();  // P1 (Doe^John): studies 1.2.3.1 and 1.2.3.2; P2 (Müller^Hans): 1.2.3.3
  const auto names = [&](Level level) {
    return column(find_all(*index_, level), tags::kPatientName);
  };
  ASSERT_TRUE(index_->update_patient("P1", {{tags::kPatientName, "Doe^Jonathan"}}));
  EXPECT_EQ(names(Level::kStudy), (V{"Doe^Jonathan", "Doe^Jonathan", "Müller^Hans"}));
  EXPECT_EQ(names(Level::kSeries).front(), "Doe^Jonathan");
  EXPECT_EQ(names(Level::kInstance).front(), "Doe^Jonathan");
  // Name matching runs on the patients row; answers and matches agree.
  const auto found = find_all(*index_, Level::kStudy,
                              {cond(tags::kPatientName, ValueKind::kPersonName, "DOE^JONATHAN")});
  EXPECT_EQ(column(found, tags::kStudyInstanceUid), (V{"1.2.3.1", "1.2.3.2"}));
  // Merged into P2: the moved studies answer with P2's attributes.
  ASSERT_TRUE(index_->merge_patient("P1", "P2"));
  const auto merged = find_all(*index_, Level::kStudy);
  EXPECT_EQ(column(merged, tags::kPatientId), (V{"P2", "P2", "P2"}));
  EXPECT_EQ(column(merged, tags::kPatientName), (V{"Müller^Hans", "Müller^Hans", "Müller^Hans"}));
  // Merged into an unknown ID: the patient takes it, its studies follow.
  ASSERT_TRUE(index_->merge_patient("P2", "P7"));
  EXPECT_EQ(column(find_all(*index_, Level::kStudy), tags::kPatientId), (V{"P7", "P7", "P7"}));
}

TEST_F(IndexTest, AnIndexOfSchemaVersion6GainsThePatientsAttributesInTheStudiesRow) {
  store_sample();
  index_.reset();
  {  // What Ossa's schema 6 had: no studies.patient_attrs and no triggers keeping it.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(file().c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "DROP TRIGGER studies_patient_attrs_on_insert; "
                           "DROP TRIGGER studies_patient_attrs_on_move; "
                           "DROP TRIGGER studies_patient_attrs_on_update; "
                           "ALTER TABLE studies DROP COLUMN patient_attrs; PRAGMA user_version=6;",
                           nullptr, nullptr, nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(db);
    sqlite3_close(db);
  }
  index_ = std::make_unique<Index>(file());
  EXPECT_EQ(column(find_all(*index_, Level::kStudy), tags::kPatientName),
            (V{"Doe^John", "Doe^John", "Müller^Hans"}));
  // And kept from then on.
  ASSERT_TRUE(index_->update_patient("P2", {{tags::kPatientSex, "M"}}));
  EXPECT_EQ(column(find_all(*index_, Level::kStudy), tags::kPatientSex).back(), "M");
}

// Hundreds of matches are read a page (one read transaction) at a time: every answer in order,
// and a caller that stops early (C-CANCEL) leaves the index fully usable.
TEST_F(IndexTest, ManyMatchesComeInPagesInOrderAndCanStopEarly) {
  std::vector<InstanceRecord> rs;
  for (int i = 0; i < 700; ++i) {
    Spec s;
    s.patient_id = "P" + std::to_string(i % 7);
    s.study_uid = "1.2.9." + std::to_string(i);
    s.series_uid = s.study_uid + ".1";
    s.sop_uid = s.series_uid + ".1";
    rs.push_back(make_record(s));
  }
  store(*index_, rs);
  const auto rows = find_all(*index_, Level::kStudy, {}, kPatientCounts);
  ASSERT_EQ(rows.size(), 700u);
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].at(tags::kStudyInstanceUid), "1.2.9." + std::to_string(i));
    EXPECT_EQ(rows[i].at(tags::kPatientId), "P" + std::to_string(i % 7));
    EXPECT_EQ(rows[i].at(tags::kNumberOfPatientRelatedStudies), "100");
  }
  FindQuery q;
  q.level = Level::kStudy;
  for (int attempt = 0; attempt < 20; ++attempt) {  // each leaves a reader behind if it leaks
    size_t seen = 0;
    index_->find(q, [&](FindMatch&&) { return ++seen < 70; });
    EXPECT_EQ(seen, 70u);
  }
  EXPECT_EQ(find_all(*index_, Level::kStudy).size(), 700u);
  Spec more;
  more.study_uid = "1.2.9.999";
  more.series_uid = "1.2.9.999.1";
  more.sop_uid = "1.2.9.999.1.1";
  store(*index_, {make_record(more)});  // and the index still takes new instances
  EXPECT_EQ(find_all(*index_, Level::kStudy).size(), 701u);
}

TEST_F(IndexTest, DeletePatientRemovesEverythingUnderIt) {
  store_sample();
  const auto files = index_->delete_entity(Level::kPatient, "P1");
  EXPECT_EQ(files.size(), 4u);
  EXPECT_EQ(column(find_all(*index_, Level::kPatient), tags::kPatientId), V{"P2"});
  EXPECT_TRUE(index_->delete_entity(Level::kStudy, "1.2.3.1").empty());  // already gone
  // A deleted instance can be stored again.
  Spec again;
  again.sop_uid = "1.2.3.1.1.1";
  const auto results = store(*index_, {make_record(again)});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, StoreOutcome::kStored);
}

TEST_F(IndexTest, JobsWithAnOriginKeyAreQueuedOnceAndFinishedTogether) {
  ossa::index::Job job;
  job.kind = "send";
  job.node = "PACS2";
  job.level = "IMAGE";
  job.uids = "1.2.3.1.1.1";
  job.origin_key = "routing|send|PACS2|IMAGE||1.2.3.1.1.1";
  const int64_t first = index_->add_job(job, ossa::index::Durability::kDeferred);
  EXPECT_EQ(index_->add_job(job, ossa::index::Durability::kDeferred), first);  // asked again
  EXPECT_EQ(index_->add_job(job), first);
  job.origin_key.clear();
  const int64_t unkeyed = index_->add_job(job);  // without a key every call is a new job
  EXPECT_NE(unkeyed, first);
  EXPECT_NE(index_->add_job(job), unkeyed);
  EXPECT_EQ(index_->jobs().size(), 3u);

  std::vector<ossa::index::Job> claimed = index_->claim_jobs(1000, 64);
  ASSERT_EQ(claimed.size(), 3u);
  EXPECT_TRUE(index_->cancel_job(claimed[2].id));  // cancelled meanwhile: stays cancelled
  for (auto& j : claimed) {
    j.total = 1;
    j.completed = 1;
    j.state = "done";
  }
  claimed[1].failed = 1;
  claimed[1].completed = 0;
  claimed[1].state = "failed";
  claimed[1].error = "1 instance(s) not accepted";
  index_->finish_jobs(claimed);
  EXPECT_EQ(index_->job(claimed[0].id)->state, "done");
  EXPECT_EQ(index_->job(claimed[0].id)->completed, 1);
  EXPECT_EQ(index_->job(claimed[1].id)->state, "failed");
  EXPECT_EQ(index_->job(claimed[1].id)->error, "1 instance(s) not accepted");
  EXPECT_EQ(index_->job(claimed[2].id)->state, "cancelled");
  EXPECT_EQ(index_->job(claimed[2].id)->total, 1);

  // A keyed job that gave up (or was cancelled) does not stop the same request for good.
  job.origin_key = "routing|send|PACS2|IMAGE||1.2.3.1.1.2";
  const int64_t gave_up = index_->add_job(job);
  index_->finish_job(gave_up, "failed", "node down");
  const int64_t again = index_->add_job(job);
  EXPECT_NE(again, gave_up);
  EXPECT_EQ(index_->add_job(job), again);
}

TEST_F(IndexTest, AnIndexOfSchemaVersion4GainsTheJobsOriginKey) {
  index_.reset();
  {  // What Ossa's schema 4 had: no origin_key column.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(file().c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "DROP INDEX jobs_origin_key; ALTER TABLE jobs DROP COLUMN origin_key;"
                           "PRAGMA user_version=4;",
                           nullptr, nullptr, nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(db);
    sqlite3_close(db);
  }
  index_ = std::make_unique<Index>(file());
  ossa::index::Job job;
  job.kind = "send";
  job.node = "PACS2";
  job.level = "IMAGE";
  job.uids = "1.2.3.1.1.1";
  job.origin_key = "routing|send|PACS2|IMAGE||1.2.3.1.1.1";
  const int64_t id = index_->add_job(job);
  EXPECT_EQ(index_->add_job(job), id);
}

TEST_F(IndexTest, JobsAreClaimedOnceRetriedAndRequeued) {
  ossa::index::Job job;
  job.kind = "send";
  job.node = "PACS2";
  job.level = "STUDY";
  job.uids = "1.2.3.1";
  const int64_t id = index_->add_job(job);
  auto claimed = index_->claim_job(1000);
  ASSERT_TRUE(claimed);
  EXPECT_EQ(claimed->id, id);
  EXPECT_EQ(claimed->state, "running");
  EXPECT_EQ(claimed->attempts, 1);
  EXPECT_FALSE(index_->claim_job(1000));  // running jobs are not handed out twice
  index_->retry_job(id, "unreachable", 2000);
  EXPECT_FALSE(index_->claim_job(1999));  // backoff
  ASSERT_TRUE(index_->claim_job(2000));
  index_->update_job_progress(id, 10, 4, 1);
  EXPECT_EQ(index_->requeue_running_jobs(), 1u);  // a restart resumes it
  auto again = index_->claim_job(3000);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->completed, 4);
  EXPECT_EQ(again->failed, 1);
  EXPECT_TRUE(index_->cancel_job(id));
  index_->finish_job(id, "done", "");
  EXPECT_EQ(index_->job(id)->state, "cancelled");  // a cancelled job stays cancelled
  EXPECT_EQ(index_->jobs().size(), 1u);
}

TEST_F(IndexTest, DueSendsToOneNodeAreClaimedTogether) {
  const auto add = [&](const std::string& kind, const std::string& node, const std::string& uid) {
    ossa::index::Job job;
    job.kind = kind;
    job.node = node;
    job.level = "IMAGE";
    job.uids = uid;
    return index_->add_job(job);
  };
  const int64_t a = add("send", "PACS2", "1.1");
  add("send", "OTHER", "1.2");
  const int64_t c = add("send", "PACS2", "1.3");
  add("retrieve", "PACS2", "1.4");
  const int64_t e = add("send", "PACS2", "1.5");
  add("send", "PACS2", "1.6");
  index_->retry_job(e, "x", 0);  // not running: stays as it is
  auto batch = index_->claim_jobs(1000, 3);
  ASSERT_EQ(batch.size(), 3u);  // the oldest, then the next sends to the same node, at most 3
  EXPECT_EQ(batch[0].id, a);
  EXPECT_EQ(batch[1].id, c);
  EXPECT_EQ(batch[2].id, e);
  for (auto& job : batch) {
    EXPECT_EQ(index_->job(job.id)->state, "running");
    job.total = 1;
    job.completed = 1;
  }
  index_->record_job_progress(batch);
  EXPECT_EQ(index_->job(c)->completed, 1);
  // The next claim starts with the oldest left (to OTHER) and takes no send to another node.
  auto next = index_->claim_jobs(1000, 64);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].node, "OTHER");
  // A retrieve is never batched.
  next = index_->claim_jobs(1000, 64);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].kind, "retrieve");
}

// The interface as the rest of Ossa gets it: open_index() gives the SQLite backend, whose failures
// arrive as the neutral index::Error and whose liveness check runs without the Index.
TEST_F(IndexTest, OpenIndexAndNeutralErrors) {
  index_.reset();
  std::unique_ptr<ossa::index::Index> idx =
      ossa::index::open_index({ossa::index::Backend::kSqlite, file()});
  EXPECT_EQ(idx->counts().instances, 0);
  idx->put_node({"A", "AET_A", "host", 104, true, false, false, false});
  try {
    idx->put_node({"B", "AET_A", "host", 105, true, false, false, false});
    ADD_FAILURE() << "a second node with the same AE title was accepted";
  } catch (const ossa::index::Error& e) {
    EXPECT_FALSE(e.retryable());
    EXPECT_FALSE(e.storage_full());
  }
  auto check = idx->liveness_check(std::chrono::milliseconds(500));
  idx.reset();  // the check holds what it needs
  const ossa::index::Liveness alive = check();
  EXPECT_TRUE(alive.alive) << alive.reason;
  const ossa::index::Liveness missing =
      Index::probe(dir_.path() / "missing.sqlite", std::chrono::milliseconds(500));
  EXPECT_FALSE(missing.alive);
  EXPECT_NE(missing.reason.find("does not exist"), std::string::npos) << missing.reason;
  EXPECT_FALSE(fs::exists(dir_.path() / "missing.sqlite"));  // never created by the check
}

}  // namespace
