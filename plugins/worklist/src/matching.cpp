#include "matching.h"

#include <cctype>
#include <vector>

namespace ossa::worklist {
namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t end = text.find(separator, start);
    parts.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return parts;
    start = end + 1;
  }
}

std::string trim(const std::string& text) {
  const size_t first = text.find_first_not_of(' ');
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(' ') - first + 1);
}

char fold(char c, bool ignore_case) {
  return ignore_case ? static_cast<char>(std::tolower(static_cast<unsigned char>(c))) : c;
}

// The length of the UTF-8 sequence starting at `text[at]` (1 for a stray byte).
size_t code_point_length(const std::string& text, size_t at) {
  const auto lead = static_cast<unsigned char>(text[at]);
  size_t length = lead < 0x80         ? 1
                  : lead >> 5 == 0x6  ? 2
                  : lead >> 4 == 0xE  ? 3
                  : lead >> 3 == 0x1E ? 4
                                      : 1;
  return at + length <= text.size() ? length : 1;
}

// "HHMMSS.ffffff" or "HH:MM:SS" (old style) to digits only, without the fraction.
std::string time_digits(const std::string& time) {
  std::string digits;
  for (char c : time) {
    if (c == '.') break;
    if (std::isdigit(static_cast<unsigned char>(c))) digits += c;
  }
  return digits;
}

// Lower and upper bound of a time written with the precision given ("08" = 08:00:00..08:59:59).
std::string time_low(const std::string& time) {
  std::string d = time_digits(time).substr(0, 6);
  while (d.size() < 6) d += '0';
  return d;
}
std::string time_high(const std::string& time) {
  std::string d = time_digits(time).substr(0, 6);
  static const char kMax[] = "235959";
  while (d.size() < 6) d += kMax[d.size()];
  return d;
}

std::string date_digits(const std::string& date) {
  std::string digits;
  for (char c : date) {
    if (std::isdigit(static_cast<unsigned char>(c))) digits += c;  // also "2026.01.02" (old style)
  }
  return digits;
}

bool range_matches(const std::string& key, const std::string& value, bool is_time) {
  const std::string v_low = is_time ? time_low(value) : date_digits(value);
  const std::string v_high = is_time ? time_high(value) : v_low;
  if (v_low.empty()) return false;
  const size_t dash = key.find('-');
  if (dash == std::string::npos) {
    if (!is_time) return date_digits(key) == v_low;
    // A single time names a span of its precision: "10" matches 10:00:00 to 10:59:59.
    return v_low >= time_low(key) && v_high <= time_high(key);
  }
  const std::string from = trim(key.substr(0, dash)), to = trim(key.substr(dash + 1));
  if (!from.empty() && v_high < (is_time ? time_low(from) : date_digits(from))) return false;
  if (!to.empty() && v_low > (is_time ? time_high(to) : date_digits(to))) return false;
  return true;
}

}  // namespace

MatchKind match_kind(const std::string& keyword) {
  if (keyword == "PatientName" || ends_with(keyword, "PhysicianName") ||
      keyword == "RequestingPhysician" || keyword == "NamesOfIntendedRecipientsOfResults" ||
      keyword == "PatientMotherBirthName" || keyword == "OtherPatientNames")
    return MatchKind::kPersonName;
  if (ends_with(keyword, "Date")) return MatchKind::kDate;
  if (ends_with(keyword, "Time")) return MatchKind::kTime;
  if (ends_with(keyword, "UID")) return MatchKind::kUidList;
  return MatchKind::kText;
}

bool wildcard_match(const std::string& pattern, const std::string& value, bool ignore_case) {
  // Iterative glob with backtracking to the last '*': linear in practice, no recursion.
  size_t p = 0, v = 0, star = std::string::npos, resume = 0;
  while (v < value.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = v;
    } else if (p < pattern.size() && pattern[p] == '?') {
      ++p;
      v += code_point_length(value, v);
    } else if (p < pattern.size() && fold(pattern[p], ignore_case) == fold(value[v], ignore_case)) {
      ++p;
      ++v;
    } else if (star != std::string::npos) {
      p = star + 1;
      resume += code_point_length(value, resume);
      v = resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool is_universal(const std::string& key) {
  const std::string k = trim(key);
  return k.empty() || k.find_first_not_of('*') == std::string::npos;
}

bool value_matches(MatchKind kind, const std::string& key, const std::string& value) {
  if (is_universal(key)) return true;
  for (const std::string& raw : split(value, '\\')) {
    const std::string v = trim(raw);
    if (v.empty()) continue;
    switch (kind) {
      case MatchKind::kDate:
        if (range_matches(trim(key), v, false)) return true;
        break;
      case MatchKind::kTime:
        if (range_matches(trim(key), v, true)) return true;
        break;
      case MatchKind::kUidList:
        for (const std::string& uid : split(key, '\\')) {
          if (trim(uid) == v) return true;
        }
        break;
      case MatchKind::kPersonName:
      case MatchKind::kText: {
        std::string pattern = trim(key);
        const bool ignore_case = kind == MatchKind::kPersonName;
        // Trailing empty PN components are insignificant: "DOE^JOHN^^" is "DOE^JOHN".
        if (ignore_case) {
          while (!pattern.empty() && pattern.back() == '^') pattern.pop_back();
        }
        std::string stored = v;
        if (ignore_case) {
          while (!stored.empty() && stored.back() == '^') stored.pop_back();
        }
        if (wildcard_match(pattern, stored, ignore_case)) return true;
        break;
      }
    }
  }
  return false;
}

}  // namespace ossa::worklist
