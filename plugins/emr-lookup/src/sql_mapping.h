#pragma once
// One row of the configured SQL query -> DICOM demographics. Pure functions: no database.
//
// Expected columns (by name; any may be left out, NULL means "not known"):
//   name        text: the DICOM PN as is, e.g. 'DOE^JANE^M^DR' (Family^Given^Middle^Prefix^Suffix)
//   birth_date  date, or text 'YYYY-MM-DD' / 'YYYYMMDD'
//   sex         text: M, F, O (or male, female, other; any case)
//   other_ids   text[] (e.g. ARRAY['A1','B2']), or text with the IDs separated by '\'
// Values that do not fit (a partial date, sex 'U') are not coerced.

#include <optional>
#include <string>
#include <vector>

#include "demographics.h"

namespace ossa::emr {

struct SqlRow {
  std::optional<std::string> name, birth_date, sex, other_ids;
};

Demographics map_sql_row(const SqlRow& row);

// The elements of a PostgreSQL array in its text form ({a,"b c",NULL}); NULL elements are left
// out. A value that is not an array literal is split on '\' instead.
std::vector<std::string> split_ids(const std::string& text);

}  // namespace ossa::emr
