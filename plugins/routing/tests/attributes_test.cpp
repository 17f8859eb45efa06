// The keyword table of the routing plugin and the level each attribute is kept at.

#include "attributes.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace {

using ossa::routing::attribute_by_keyword;
using ossa::routing::attribute_by_tag;
using ossa::routing::AttrLevel;
using ossa::routing::index_level_of_tag;
using ossa::routing::parse_tag_text;
using ossa::routing::tag_text;
using ossa::routing::ValueKind;

TEST(RoutingAttributes, CommonKeywordsAreKnownWithTheirLevels) {
  struct Case {
    const char* keyword;
    uint32_t tag;
    AttrLevel level;
    ValueKind kind;
  } cases[] = {
      {"Modality", 0x00080060, AttrLevel::kSeries, ValueKind::kText},
      {"StudyDescription", 0x00081030, AttrLevel::kStudy, ValueKind::kText},
      {"SeriesDescription", 0x0008103E, AttrLevel::kSeries, ValueKind::kText},
      {"BodyPartExamined", 0x00180015, AttrLevel::kSeries, ValueKind::kText},
      {"StationName", 0x00081010, AttrLevel::kSeries, ValueKind::kText},
      {"InstitutionName", 0x00080080, AttrLevel::kSeries, ValueKind::kText},
      {"PatientID", 0x00100020, AttrLevel::kPatient, ValueKind::kText},
      {"PatientName", 0x00100010, AttrLevel::kPatient, ValueKind::kPersonName},
      {"AccessionNumber", 0x00080050, AttrLevel::kStudy, ValueKind::kText},
      {"StudyDate", 0x00080020, AttrLevel::kStudy, ValueKind::kDate},
      {"StudyTime", 0x00080030, AttrLevel::kStudy, ValueKind::kTime},
      {"SeriesDate", 0x00080021, AttrLevel::kSeries, ValueKind::kDate},
      {"SOPClassUID", 0x00080016, AttrLevel::kInstance, ValueKind::kText},
      {"ReferringPhysicianName", 0x00080090, AttrLevel::kStudy, ValueKind::kPersonName},
      {"Manufacturer", 0x00080070, AttrLevel::kSeries, ValueKind::kText},
      {"AcquisitionDateTime", 0x0008002A, AttrLevel::kInstance, ValueKind::kDateTime},
      {"PatientAge", 0x00101010, AttrLevel::kStudy, ValueKind::kText},
  };
  for (const Case& c : cases) {
    const auto info = attribute_by_keyword(c.keyword);
    ASSERT_TRUE(info) << c.keyword;
    EXPECT_EQ(info->tag, c.tag) << c.keyword;
    EXPECT_EQ(info->level, c.level) << c.keyword;
    EXPECT_EQ(info->kind, c.kind) << c.keyword;
  }
  EXPECT_FALSE(attribute_by_keyword("modality"));
  EXPECT_FALSE(attribute_by_keyword("NoSuchKeyword"));
}

TEST(RoutingAttributes, TableIsConsistent) {
  std::set<std::string> keywords;
  std::set<uint32_t> tags;
  for (size_t i = 0; i < ossa::routing::keyword_count(); ++i) {
    const auto& a = ossa::routing::keyword_at(i);
    EXPECT_TRUE(keywords.insert(a.keyword).second) << "duplicate " << a.keyword;
    EXPECT_TRUE(tags.insert(a.tag).second) << "duplicate tag of " << a.keyword;
    const bool temporal_name =
        a.keyword.size() > 4 && (a.keyword.rfind("Date") == a.keyword.size() - 4 ||
                                 a.keyword.rfind("Time") == a.keyword.size() - 4);
    if (temporal_name) {
      EXPECT_NE(a.kind, ValueKind::kText) << a.keyword;
    }
  }
}

TEST(RoutingAttributes, TagsOutsideTheTableGetTheIndexLevel) {
  EXPECT_EQ(attribute_by_tag(0x00181030).keyword, "ProtocolName");
  const auto unknown = attribute_by_tag(0x00091010);  // private
  EXPECT_EQ(unknown.keyword, "");
  EXPECT_EQ(unknown.level, AttrLevel::kInstance);
  EXPECT_EQ(unknown.kind, ValueKind::kText);
  EXPECT_EQ(index_level_of_tag(0x00101040), AttrLevel::kPatient);  // Patient's Address
  EXPECT_EQ(index_level_of_tag(0x00101022), AttrLevel::kStudy);    // Patient's BMI
  EXPECT_EQ(index_level_of_tag(0x00321060), AttrLevel::kStudy);
  EXPECT_EQ(index_level_of_tag(0x00180015), AttrLevel::kSeries);
  EXPECT_EQ(index_level_of_tag(0x00280010), AttrLevel::kInstance);
}

TEST(RoutingAttributes, TagText) {
  uint32_t t = 0;
  EXPECT_TRUE(parse_tag_text("(0018,0015)", t));
  EXPECT_EQ(t, 0x00180015u);
  EXPECT_TRUE(parse_tag_text("(0008,103e)", t));
  EXPECT_EQ(t, 0x0008103Eu);
  EXPECT_FALSE(parse_tag_text("(0018,015)", t));
  EXPECT_FALSE(parse_tag_text("0018,0015", t));
  EXPECT_FALSE(parse_tag_text("(0018;0015)", t));
  EXPECT_FALSE(parse_tag_text("(00G8,0015)", t));
  EXPECT_EQ(tag_text(0x0008103E), "(0008,103E)");
}

}  // namespace
