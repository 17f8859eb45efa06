// Attribute matching of PS3.4 C.2.2.2 (core/index/matching.h): classification of key values,
// matching of stored values, and the helpers the index uses to build SQL.

#include "index/matching.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using ossa::index::Condition;
using ossa::index::Level;
using ossa::index::make_condition;
using ossa::index::matches;
using ossa::index::MatchKind;
using ossa::index::ValueKind;

struct MatchCase {
  ValueKind kind;
  std::string key;
  std::string stored;
  bool expected;
};

const char* kind_name(ValueKind kind) {
  switch (kind) {
    case ValueKind::kText:
      return "text";
    case ValueKind::kPersonName:
      return "PN";
    case ValueKind::kDate:
      return "DA";
    case ValueKind::kTime:
      return "TM";
    case ValueKind::kDateTime:
      return "DT";
    case ValueKind::kUid:
      return "UI";
    case ValueKind::kOther:
      return "other";
  }
  return "?";
}

void check_all(const std::vector<MatchCase>& cases) {
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(kind_name(c.kind)) + " key '" + c.key + "' vs stored '" + c.stored +
                 "'");
    const Condition condition = make_condition(0x00100010, Level::kPatient, c.kind, c.key);
    EXPECT_TRUE(condition.valid);
    EXPECT_EQ(matches(condition, c.stored), c.expected);
  }
}

// ---- Classification --------------------------------------------------------------------------

struct ClassifyCase {
  ValueKind kind;
  std::string key;
  MatchKind match;
};

TEST(MakeCondition, Classification) {
  const std::vector<ClassifyCase> cases = {
      {ValueKind::kText, "", MatchKind::kUniversal},
      {ValueKind::kText, "*", MatchKind::kUniversal},
      {ValueKind::kText, "  *  ", MatchKind::kUniversal},
      {ValueKind::kText, "    ", MatchKind::kUniversal},
      {ValueKind::kPersonName, "", MatchKind::kUniversal},
      {ValueKind::kPersonName, "*", MatchKind::kUniversal},
      {ValueKind::kDate, "", MatchKind::kUniversal},
      {ValueKind::kDate, "*", MatchKind::kUniversal},
      {ValueKind::kUid, "", MatchKind::kUniversal},
      {ValueKind::kText, "CT", MatchKind::kSingle},
      {ValueKind::kText, "C*", MatchKind::kWildcard},
      {ValueKind::kText, "C?", MatchKind::kWildcard},
      {ValueKind::kPersonName, "Doe^J*", MatchKind::kWildcard},
      {ValueKind::kPersonName, "Doe^John", MatchKind::kSingle},
      {ValueKind::kDate, "20060705", MatchKind::kSingle},
      {ValueKind::kDate, "20060705-", MatchKind::kRange},
      {ValueKind::kDate, "-20060705", MatchKind::kRange},
      {ValueKind::kDate, "20060101-20061231", MatchKind::kRange},
      {ValueKind::kTime, "1030", MatchKind::kSingle},
      {ValueKind::kTime, "1000-1800", MatchKind::kRange},
      {ValueKind::kDateTime, "20060101-2007", MatchKind::kRange},
      {ValueKind::kUid, "1.2.3", MatchKind::kSingle},
      {ValueKind::kUid, "1.2.3\\1.2.4", MatchKind::kUidList},
      {ValueKind::kOther, "7", MatchKind::kSingle},
      // '*' and '?' are not wildcards outside text VRs.
      {ValueKind::kOther, "7*", MatchKind::kSingle},
      {ValueKind::kUid, "1.2.*", MatchKind::kSingle},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(kind_name(c.kind)) + " key '" + c.key + "'");
    const Condition condition = make_condition(0x00080060, Level::kSeries, c.kind, c.key);
    EXPECT_EQ(condition.match, c.match);
    EXPECT_TRUE(condition.valid);
    EXPECT_EQ(condition.tag, 0x00080060u);
    EXPECT_EQ(condition.level, Level::kSeries);
    EXPECT_EQ(condition.kind, c.kind);
  }
}

