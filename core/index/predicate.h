#pragma once
// OsiriX-style database predicates (the `request` of XML-RPC DBWindowFind) as a syntax tree, and
// their evaluation against the index. The parser (NSPredicate text -> Expr) lives in xmlrpc/; the
// translation to SQL (the SQLite backend's dialect, core/index/sqlite_predicate_query.cpp) is
// declared here, behind a whitelist of OsiriX attribute names: every key maps to a fixed column or
// JSON attribute, and every value is bound as a parameter, never spliced into SQL.

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "index/levels.h"

namespace ossa::index::predicate {

// A constant of the predicate.
struct Literal {
  enum class Kind { kString, kNumber, kDate, kNull, kBool };
  Kind kind = Kind::kString;
  std::string text;   // kString: the value; kNumber: as written; kDate: "YYYYMMDDHHMMSS" (UTC)
  double number = 0;  // kNumber, kBool (1/0)
};

enum class Op {
  kEqual,
  kNotEqual,
  kLess,
  kLessEqual,
  kGreater,
  kGreaterEqual,
  kLike,  // '*' any run of characters, '?' one character
  kContains,
  kBeginsWith,
  kEndsWith,
  kIn,  // key IN {a, b, ...}
};

struct Expr {
  enum class Kind { kAnd, kOr, kNot, kCompare, kTrue, kFalse };
  Kind kind = Kind::kTrue;
  std::vector<Expr> children;  // kAnd / kOr: two or more; kNot: one
  // kCompare: `key op values` (the parser puts the key on the left).
  std::string key;  // key path as written, e.g. "patientID", "study.patientID", "series.modality"
  Op op = Op::kEqual;
  bool case_insensitive = false;       // [c]
  bool diacritic_insensitive = false;  // [d]
  std::vector<Literal> values;         // one; several for kIn
  size_t position = 0;                 // 1-based offset of the comparison in the text (errors)
};

// The entity a predicate selects (OsiriX's `table`).
enum class Table { kStudy, kSeries, kImage };

Level level_of(Table table);
const char* to_string(Table table);  // "Study", "Series", "Image"

// A predicate that names an unknown key, or compares a key with a value of the wrong kind.
class PredicateError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One bound value of the generated SQL.
struct SqlParam {
  bool is_int = false;
  std::string text;
  int64_t integer = 0;
};

struct SqlCondition {
  std::string sql;  // a boolean SQL expression over the aliases p, st, se, i
  std::vector<SqlParam> params;
};

// Translates `expr` for `table` (throws PredicateError). Exposed for tests.
SqlCondition translate(const Expr& expr, Table table);

// The OsiriX attribute names a table's predicates may use (for error messages and docs).
std::vector<std::string> known_keys(Table table);

// Converts the date forms predicates use to "YYYYMMDDHHMMSS" (UTC): "2024-01-31", "2024-01-31
// 10:22:11", "2024-01-31T10:22:11", NSDate's description "2024-01-31 10:22:11 +0000" (the offset is
// applied), "20240131", "20240131102211". nullopt when the text is none of these.
std::optional<std::string> canonical_date(const std::string& text);
// An NSDate given as seconds since 2001-01-01 00:00:00 UTC (CAST(n, "NSDate")).
std::string canonical_date_from_reference_seconds(double seconds);

// One entity a predicate matched, with what OsiriX reports about it.
struct PredicateMatch {
  Attributes attributes;   // the entity's level and the levels above, plus counts (as find())
  std::string date_added;  // "YYYYMMDDHHMMSS": when its first instance arrived
  std::string file_path;   // kImage: the instance's file, relative to the storage root
};

}  // namespace ossa::index::predicate
