#include "matching.h"

#include <gtest/gtest.h>

namespace ossa::worklist {
namespace {

TEST(WorklistMatching, KindsFollowTheKeyword) {
  EXPECT_EQ(match_kind("PatientName"), MatchKind::kPersonName);
  EXPECT_EQ(match_kind("ScheduledPerformingPhysicianName"), MatchKind::kPersonName);
  EXPECT_EQ(match_kind("ScheduledProcedureStepStartDate"), MatchKind::kDate);
  EXPECT_EQ(match_kind("ScheduledProcedureStepStartTime"), MatchKind::kTime);
  EXPECT_EQ(match_kind("StudyInstanceUID"), MatchKind::kUidList);
  EXPECT_EQ(match_kind("ScheduledStationAETitle"), MatchKind::kText);
  EXPECT_EQ(match_kind("AccessionNumber"), MatchKind::kText);
}

TEST(WorklistMatching, Wildcards) {
  EXPECT_TRUE(wildcard_match("DOE*", "DOE^JOHN", false));
  EXPECT_TRUE(wildcard_match("*JO?N", "DOE^JOHN", false));
  EXPECT_TRUE(wildcard_match("*", "", false));
  EXPECT_TRUE(wildcard_match("a*b*c", "axxbyyc", false));
  EXPECT_FALSE(wildcard_match("a*b*c", "axxbyy", false));
  EXPECT_FALSE(wildcard_match("DOE?", "DOE", false));
  EXPECT_FALSE(wildcard_match("doe*", "DOE^JOHN", false));
  EXPECT_TRUE(wildcard_match("doe*", "DOE^JOHN", true));
  // '?' is one character, also when it takes several bytes in UTF-8.
  EXPECT_TRUE(wildcard_match("M?LLER", "M\xC3\x9CLLER", false));
  EXPECT_TRUE(wildcard_match("*\xC3\x9C*", "M\xC3\x9CLLER", false));
}

TEST(WorklistMatching, UniversalKeys) {
  EXPECT_TRUE(is_universal(""));
  EXPECT_TRUE(is_universal("*"));
  EXPECT_TRUE(is_universal(" ** "));
  EXPECT_FALSE(is_universal("A*"));
  EXPECT_TRUE(value_matches(MatchKind::kText, "", ""));
  EXPECT_TRUE(value_matches(MatchKind::kDate, "*", ""));
}

TEST(WorklistMatching, SingleValuesAndAbsentValues) {
  EXPECT_TRUE(value_matches(MatchKind::kText, "CT", "CT"));
  EXPECT_FALSE(value_matches(MatchKind::kText, "CT", "MR"));
  EXPECT_FALSE(value_matches(MatchKind::kText, "ct", "CT"));     // case-sensitive outside PN
  EXPECT_FALSE(value_matches(MatchKind::kText, "CT", ""));       // MWL: no value, no match
  EXPECT_TRUE(value_matches(MatchKind::kText, "P2", "P1\\P2"));  // any of several values
  EXPECT_TRUE(value_matches(MatchKind::kText, "CT", "CT "));     // DICOM padding ignored
}

TEST(WorklistMatching, PersonNamesIgnoreCaseAndTrailingCarets) {
  EXPECT_TRUE(value_matches(MatchKind::kPersonName, "doe^john", "DOE^JOHN"));
  EXPECT_TRUE(value_matches(MatchKind::kPersonName, "DOE^JOHN^^", "DOE^JOHN"));
  EXPECT_TRUE(value_matches(MatchKind::kPersonName, "d*", "Doe^Jane"));
  EXPECT_FALSE(value_matches(MatchKind::kPersonName, "SMITH*", "DOE^JOHN"));
}

TEST(WorklistMatching, DateRanges) {
  EXPECT_TRUE(value_matches(MatchKind::kDate, "20260102", "20260102"));
  EXPECT_FALSE(value_matches(MatchKind::kDate, "20260102", "20260103"));
  EXPECT_TRUE(value_matches(MatchKind::kDate, "20260101-20260131", "20260115"));
  EXPECT_TRUE(value_matches(MatchKind::kDate, "20260101-20260131", "20260131"));
  EXPECT_FALSE(value_matches(MatchKind::kDate, "20260101-20260131", "20260201"));
  EXPECT_TRUE(value_matches(MatchKind::kDate, "-20260131", "20251231"));
  EXPECT_FALSE(value_matches(MatchKind::kDate, "-20260131", "20260201"));
  EXPECT_TRUE(value_matches(MatchKind::kDate, "20260101-", "20270101"));
  EXPECT_FALSE(value_matches(MatchKind::kDate, "20260101-", "20251231"));
  EXPECT_FALSE(value_matches(MatchKind::kDate, "20260101-", ""));
}

TEST(WorklistMatching, TimeRangesWithTheGivenPrecision) {
  EXPECT_TRUE(value_matches(MatchKind::kTime, "0800-1200", "1000"));
  EXPECT_TRUE(value_matches(MatchKind::kTime, "0800-1200", "120059"));  // "1200" = 12:00:xx
  EXPECT_FALSE(value_matches(MatchKind::kTime, "0800-1200", "1201"));
  EXPECT_FALSE(value_matches(MatchKind::kTime, "0800-1200", "075959"));
  EXPECT_TRUE(value_matches(MatchKind::kTime, "-0900", "083000.123"));
  EXPECT_TRUE(value_matches(MatchKind::kTime, "14-", "1430"));
  EXPECT_TRUE(value_matches(MatchKind::kTime, "10", "103000"));  // single value: within the hour
  EXPECT_FALSE(value_matches(MatchKind::kTime, "10", "110000"));
  EXPECT_TRUE(value_matches(MatchKind::kTime, "10:30-11:00", "104500"));  // old style colons
}

TEST(WorklistMatching, UidLists) {
  EXPECT_TRUE(value_matches(MatchKind::kUidList, "1.2.3", "1.2.3"));
  EXPECT_TRUE(value_matches(MatchKind::kUidList, "1.2.4\\1.2.3", "1.2.3"));
  EXPECT_FALSE(value_matches(MatchKind::kUidList, "1.2.4\\1.2.5", "1.2.3"));
  EXPECT_FALSE(value_matches(MatchKind::kUidList, "1.2.*", "1.2.3"));  // no wildcards on UIDs
}

}  // namespace
}  // namespace ossa::worklist
