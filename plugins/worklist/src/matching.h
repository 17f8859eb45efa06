#pragma once
// C-FIND matching for worklist entries (PS3.4 C.2.2.2 as Annex K uses it), on UTF-8 text:
// universal (empty or "*"), single value, wildcard (* and ?), UID list, date and time ranges.
// An entry without a value for a non-universal key does not match (PS3.4 K.2.2.1.1).
// Person names match case-insensitively (ASCII letters), everything else case-sensitively.

#include <string>

namespace ossa::worklist {

enum class MatchKind {
  kText,        // single value or wildcard, case-sensitive
  kPersonName,  // single value or wildcard, case-insensitive
  kDate,        // DA: single date or range "a-b", "-b", "a-"
  kTime,        // TM: single time or range; precision as given
  kUidList,     // UI: one UID or several joined by '\' (any may match)
};

// How `keyword` is matched (by its VR in the attributes the worklist holds).
MatchKind match_kind(const std::string& keyword);

// `*` = any run (also empty), `?` = exactly one character (one UTF-8 code point).
bool wildcard_match(const std::string& pattern, const std::string& value, bool ignore_case);

// Whether a stored `value` (several values joined by '\': any may match) matches the query `key`.
bool value_matches(MatchKind kind, const std::string& key, const std::string& value);

// Whether `key` asks for nothing (zero length, or only "*").
bool is_universal(const std::string& key);

}  // namespace ossa::worklist