TEST(MakeCondition, ValuesAreTrimmedAndNamesUppercased) {
  EXPECT_EQ(make_condition(0, Level::kSeries, ValueKind::kText, "  CT  ").value, "CT");
  EXPECT_EQ(make_condition(0, Level::kPatient, ValueKind::kPersonName, "müller^hans^^ ").value,
            "MÜLLER^HANS");
  EXPECT_EQ(make_condition(0, Level::kPatient, ValueKind::kPersonName, "doe*").value, "DOE*");
  // Text keys keep their case.
  EXPECT_EQ(make_condition(0, Level::kStudy, ValueKind::kText, "abc*").value, "abc*");
}

TEST(MakeCondition, UidListValues) {
  const Condition c =
      make_condition(0x0020000D, Level::kStudy, ValueKind::kUid, "1.2.3\\ 1.2.4 \\\\1.2.5");
  EXPECT_EQ(c.match, MatchKind::kUidList);
  EXPECT_EQ(c.uids, (std::vector<std::string>{"1.2.3", "1.2.4", "1.2.5"}));
}

TEST(MakeCondition, RangeBounds) {
  Condition c = make_condition(0x00080020, Level::kStudy, ValueKind::kDate, "20060101-20061231");
  EXPECT_EQ(c.lower, "20060101");
  EXPECT_EQ(c.upper, "20061231");
  c = make_condition(0x00080020, Level::kStudy, ValueKind::kDate, "20060101-");
  EXPECT_EQ(c.lower, "20060101");
  EXPECT_EQ(c.upper, "");
  c = make_condition(0x00080020, Level::kStudy, ValueKind::kDate, "-20061231");
  EXPECT_EQ(c.lower, "");
  EXPECT_EQ(c.upper, "20061231");
  c = make_condition(0x00080030, Level::kStudy, ValueKind::kTime, "1000-1800");
  EXPECT_EQ(c.lower, "100000.000000");
  EXPECT_EQ(c.upper, "180059.999999");
  c = make_condition(0x00080030, Level::kStudy, ValueKind::kTime, "1030");
  EXPECT_EQ(c.lower, "103000.000000");
  EXPECT_EQ(c.upper, "103059.999999");
  c = make_condition(0x0008002A, Level::kInstance, ValueKind::kDateTime, "2006-2007");
  EXPECT_EQ(c.lower, "20060101000000.000000");
  EXPECT_EQ(c.upper, "20071231235959.999999");
}

TEST(MakeCondition, InvalidDateTimeKeys) {
  const std::vector<std::pair<ValueKind, std::string>> cases = {
      {ValueKind::kDate, "2006"},
      {ValueKind::kDate, "200607"},
      {ValueKind::kDate, "abc"},
      {ValueKind::kDate, "2006070"},
      {ValueKind::kDate, "200607051"},
      {ValueKind::kDate, "20060705-abc"},
      {ValueKind::kDate, "abc-20060705"},
      {ValueKind::kDate, "-"},
      {ValueKind::kDate, "20060101-20060201-20060301"},
      {ValueKind::kDate, "2006*"},
      {ValueKind::kTime, "103"},
      {ValueKind::kTime, "10h30"},
      {ValueKind::kTime, "1234567"},
      {ValueKind::kTime, "1000-18x0"},
      {ValueKind::kDateTime, "200"},
      {ValueKind::kDateTime, "2006013"},
      {ValueKind::kDateTime, "2006x1"},
      {ValueKind::kDateTime, "20060101-2006013"},
  };
  for (const auto& [kind, key] : cases) {
    SCOPED_TRACE(std::string(kind_name(kind)) + " key '" + key + "'");
    EXPECT_FALSE(make_condition(0x00080020, Level::kStudy, kind, key).valid);
  }
}

// ---- Matching --------------------------------------------------------------------------------

