#pragma once
// Attribute matching of PS3.4 C.2.2.2, on UTF-8 values, independent of storage. The index uses the
// same Condition both to build indexed SQL (on its columns) and, through `matches`, to evaluate any
// other stored attribute, so both paths follow one definition.

#include <cstdint>
#include <string>
#include <vector>

#include "index/levels.h"

namespace ossa::index {

// How a value is compared, derived from the attribute's VR by the DICOM layer.
enum class ValueKind {
  kText,        // AE CS LO LT SH ST UC UR UT: case-sensitive, wildcards allowed
  kPersonName,  // PN: case-insensitive, wildcards, any component group may match
  kDate,        // DA: single value or range
  kTime,        // TM: single value or range, matched by meaning (1030 == 103000)
  kDateTime,    // DT: single value or range
  kUid,         // UI: single value or a list of UIDs
  kOther,       // IS DS AS US UL SS SL FL FD AT ...: single value only
};

enum class MatchKind { kUniversal, kSingle, kWildcard, kRange, kUidList };

struct Condition {
  uint32_t tag = 0;
  Level level = Level::kInstance;
  ValueKind kind = ValueKind::kText;
  MatchKind match = MatchKind::kUniversal;
  std::string value;              // the key value, trimmed (uppercased for person names)
  std::string lower, upper;       // kRange and dates/times: inclusive normalised bounds ("" = open)
  std::vector<std::string> uids;  // kUidList: UIDs, or the values of a multi-valued text key
  bool valid = true;              // false: a date/time key that is not a date/time (bad query)
};

// Classifies a key value per C.2.2.2: empty or "*" is universal; '*'/'?' in a text VR is a
// wildcard; '-' in a DA/TM/DT is a range; '\' in a UI (or a text key without wildcards) is a list
// of alternatives; anything else a single value.
Condition make_condition(uint32_t tag, Level level, ValueKind kind, const std::string& key_value);

// True when `stored` (UTF-8, values joined by '\') matches. A multi-valued stored attribute
// matches when any of its values does (C.2.2.3).
bool matches(const Condition& condition, const std::string& stored);

// DICOM wildcard match ('*' any sequence, '?' exactly one character), on UTF-8 code points.
bool wildcard_match(const std::string& pattern, const std::string& text);

// Normalised forms used for storage and comparison: dates "YYYYMMDD", times "HHMMSS.ffffff",
// date-times "YYYYMMDDHHMMSS.ffffff" (offsets dropped). `upper` pads a partial value to the end of
// the period it names (time "18" -> "185959.999999"), otherwise to its start. Empty on bad input.
std::string normalize_date(const std::string& value);
std::string normalize_time(const std::string& value, bool upper = false);
std::string normalize_datetime(const std::string& value, bool upper = false);

// Unicode-aware upper case of UTF-8 text (for case-insensitive person names).
std::string uppercase_utf8(const std::string& text);

// Leading and trailing spaces removed (DICOM pads values with spaces).
std::string trim(const std::string& text);

// The literal prefix of a wildcard pattern (up to the first '*' or '?').
std::string literal_prefix(const std::string& pattern);
// The smallest string greater than every string starting with `prefix` ("" when there is none).
std::string prefix_successor(const std::string& prefix);
// The pattern in SQLite GLOB syntax ('[' escaped; '*' and '?' mean the same as in DICOM).
std::string to_glob(const std::string& pattern);

}  // namespace ossa::index
