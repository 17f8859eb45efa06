// OsiriX predicates: the NSPredicate parser (xmlrpc/predicate_parser.h), their translation to SQL
// (core/index/predicate.h: whitelisted keys, bound values) and their evaluation on a real index.

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "index/sqlite_index.h"
#include "index/predicate.h"
#include "temp_dir.h"
#include "xmlrpc/predicate_parser.h"

namespace {

namespace tags = ossa::index::tags;
using Index = ossa::index::SqliteIndex;
using ossa::index::InstanceRecord;
using ossa::index::Level;
using ossa::index::predicate::canonical_date;
using ossa::index::predicate::Expr;
using ossa::index::predicate::Literal;
using ossa::index::predicate::Op;
using ossa::index::predicate::PredicateError;
using ossa::index::predicate::Table;
using ossa::index::predicate::translate;
using ossa::xmlrpc::parse_predicate;
using ossa::xmlrpc::PredicateSyntaxError;

size_t error_position(const std::string& text) {
  try {
    parse_predicate(text);
  } catch (const PredicateSyntaxError& e) {
    return e.position();
  }
  ADD_FAILURE() << "no syntax error for: " << text;
  return 0;
}

TEST(PredicateParser, Comparison) {
  const Expr e = parse_predicate("patientID == '123'");
  ASSERT_EQ(e.kind, Expr::Kind::kCompare);
  EXPECT_EQ(e.key, "patientID");
  EXPECT_EQ(e.op, Op::kEqual);
  ASSERT_EQ(e.values.size(), 1u);
  EXPECT_EQ(e.values[0].kind, Literal::Kind::kString);
  EXPECT_EQ(e.values[0].text, "123");
  EXPECT_EQ(e.position, 1u);
}

TEST(PredicateParser, OperatorsAndSpellings) {
  const std::vector<std::pair<std::string, Op>> cases = {
      {"a = 'x'", Op::kEqual},
      {"a != 'x'", Op::kNotEqual},
      {"a <> 'x'", Op::kNotEqual},
      {"a < 1", Op::kLess},
      {"a <= 1", Op::kLessEqual},
      {"a =< 1", Op::kLessEqual},
      {"a > 1", Op::kGreater},
      {"a >= 1", Op::kGreaterEqual},
      {"a => 1", Op::kGreaterEqual},
      {"a LIKE 'x*'", Op::kLike},
      {"a like 'x?'", Op::kLike},
      {"a CONTAINS 'x'", Op::kContains},
      {"a BEGINSWITH 'x'", Op::kBeginsWith},
      {"a ENDSWITH 'x'", Op::kEndsWith},
      {"a IN {'x', 'y'}", Op::kIn},
      {"a IN ('x', 'y')", Op::kIn},
  };
  for (const auto& [text, op] : cases) {
    const Expr e = parse_predicate(text);
    EXPECT_EQ(e.kind, Expr::Kind::kCompare) << text;
    EXPECT_EQ(e.op, op) << text;
  }
}

TEST(PredicateParser, Modifiers) {
  Expr e = parse_predicate("name CONTAINS[cd] \"müller\"");
  EXPECT_TRUE(e.case_insensitive);
  EXPECT_TRUE(e.diacritic_insensitive);
  EXPECT_EQ(e.values[0].text, "müller");
  e = parse_predicate("name LIKE[c] 'DOE*'");
  EXPECT_TRUE(e.case_insensitive);
  EXPECT_FALSE(e.diacritic_insensitive);
  e = parse_predicate("name ==[d] 'x'");
  EXPECT_FALSE(e.case_insensitive);
  EXPECT_TRUE(e.diacritic_insensitive);
}

TEST(PredicateParser, LogicPrecedenceAndParentheses) {
  // AND binds tighter than OR.
  Expr e = parse_predicate("a == 1 OR b == 2 AND c == 3");
  ASSERT_EQ(e.kind, Expr::Kind::kOr);
  ASSERT_EQ(e.children.size(), 2u);
  EXPECT_EQ(e.children[1].kind, Expr::Kind::kAnd);
  e = parse_predicate("(a == 1 || b == 2) && !(c == 3)");
  ASSERT_EQ(e.kind, Expr::Kind::kAnd);
  EXPECT_EQ(e.children[0].kind, Expr::Kind::kOr);
  EXPECT_EQ(e.children[1].kind, Expr::Kind::kNot);
  e = parse_predicate("NOT a == 1 and b == 2 and c == 3");
  ASSERT_EQ(e.kind, Expr::Kind::kAnd);
  EXPECT_EQ(e.children.size(), 3u);
  EXPECT_EQ(e.children[0].kind, Expr::Kind::kNot);
  EXPECT_EQ(parse_predicate("TRUEPREDICATE").kind, Expr::Kind::kTrue);
}

TEST(PredicateParser, ConstantOnTheLeftIsMirrored) {
  const Expr e = parse_predicate("5 < numberOfImages");
  EXPECT_EQ(e.key, "numberOfImages");
  EXPECT_EQ(e.op, Op::kGreater);
  EXPECT_EQ(e.values[0].kind, Literal::Kind::kNumber);
  EXPECT_DOUBLE_EQ(e.values[0].number, 5);
}

TEST(PredicateParser, DatesNumbersNilAndKeyPaths) {
  Expr e = parse_predicate("date >= CAST(\"2024-01-31\", \"NSDate\")");
  EXPECT_EQ(e.values[0].kind, Literal::Kind::kDate);
  EXPECT_EQ(e.values[0].text, "20240131000000");
  e = parse_predicate("date < CAST(0, \"NSDate\")");
  EXPECT_EQ(e.values[0].text, "20010101000000");
  e = parse_predicate("study.patientID == nil");
  EXPECT_EQ(e.key, "study.patientID");
  EXPECT_EQ(e.values[0].kind, Literal::Kind::kNull);
  e = parse_predicate("ANY series.modality == 'CT'");
  EXPECT_EQ(e.key, "series.modality");
  e = parse_predicate("id == -2.5e1");
  EXPECT_DOUBLE_EQ(e.values[0].number, -25);
  e = parse_predicate("date BETWEEN {'2024-01-01', '2024-12-31 23:59:59'}");
  ASSERT_EQ(e.kind, Expr::Kind::kAnd);
  EXPECT_EQ(e.children[0].op, Op::kGreaterEqual);
  EXPECT_EQ(e.children[1].op, Op::kLessEqual);
  e = parse_predicate("name == 'it\\'s'");
  EXPECT_EQ(e.values[0].text, "it's");
}

TEST(PredicateParser, ErrorsNameThePosition) {
  EXPECT_EQ(error_position("patientID == "), 14u);
  EXPECT_EQ(error_position("patientID 'x'"), 11u);
  EXPECT_EQ(error_position("(a == 1"), 8u);
  EXPECT_EQ(error_position("a == 'unclosed"), 6u);
  EXPECT_EQ(error_position("a == 1 b == 2"), 8u);
  EXPECT_EQ(error_position("a ~ 1"), 3u);
  EXPECT_EQ(error_position("a LIKE[x] 'b'"), 8u);
  EXPECT_EQ(error_position("a == CAST('x', 'NSString')"), 16u);
  EXPECT_EQ(error_position(""), 1u);
  EXPECT_EQ(error_position("a MATCHES '.*'"), 3u);
  try {
    parse_predicate("patientID == ");
  } catch (const PredicateSyntaxError& e) {
    EXPECT_NE(std::string(e.what()).find("position 14"), std::string::npos) << e.what();
  }
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "(";
  deep += "a == 1";
  for (int i = 0; i < 100; ++i) deep += ")";
  EXPECT_GT(error_position(deep), 0u);
}

TEST(PredicateDates, CanonicalForms) {
  EXPECT_EQ(canonical_date("2024-01-31"), "20240131000000");
  EXPECT_EQ(canonical_date("2024-01-31 10:22:11"), "20240131102211");
  EXPECT_EQ(canonical_date("2024-01-31T10:22"), "20240131102200");
  EXPECT_EQ(canonical_date("2024-01-31 10:22:11 +0000"), "20240131102211");
  EXPECT_EQ(canonical_date("2024-01-01 01:00:00 +0200"), "20231231230000");
  EXPECT_EQ(canonical_date("20240131"), "20240131000000");
  EXPECT_EQ(canonical_date("20240131102211"), "20240131102211");
  EXPECT_FALSE(canonical_date("yesterday"));
  EXPECT_FALSE(canonical_date("2024-13-01"));
}

TEST(PredicateSql, ValuesAreBoundNeverSpliced) {
  const std::string evil = "x' OR 1=1 --";
  const auto sql = translate(parse_predicate("patientID == \"" + evil + "\""), Table::kStudy);
  EXPECT_EQ(sql.sql.find(evil), std::string::npos) << sql.sql;
  EXPECT_EQ(sql.sql.find("OR 1=1"), std::string::npos);
  ASSERT_EQ(sql.params.size(), 1u);
  EXPECT_EQ(sql.params[0].text, evil);
  EXPECT_NE(sql.sql.find("p.patient_id = ?"), std::string::npos) << sql.sql;
}

TEST(PredicateSql, UnknownKeysAndWrongValuesAreRefused) {
  EXPECT_THROW(translate(parse_predicate("patientName == 'x'"), Table::kStudy), PredicateError);
  EXPECT_THROW(translate(parse_predicate("attrs == 'x'"), Table::kStudy), PredicateError);
  EXPECT_THROW(translate(parse_predicate("study.patientID == 'x'"), Table::kStudy),
               PredicateError);  // Study has no relation "study"
  EXPECT_THROW(translate(parse_predicate("numberOfImages > 'many'"), Table::kStudy),
               PredicateError);
  EXPECT_THROW(translate(parse_predicate("date > 'soon'"), Table::kStudy), PredicateError);
  EXPECT_THROW(translate(parse_predicate("date CONTAINS '2024'"), Table::kStudy), PredicateError);
  try {
    translate(parse_predicate("id == 1 AND bogus == 2"), Table::kSeries);
    FAIL();
  } catch (const PredicateError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("position 13"), std::string::npos) << what;
    EXPECT_NE(what.find("unknown key 'bogus'"), std::string::npos) << what;
  }
  EXPECT_NO_THROW(translate(parse_predicate("study.patientID == 'x'"), Table::kImage));
  EXPECT_NO_THROW(translate(parse_predicate("series.study.name LIKE 'x'"), Table::kImage));
  EXPECT_NO_THROW(translate(parse_predicate("images.instanceNumber > 3"), Table::kSeries));
}

