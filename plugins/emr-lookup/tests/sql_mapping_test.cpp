#include "sql_mapping.h"

#include <gtest/gtest.h>

namespace ossa::emr {
namespace {

TEST(SqlMapping, MapsTheFourColumns) {
  const Demographics d = map_sql_row({std::string("DOE^JANE "), std::string("1970-04-05"),
                                      std::string("female"), std::string("{A1,\"B 2\",NULL,A1}")});
  EXPECT_EQ(d.patient_name, "DOE^JANE");
  EXPECT_EQ(d.birth_date, "19700405");
  EXPECT_EQ(d.sex, "F");
  EXPECT_EQ(d.other_ids, (std::vector<std::string>{"A1", "B 2"}));
}

TEST(SqlMapping, NullsAndUnfitValuesAreNotCoerced) {
  const Demographics d =
      map_sql_row({std::nullopt, std::string("1970"), std::string("U"), std::nullopt});
  EXPECT_TRUE(d.empty());
  EXPECT_EQ(map_sql_row({std::nullopt, std::string("19700405"), std::string("m"), std::nullopt})
                .birth_date,
            "19700405");
}

TEST(SqlMapping, SplitsArraysAndBackslashLists) {
  EXPECT_EQ(split_ids("X1\\X2\\\\X3"), (std::vector<std::string>{"X1", "X2", "X3"}));
  EXPECT_EQ(split_ids("{}"), std::vector<std::string>{});
  EXPECT_EQ(split_ids(R"({"a,b","c\"d","NULL"})"),
            (std::vector<std::string>{"a,b", "c\"d", "NULL"}));
}

}  // namespace
}  // namespace ossa::emr