TEST(Matches, Universal) {
  check_all({
      {ValueKind::kText, "", "anything", true},
      {ValueKind::kText, "", "", true},
      {ValueKind::kText, "*", "anything", true},
      {ValueKind::kText, "*", "", true},
      {ValueKind::kPersonName, "", "Doe^John", true},
      {ValueKind::kPersonName, "*", "", true},
      {ValueKind::kDate, "", "not a date", true},
      {ValueKind::kDate, "*", "", true},
      {ValueKind::kUid, "", "1.2.3", true},
      {ValueKind::kOther, "*", "42", true},
  });
}

TEST(Matches, SingleValueTextIsCaseSensitive) {
  check_all({
      {ValueKind::kText, "CT", "CT", true},
      {ValueKind::kText, "CT", "CT ", true},  // padding space
      {ValueKind::kText, "CT", "ct", false},
      {ValueKind::kText, "ct", "CT", false},
      {ValueKind::kText, "CT", "CTX", false},
      {ValueKind::kText, "CT", "C", false},
      {ValueKind::kText, "CT", "", false},
      {ValueKind::kText, "ACC-1", "ACC-1", true},
      {ValueKind::kText, "Brain", "brain", false},
  });
}

TEST(Matches, Wildcards) {
  check_all({
      {ValueKind::kText, "C*", "CT", true},
      {ValueKind::kText, "C*", "C", true},
      {ValueKind::kText, "C*", "MR", false},
      {ValueKind::kText, "*T", "CT", true},
      {ValueKind::kText, "*T", "CTA", false},
      {ValueKind::kText, "C?", "CT", true},
      {ValueKind::kText, "C?", "C", false},
      {ValueKind::kText, "C?", "CTT", false},
      {ValueKind::kText, "?", "", false},
      {ValueKind::kText, "c*", "CT", false},  // text wildcards are case-sensitive too
      {ValueKind::kText, "a*b*c", "aXXbYYc", true},
      {ValueKind::kText, "a*b*c", "aXXbYY", false},
      {ValueKind::kText, "a*b?c", "abbbxc", true},
      {ValueKind::kText, "**", "", true},
      {ValueKind::kText, "*a", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", false},
      {ValueKind::kText, "ACC*", "ACC-2006-1", true},
      // '?' is exactly one character, and a character may take several UTF-8 bytes.
      {ValueKind::kText, "Ж?", "Жа", true},
      {ValueKind::kText, "Ж?", "Ж", false},
      {ValueKind::kText, "Ж??", "Жа", false},
      {ValueKind::kText, "?а", "Жа", true},
      {ValueKind::kText, "??", "山田", true},
      {ValueKind::kText, "?", "山田", false},
      {ValueKind::kText, "山*", "山田", true},
      {ValueKind::kText, "*田", "山田", true},
      // Glob metacharacters of other syntaxes are literal.
      {ValueKind::kText, "[A]*", "[A]x", true},
      {ValueKind::kText, "[A]*", "Ax", false},
      {ValueKind::kText, "%", "abc", false},
  });
}

TEST(WildcardMatch, Direct) {
  using ossa::index::wildcard_match;
  EXPECT_TRUE(wildcard_match("", ""));
  EXPECT_FALSE(wildcard_match("", "a"));
  EXPECT_TRUE(wildcard_match("*", ""));
  EXPECT_TRUE(wildcard_match("a?c", "abc"));
  EXPECT_FALSE(wildcard_match("a?c", "ac"));
  EXPECT_TRUE(wildcard_match("Ж?", "Жа"));
  EXPECT_TRUE(wildcard_match("*ü*", "Müller"));
  EXPECT_FALSE(wildcard_match("M?ller", "Mueller"));
  EXPECT_TRUE(wildcard_match("M?ller", "Müller"));
  // Many stars on a long non-matching text stay fast (no exponential backtracking).
  EXPECT_FALSE(wildcard_match("*a*a*a*a*a*a*a*a*a*a*b", std::string(5000, 'a')));
}

TEST(Matches, PersonNameCaseInsensitive) {
  check_all({
      {ValueKind::kPersonName, "DOE^JOHN", "Doe^John", true},
      {ValueKind::kPersonName, "doe^john", "DOE^JOHN", true},
      {ValueKind::kPersonName, "Doe^John", "Doe^Jane", false},
      {ValueKind::kPersonName, "Doe", "Doe^John", false},  // single value: the whole name
      {ValueKind::kPersonName, "müller", "MÜLLER", true},
      {ValueKind::kPersonName, "MÜLLER", "müller", true},
      {ValueKind::kPersonName, "müller", "MULLER", false},
      {ValueKind::kPersonName, "mü*", "MÜLLER^HANS", true},
      {ValueKind::kPersonName, "m?ller*", "Müller^Hans", true},
      {ValueKind::kPersonName, "*^hans", "Müller^Hans", true},
      {ValueKind::kPersonName, "jérôme", "BUC^JÉRÔME", false},
      {ValueKind::kPersonName, "buc^jérôme", "BUC^JÉRÔME", true},
      {ValueKind::kPersonName, "жанна^ивановна", "ЖАННА^ИВАНОВНА", true},
      {ValueKind::kPersonName, "Ж?ННА*", "жанна^ивановна", true},
      {ValueKind::kPersonName, "διονυσιος", "ΔΙΟΝΥΣΙΟΣ", true},
  });
}

TEST(Matches, PersonNameTrailingCaretsIgnored) {
  check_all({
      {ValueKind::kPersonName, "Doe^John^", "Doe^John", true},
      {ValueKind::kPersonName, "Doe^John^^^", "Doe^John", true},
      {ValueKind::kPersonName, "Doe^John", "Doe^John^^^", true},
      {ValueKind::kPersonName, "Doe^John^", "Doe^John^^ ", true},
      {ValueKind::kPersonName, "Doe^^", "Doe", true},
      // Only trailing ones: an empty middle component is significant.
      {ValueKind::kPersonName, "Doe^^Jr", "Doe^Jr", false},
  });
}

TEST(Matches, PersonNameComponentGroups) {
  const std::string stored = "Yamada^Tarou=山田^太郎=やまだ^たろう";
  check_all({
      {ValueKind::kPersonName, "山田^太郎", stored, true},
      {ValueKind::kPersonName, "やまだ^たろう", stored, true},
      {ValueKind::kPersonName, "yamada^tarou", stored, true},
      {ValueKind::kPersonName, "Yamada^Tarou=山田^太郎=やまだ^たろう", stored, true},
      {ValueKind::kPersonName, "YAMADA^TAROU=山田^太郎=やまだ^たろう", stored, true},
      {ValueKind::kPersonName, "山田*", stored, true},
      {ValueKind::kPersonName, "*太郎", stored, true},
      {ValueKind::kPersonName, "山田^花子", stored, false},
      {ValueKind::kPersonName, "山田", stored, false},
      // Groups are only considered when the stored name has them.
      {ValueKind::kPersonName, "山田^太郎", "Yamada^Tarou", false},
      // Empty groups never match anything but the universal key.
      {ValueKind::kPersonName, "Doe^John", "Doe^John=", true},
      {ValueKind::kPersonName, "Doe^John", "=Doe^John", true},
  });
}

TEST(Matches, Dates) {
  check_all({
      {ValueKind::kDate, "20060705", "20060705", true},
      {ValueKind::kDate, "20060705", "20060706", false},
      {ValueKind::kDate, "20060705", "2006.07.05", true},  // legacy stored form
      {ValueKind::kDate, "2006.07.05", "20060705", true},  // legacy key form
      {ValueKind::kDate, "20060705", "", false},
      {ValueKind::kDate, "20060705", "garbage", false},
      {ValueKind::kDate, "20060101-", "20060101", true},
      {ValueKind::kDate, "20060101-", "20991231", true},
      {ValueKind::kDate, "20060101-", "20051231", false},
      {ValueKind::kDate, "-20060101", "20060101", true},
      {ValueKind::kDate, "-20060101", "19000101", true},
      {ValueKind::kDate, "-20060101", "20060102", false},
      {ValueKind::kDate, "20060101-20061231", "20060705", true},
      {ValueKind::kDate, "20060101-20061231", "20061231", true},
      {ValueKind::kDate, "20060101-20061231", "20070101", false},
      {ValueKind::kDate, "20060101-20061231", "20051231", false},
      {ValueKind::kDate, "2006.01.01-2006.12.31", "2006.07.05", true},
      {ValueKind::kDate, "-20060101", "", false},  // no value never matches a range
      {ValueKind::kDate, "20060101-", "", false},
  });
}

TEST(Matches, TimesByMeaning) {
  check_all({
      {ValueKind::kTime, "1030", "103000", true},
      {ValueKind::kTime, "103000", "1030", true},
      {ValueKind::kTime, "1030", "1030", true},
      {ValueKind::kTime, "1030", "10:30:00", true},
      {ValueKind::kTime, "103000", "103000.000", true},
      {ValueKind::kTime, "103000", "103001", false},
      {ValueKind::kTime, "1030", "1031", false},
      {ValueKind::kTime, "1030", "102959", false},
      {ValueKind::kTime, "1000-1800", "1000", true},
      {ValueKind::kTime, "1000-1800", "100000", true},
      {ValueKind::kTime, "1000-1800", "095959", false},
      {ValueKind::kTime, "1000-1800", "1200", true},
      {ValueKind::kTime, "1000-1800", "1800", true},
      {ValueKind::kTime, "1000-1800", "180059", true},
      {ValueKind::kTime, "1000-1800", "180059.999", true},
      {ValueKind::kTime, "1000-1800", "1801", false},
      {ValueKind::kTime, "1000-1800", "180100", false},
      {ValueKind::kTime, "1000-1800", "18:01:00", false},
      {ValueKind::kTime, "10-18", "185959", true},
      {ValueKind::kTime, "10-18", "19", false},
      {ValueKind::kTime, "-0800", "0759", true},
      {ValueKind::kTime, "-0800", "0801", false},
      {ValueKind::kTime, "2200-", "235959.999999", true},
      {ValueKind::kTime, "2200-", "2159", false},
  });
}

TEST(Matches, DateTimes) {
  check_all({
      {ValueKind::kDateTime, "20060101-20061231", "20060615120000", true},
      {ValueKind::kDateTime, "20060101-20061231", "20061231235959.999999", true},
      {ValueKind::kDateTime, "20060101-20061231", "20070101000000", false},
      {ValueKind::kDateTime, "20060101-20061231", "20051231235959", false},
      {ValueKind::kDateTime, "2006-2007", "20071231", true},
      {ValueKind::kDateTime, "2006-2007", "2008", false},
      {ValueKind::kDateTime, "20060615120000-", "20060615120000", true},
      {ValueKind::kDateTime, "20060615120000-", "20060615115959", false},
      {ValueKind::kDateTime, "-20060615", "20060615235959", true},
      {ValueKind::kDateTime, "-20060615", "20060616", false},
      {ValueKind::kDateTime, "200606151200-200606151300", "20060615123000.5", true},
      {ValueKind::kDateTime, "200606151200-200606151300", "20060615130100", false},
      // A stored UTC offset is not used in matching.
      {ValueKind::kDateTime, "20060101-20061231", "20060615120000+0100", true},
      {ValueKind::kDateTime, "20060101-20061231", "20060615120000.5-0500", true},
      {ValueKind::kDateTime, "20060101-20061231", "", false},
      // A single value names a period.
      {ValueKind::kDateTime, "20060615", "20060615093000", true},
      {ValueKind::kDateTime, "20060615", "20060616", false},
  });
}

TEST(Matches, UidSingleAndList) {
  check_all({
      {ValueKind::kUid, "1.2.3", "1.2.3", true},
      {ValueKind::kUid, "1.2.3", std::string("1.2.3\0", 6), true},  // UI padding is NUL
      {ValueKind::kUid, "1.2.3", "1.2.3.4", false},
      {ValueKind::kUid, "1.2.3", "1.2", false},
      {ValueKind::kUid, "1.2.3\\1.2.4", "1.2.3", true},
      {ValueKind::kUid, "1.2.3\\1.2.4", "1.2.4", true},
      {ValueKind::kUid, "1.2.3\\1.2.4", "1.2.5", false},
      {ValueKind::kUid, "1.2.3\\1.2.4", "1.2.3\\1.2.4", true},
      {ValueKind::kUid, "1.2.*", "1.2.3", false},  // no wildcards in UIDs
  });
}

TEST(Matches, MultiValuedStored) {
  check_all({
      {ValueKind::kText, "CT", "CT\\PT", true},
      {ValueKind::kText, "PT", "CT\\PT", true},
      {ValueKind::kText, "MR", "CT\\PT", false},
      {ValueKind::kText, "P*", "CT\\PT", true},
      {ValueKind::kPersonName, "doe^jane", "Doe^John\\Doe^Jane", true},
      {ValueKind::kDate, "20060101-", "19990101\\20060705", true},
      {ValueKind::kDate, "20060101-", "19990101\\20050705", false},
      {ValueKind::kOther, "3", "1\\2\\3", true},
      {ValueKind::kOther, "4", "1\\2\\3", false},
  });
}

TEST(Matches, NumericOther) {
  check_all({
      {ValueKind::kOther, "007", "7", true},
      {ValueKind::kOther, "7", "007", true},
      {ValueKind::kOther, "7", " 7 ", true},
      {ValueKind::kOther, "1.50", "1.5", true},
      {ValueKind::kOther, "-2", "-2.0", true},
      {ValueKind::kOther, "7", "8", false},
      {ValueKind::kOther, "7", "7abc", false},
      {ValueKind::kOther, "7", "", false},
      {ValueKind::kOther, "030Y", "030Y", true},  // AS: compared as text
      {ValueKind::kOther, "030Y", "30Y", false},
  });
}

// BUG: a PN key made only of component delimiters ("^", "^^^^") denotes an empty name, which is
// universal matching (C.2.2.2.3: zero length), but make_condition strips the carets only after the
// universal check and keeps a single-value condition with an empty value, so only names that are
// empty match.
TEST(Matches, PersonNameOfOnlyCaretsIsUniversal) {
  for (const std::string key : {"^", "^^^^", " ^ "}) {
    SCOPED_TRACE("key '" + key + "'");
    const Condition c = make_condition(0x00100010, Level::kPatient, ValueKind::kPersonName, key);
    EXPECT_EQ(c.match, MatchKind::kUniversal);
    EXPECT_TRUE(matches(c, "Doe^John"));
  }
}

// ---- Helpers -----------------------------------------------------------------------------------

TEST(Normalize, Date) {
  using ossa::index::normalize_date;
  EXPECT_EQ(normalize_date("20060705"), "20060705");
  EXPECT_EQ(normalize_date(" 20060705 "), "20060705");
  EXPECT_EQ(normalize_date("2006.07.05"), "20060705");
  EXPECT_EQ(normalize_date("200607"), "");
  EXPECT_EQ(normalize_date("2006-07-05"), "");
  EXPECT_EQ(normalize_date(""), "");
}

TEST(Normalize, Time) {
  using ossa::index::normalize_time;
  EXPECT_EQ(normalize_time("1030"), "103000.000000");
  EXPECT_EQ(normalize_time("103000"), "103000.000000");
  EXPECT_EQ(normalize_time("10"), "100000.000000");
  EXPECT_EQ(normalize_time("10:30:15"), "103015.000000");
  EXPECT_EQ(normalize_time("103015.5"), "103015.500000");
  EXPECT_EQ(normalize_time("103015.1234567"), "103015.123456");
  EXPECT_EQ(normalize_time("18", true), "185959.999999");
  EXPECT_EQ(normalize_time("1800", true), "180059.999999");
  EXPECT_EQ(normalize_time("180000", true), "180000.999999");
  EXPECT_EQ(normalize_time("180000.5", true), "180000.599999");
  EXPECT_EQ(normalize_time("103"), "");
  EXPECT_EQ(normalize_time("ab"), "");
  EXPECT_EQ(normalize_time(""), "");
}

TEST(Normalize, DateTime) {
  using ossa::index::normalize_datetime;
  EXPECT_EQ(normalize_datetime("2006"), "20060101000000.000000");
  EXPECT_EQ(normalize_datetime("2006", true), "20061231235959.999999");
  EXPECT_EQ(normalize_datetime("20060705103000"), "20060705103000.000000");
  EXPECT_EQ(normalize_datetime("20060705103000.123-0500"), "20060705103000.123000");
  EXPECT_EQ(normalize_datetime("20060705103000+0100"), "20060705103000.000000");
  EXPECT_EQ(normalize_datetime("2006070510", true), "20060705105959.999999");
  EXPECT_EQ(normalize_datetime("20060"), "");
  EXPECT_EQ(normalize_datetime("2006x7"), "");
  EXPECT_EQ(normalize_datetime(""), "");
}

TEST(UppercaseUtf8, Basic) {
  using ossa::index::uppercase_utf8;
  EXPECT_EQ(uppercase_utf8("abc^xyz=123"), "ABC^XYZ=123");
  EXPECT_EQ(uppercase_utf8("müller"), "MÜLLER");
  EXPECT_EQ(uppercase_utf8("jérôme"), "JÉRÔME");
  EXPECT_EQ(uppercase_utf8("жа"), "ЖА");
  EXPECT_EQ(uppercase_utf8("διονυσιος"), "ΔΙΟΝΥΣΙΟΣ");
  EXPECT_EQ(uppercase_utf8("山田^たろう"), "山田^たろう");
  EXPECT_EQ(uppercase_utf8(""), "");
}

TEST(Trim, SpacesAndNul) {
  using ossa::index::trim;
  EXPECT_EQ(trim("  x y  "), "x y");
  EXPECT_EQ(trim("    "), "");
  EXPECT_EQ(trim(""), "");
  EXPECT_EQ(trim(std::string("1.2.3\0", 6)), "1.2.3");
}

TEST(SqlHelpers, LiteralPrefix) {
  using ossa::index::literal_prefix;
  EXPECT_EQ(literal_prefix("DOE*"), "DOE");
  EXPECT_EQ(literal_prefix("D?E*"), "D");
  EXPECT_EQ(literal_prefix("*DOE"), "");
  EXPECT_EQ(literal_prefix("DOE"), "DOE");
  EXPECT_EQ(literal_prefix("MÜ*"), "MÜ");
}

TEST(SqlHelpers, PrefixSuccessor) {
  using ossa::index::prefix_successor;
  EXPECT_EQ(prefix_successor("DOE"), "DOF");
  EXPECT_EQ(prefix_successor("A\xff"), "B");
  EXPECT_EQ(prefix_successor("\xff\xff"), "");
  EXPECT_EQ(prefix_successor(""), "");
  // Every string starting with the prefix sorts below the successor (bytewise).
  const std::string prefix = "MÜ";
  const std::string next = prefix_successor(prefix);
  for (const std::string s : {"MÜ", "MÜLLER", "MÜ\xff\xff", "MÜ\xf4\x8f\xbf\xbf"}) {
    SCOPED_TRACE(s);
    EXPECT_LT(s, next);
    EXPECT_GE(s, prefix);
  }
  EXPECT_GE(std::string("MÝ"), next);
}

TEST(SqlHelpers, ToGlob) {
  using ossa::index::to_glob;
  EXPECT_EQ(to_glob("DOE*"), "DOE*");
  EXPECT_EQ(to_glob("a[b]?*"), "a[[]b]?*");
  EXPECT_EQ(to_glob("[["), "[[][[]");
}

}  // namespace