// ---- On a real index ----------------------------------------------------------------------------

struct Row {
  std::string patient_id, name, study_uid, study_date, accession, series_uid, modality, sop_uid,
      instance_number, description;
};

InstanceRecord record(const Row& r) {
  InstanceRecord rec;
  auto& patient = rec.attributes[static_cast<int>(Level::kPatient)];
  auto& study = rec.attributes[static_cast<int>(Level::kStudy)];
  auto& series = rec.attributes[static_cast<int>(Level::kSeries)];
  auto& instance = rec.attributes[static_cast<int>(Level::kInstance)];
  patient[tags::kPatientId] = r.patient_id;
  patient[tags::kPatientName] = r.name;
  study[tags::kStudyInstanceUid] = r.study_uid;
  study[tags::kStudyDate] = r.study_date;
  study[tags::kStudyTime] = "101500";
  study[tags::kAccessionNumber] = r.accession;
  study[tags::kStudyDescription] = r.description;
  series[tags::kSeriesInstanceUid] = r.series_uid;
  series[tags::kModality] = r.modality;
  series[tags::kSeriesNumber] = "1";
  instance[tags::kSopInstanceUid] = r.sop_uid;
  instance[tags::kSopClassUid] = "1.2.840.10008.5.1.4.1.1.2";
  instance[tags::kInstanceNumber] = r.instance_number;
  rec.file_path = "f/" + r.sop_uid + ".dcm";
  rec.file_size = 10;
  rec.transfer_syntax_uid = "1.2.840.10008.1.2.1";
  return rec;
}

class PredicateIndex : public ::testing::Test {
 protected:
  void SetUp() override {
    index_ = std::make_unique<Index>(dir_.path() / "index.sqlite");
    const std::vector<Row> rows = {
        {"P1", "Müller^Hans", "1.1", "20240115", "A1", "1.1.1", "CT", "1.1.1.1", "1", "Thorax"},
        {"P1", "Müller^Hans", "1.1", "20240115", "A1", "1.1.1", "CT", "1.1.1.2", "2", "Thorax"},
        {"P1", "Müller^Hans", "1.1", "20240115", "A1", "1.1.2", "SR", "1.1.2.1", "1", "Thorax"},
        {"P2", "Doe^Jane", "2.1", "20230610", "A2", "2.1.1", "MR", "2.1.1.1", "10", "Head"},
        {"P3", "Smith^John", "3.1", "20221231", "B3", "3.1.1", "CT", "3.1.1.1", "7", "Abdomen"},
    };
    std::vector<InstanceRecord> records;
    for (const auto& r : rows) records.push_back(record(r));
    std::vector<const InstanceRecord*> pointers;
    for (const auto& r : records) pointers.push_back(&r);
    index_->store_instances(pointers, ossa::index::DuplicatePolicy::kOverwrite);
  }

  std::set<std::string> find(Table table, const std::string& predicate) {
    const uint32_t key = table == Table::kStudy    ? tags::kStudyInstanceUid
                         : table == Table::kSeries ? tags::kSeriesInstanceUid
                                                   : tags::kSopInstanceUid;
    std::set<std::string> out;
    for (const auto& m : index_->find_by_predicate(table, parse_predicate(predicate), 1000))
      out.insert(m.attributes.at(key));
    return out;
  }

  ossa::testing::TempDir dir_;
  std::unique_ptr<Index> index_;
};

using S = std::set<std::string>;

TEST_F(PredicateIndex, StudyTable) {
  EXPECT_EQ(find(Table::kStudy, "patientID == 'P1'"), S({"1.1"}));
  EXPECT_EQ(find(Table::kStudy, "patientID != 'P1'"), S({"2.1", "3.1"}));
  EXPECT_EQ(find(Table::kStudy, "accessionNumber IN {'A1', 'B3'}"), S({"1.1", "3.1"}));
  EXPECT_EQ(find(Table::kStudy, "name LIKE 'Doe*'"), S({"2.1"}));
  EXPECT_EQ(find(Table::kStudy, "name LIKE 'doe*'"), S());
  EXPECT_EQ(find(Table::kStudy, "name LIKE[c] 'doe*'"), S({"2.1"}));
  EXPECT_EQ(find(Table::kStudy, "name BEGINSWITH 'Muller'"), S());
  EXPECT_EQ(find(Table::kStudy, "name BEGINSWITH[d] 'Muller'"), S({"1.1"}));
  EXPECT_EQ(find(Table::kStudy, "name CONTAINS[cd] 'mull'"), S({"1.1"}));
  EXPECT_EQ(find(Table::kStudy, "name ENDSWITH 'John'"), S({"3.1"}));
  EXPECT_EQ(find(Table::kStudy, "studyName == 'Head' OR studyName == 'Abdomen'"),
            S({"2.1", "3.1"}));
  EXPECT_EQ(find(Table::kStudy, "numberOfImages >= 2"), S({"1.1"}));
  EXPECT_EQ(find(Table::kStudy, "numberOfImages < 2 AND NOT patientID == 'P3'"), S({"2.1"}));
  EXPECT_EQ(find(Table::kStudy, "date >= CAST(\"2023-01-01\", \"NSDate\")"), S({"1.1", "2.1"}));
  EXPECT_EQ(find(Table::kStudy, "date < '2023-01-01'"), S({"3.1"}));
  EXPECT_EQ(find(Table::kStudy, "date == '2024-01-15 10:15:00'"), S({"1.1"}));
  EXPECT_EQ(find(Table::kStudy, "date BETWEEN {'2023-06-01', '2023-06-30'}"), S({"2.1"}));
  EXPECT_EQ(find(Table::kStudy, "modality CONTAINS 'SR'"), S({"1.1"}));
  EXPECT_EQ(find(Table::kStudy, "ANY series.modality == 'CT'"), S({"1.1", "3.1"}));
  EXPECT_EQ(find(Table::kStudy, "images.instanceNumber == 10"), S({"2.1"}));
  EXPECT_EQ(find(Table::kStudy, "TRUEPREDICATE"), S({"1.1", "2.1", "3.1"}));
  EXPECT_EQ(find(Table::kStudy, "comment == nil"), S({"1.1", "2.1", "3.1"}));
  EXPECT_EQ(find(Table::kStudy, "patientID == \"x' OR '1'='1\""), S());
}

TEST_F(PredicateIndex, SeriesAndImageTables) {
  EXPECT_EQ(find(Table::kSeries, "study.patientID == 'P1'"), S({"1.1.1", "1.1.2"}));
  EXPECT_EQ(find(Table::kSeries, "modality == 'CT' AND study.date > '2023-01-01'"), S({"1.1.1"}));
  EXPECT_EQ(find(Table::kSeries, "numberOfImages == 2"), S({"1.1.1"}));
  EXPECT_EQ(find(Table::kSeries, "seriesDICOMUID == '2.1.1'"), S({"2.1.1"}));
  EXPECT_EQ(find(Table::kImage, "instanceNumber > 1 AND series.modality == 'CT'"),
            S({"1.1.1.2", "3.1.1.1"}));
  EXPECT_EQ(find(Table::kImage, "instanceNumber IN {1, 10}"), S({"1.1.1.1", "1.1.2.1", "2.1.1.1"}));
  EXPECT_EQ(find(Table::kImage, "study.patientID == 'P2'"), S({"2.1.1.1"}));
  EXPECT_EQ(find(Table::kImage, "series.study.accessionNumber BEGINSWITH 'B'"), S({"3.1.1.1"}));
}

TEST_F(PredicateIndex, MatchesCarryWhatOsirixReports) {
  const auto matches =
      index_->find_by_predicate(Table::kStudy, parse_predicate("patientID == 'P1'"), 10);
  ASSERT_EQ(matches.size(), 1u);
  const auto& a = matches[0].attributes;
  EXPECT_EQ(a.at(tags::kModalitiesInStudy), "CT\\SR");
  EXPECT_EQ(a.at(tags::kNumberOfStudyRelatedInstances), "3");
  EXPECT_EQ(a.at(tags::kPatientName), "Müller^Hans");
  EXPECT_EQ(matches[0].date_added.size(), 14u);
  const auto images = index_->find_by_predicate(Table::kImage, parse_predicate("TRUEPREDICATE"), 2);
  ASSERT_EQ(images.size(), 2u);  // the limit holds
  EXPECT_EQ(images[0].file_path, "f/1.1.1.1.dcm");
}

}  // namespace
